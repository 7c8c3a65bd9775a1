"""The ledger reaches its event store only through the EventStore its factory provides."""

from __future__ import annotations

import pytest

from domain.handlers.event_store import EventStoreUnsupportedError
from domain.ledger import APPLIED, LossLedger
from infrastructure.eventstore.store import ApplicationEventStore
from tests.support.ledgers import line

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
OPEN_ALICE = line({"type": "open_account", "id": "a-1", "account": "alice"})


def test_a_persistence_module_without_the_ledgers_event_store_is_refused_by_name() -> None:
    with pytest.raises(EventStoreUnsupportedError, match="POPOFactory does not provide"):
        LossLedger(env=POPO)


def test_any_eventsourcing_store_serves_through_the_application_event_store() -> None:
    ledger = LossLedger(env=POPO, event_store=ApplicationEventStore)
    assert ledger.store.existing([]) is None  # no bulk look-up there: each id is loaded alone
    assert ledger.store.chain_head() is None  # and no audit chain
    assert ledger.execute_batch([OPEN_ALICE]) == [APPLIED]
    assert ledger.execute_batch([OPEN_ALICE]) == ["already applied"]
    assert ledger.store.save_seconds > 0


def test_evicting_an_aggregate_makes_its_next_load_read_the_store() -> None:
    ledger = LossLedger(env=POPO, event_store=ApplicationEventStore)
    ledger.execute_batch([OPEN_ALICE])
    cached = [key for key in ledger.repository.cache.cache]  # type: ignore[union-attr]
    assert cached and all(ledger.store.is_cached(key) for key in cached)
    ledger.store.evict(cached[:1])
    assert not ledger.store.is_cached(cached[0])
    ledger.store.evict_all()
    assert not any(ledger.store.is_cached(key) for key in cached)

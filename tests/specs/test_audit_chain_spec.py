"""The audit chain: an untouched store verifies; any edit of the stored log is found."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder

from domain.queries.cycle_report import load_cycle
from infrastructure.audit.verify import Verification, verify
from infrastructure.eventstore import postgres
from infrastructure.eventstore.database_url import Database
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import LedgerFactory, SpecLedger, run
from tests.support.scenarios import three_winners_and_a_crash
from tests.support.tampering import Store

PLACES = 8  # random positions tried for each kind of tampering


def verified(ledger: SpecLedger) -> Verification:
    return verify(ledger.recorder)  # type: ignore[arg-type]


class AuditChainSpec:
    def test_an_untouched_store_verifies_to_its_head(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash())
        result = verified(ledger)
        head = ledger.recorder.chain_head()  # type: ignore[attr-defined]
        assert result.ok
        assert (result.events, result.head_position, result.head_hash) == (
            head[0],
            head[0],
            head[1].hex(),
        )

    def test_verifying_from_a_position_checks_the_rest(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash())
        total = verified(ledger).events
        partial = verify(ledger.recorder, start=20)  # type: ignore[arg-type]
        assert partial.ok
        assert partial.events == total - 19

    def test_an_updated_event_is_found_at_its_position(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        store = Store(database)
        for position in random.Random(1).sample(store.positions(), PLACES):
            original = bytes(store.row(position)[3])
            store.update_state(position, original.replace(b'"', b"'", 1))
            result = verified(ledger)
            assert (result.ok, result.first_bad_position) == (False, position)
            assert "does not match its chain hash" in (result.reason or "")
            store.update_state(position, original)
        assert verified(ledger).ok

    def test_a_deleted_event_is_found_at_its_position(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        store = Store(database)
        for position in random.Random(2).sample(store.positions(), PLACES):
            original = store.row(position)
            store.delete(position)
            result = verified(ledger)
            assert (result.ok, result.first_bad_position) == (False, position)
            assert "deleted" in (result.reason or "")
            store.insert(position, original)
        assert verified(ledger).ok

    def test_an_inserted_event_is_found(self, ledger: SpecLedger, database: Database) -> None:
        run(ledger, *three_winners_and_a_crash())
        store = Store(database)
        last = store.positions()[-1]
        for position in random.Random(3).sample(store.positions(), PLACES):
            forged = store.row(position)
            forged = (forged[0], 10_000 + position, forged[2], forged[3])
            store.insert(last + position, forged)
            result = verified(ledger)
            assert (result.ok, result.first_bad_position) == (False, last + position)
            assert "inserted" in (result.reason or "")
            store.delete(last + position)
        assert verified(ledger).ok

    def test_two_swapped_events_are_found_at_the_first(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        store = Store(database)
        chooser = random.Random(4)
        for _ in range(PLACES):
            first, second = sorted(chooser.sample(store.positions(), 2))
            store.swap(first, second)
            result = verified(ledger)
            assert (result.ok, result.first_bad_position) == (False, first)
            store.swap(first, second)
        assert verified(ledger).ok

    def test_a_settlement_pins_the_chain_head_before_it(self, open_ledger: LedgerFactory) -> None:
        ledger = open_ledger()
        run(ledger, *three_winners_and_a_crash()[:-1])
        head_before = ledger.recorder.chain_head()  # type: ignore[attr-defined]
        run(ledger, three_winners_and_a_crash()[-1])
        summary = load_cycle(open_ledger(), "c1").settlement
        assert summary is not None
        assert summary["chain_anchor"] == {"position": head_before[0], "hash": head_before[1].hex()}


class TestAuditChainOnSQLite(AuditChainSpec, OnSQLite):
    pass


class TestAuditChainOnPostgreSQL(AuditChainSpec, OnPostgreSQL):
    """A save is inserted INSERT_CHUNK events a statement (a 1M settlement in one statement is
    a bind message PostgreSQL refuses): the chain and the atomicity must not notice."""

    def test_a_save_of_many_chunks_is_chained_and_numbered_as_one(
        self, ledger: SpecLedger, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        statements: list[int] = []
        insert = PostgresAggregateRecorder._insert_stored_events

        def counted(self: Any, curs: Any, stored_events: Any, **kwargs: Any) -> None:
            statements.append(len(stored_events))
            insert(self, curs, stored_events, **kwargs)

        monkeypatch.setattr(postgres, "INSERT_CHUNK", 4)
        monkeypatch.setattr(PostgresAggregateRecorder, "_insert_stored_events", counted)
        run(ledger, *three_winners_and_a_crash())
        positions = Store(database).positions()
        assert max(statements) == 4 and sum(statements) == len(positions)
        assert statements.count(4) > 2  # saves of more than one chunk happened
        assert positions == list(range(1, len(positions) + 1))
        assert verified(ledger).ok

    def test_a_failing_chunk_rolls_back_the_chunks_before_it(
        self, ledger: SpecLedger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        recorder: Any = ledger.recorder
        head = recorder.chain_head()
        taken = recorder.select_notifications(start=1, limit=1)[0]
        fresh = [StoredEvent(uuid.uuid4(), 1, "spec:Fresh", b"{}") for _ in range(6)]
        duplicate = StoredEvent(taken.originator_id, taken.originator_version, "spec:Dup", b"{}")
        monkeypatch.setattr(postgres, "INSERT_CHUNK", 4)
        with pytest.raises(RecordConflictError):  # the second statement meets a stored event
            recorder.insert_events([*fresh, duplicate])
        assert recorder.existing_originators([e.originator_id for e in fresh]) == set()
        assert recorder.chain_head() == head
        assert verified(ledger).ok

"""A recorder's `chain_page(after, limit)` is the first `limit` rows `chained_rows(after + 1)`
yields, as raw tuples: every position of either table, an event without its chain row or a
chain row without its event included, on a store untouched or tampered with."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from itertools import islice
from typing import Any

import pytest

from infrastructure.eventstore import postgres, sqlite
from infrastructure.eventstore.database_url import Database
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import SpecLedger, run
from tests.support.restoring import kept
from tests.support.scenarios import three_winners_and_a_crash
from tests.support.tampering import Store

PAGE = 3  # chained_rows()' page here: its pages cross every boundary of the ones asked for


def untouched(store: Store) -> None:
    pass


def event_deleted(store: Store) -> None:
    store.delete(store.positions()[20])


def events_deleted_at_the_ends(store: Store) -> None:
    positions = store.positions()
    store.delete(positions[0])
    store.delete(positions[-1])


def event_inserted_after_a_gap(store: Store) -> None:
    positions = store.positions()
    forged = store.row(positions[3])
    store.insert(positions[-1] + 3, (forged[0], 10_000, forged[2], forged[3]))


def chain_row_deleted(store: Store) -> None:
    store.sql(f"DELETE FROM {store.chain} WHERE position = ?", (store.positions()[11],))


def deleted_and_inserted(store: Store) -> None:
    """As many chain rows without an event as events without a chain row."""
    event_deleted(store)
    chain_row_deleted(store)


STORES = [
    untouched,
    event_deleted,
    events_deleted_at_the_ends,
    event_inserted_after_a_gap,
    chain_row_deleted,
    deleted_and_inserted,
]


class ChainPageSpec:
    @pytest.mark.parametrize("tamper", STORES, ids=lambda tamper: tamper.__name__)
    def test_a_page_is_what_chained_rows_yields_from_there(
        self,
        ledger: SpecLedger,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
        tamper: Callable[[Store], None],
    ) -> None:
        monkeypatch.setattr(sqlite, "PAGE", PAGE)
        monkeypatch.setattr(postgres, "PAGE", PAGE)
        run(ledger, *three_winners_and_a_crash())
        recorder: Any = ledger.recorder
        store = Store(database)
        positions = store.positions()
        with kept(store):
            tamper(store)
            for after in (0, 1, positions[10], positions[19], positions[-2], positions[-1] + 5):
                for limit in (1, PAGE, 7, 1000):
                    raw = recorder.chain_page(after, limit)
                    rows = list(islice(recorder.chained_rows(after + 1), limit))
                    assert [r[0] for r in raw] == [row.position for row in rows]
                    for r, row in zip(raw, rows, strict=True):
                        assert r[5] == row.chain_hash
                        if row.event is None:
                            assert r[1:5] == (None, None, None, None)
                            continue
                        assert r[1] == uuid.UUID(str(row.event.originator_id)).hex
                        assert (r[2], r[3], r[4]) == (
                            row.event.originator_version,
                            row.event.topic,
                            row.event.state,
                        )


class TestChainPageOnSQLite(ChainPageSpec, OnSQLite):
    pass


class TestChainPageOnPostgreSQL(ChainPageSpec, OnPostgreSQL):
    pass

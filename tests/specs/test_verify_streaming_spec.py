"""`verify` streams the log a page of raw rows at a time (the recorders' `chain_page`) and
hashes them without an object per event. It says what the row-by-row walk it replaced says
(tests/support/reference_verify.py): the same Verification, or the same error, for a store
untouched or tampered in any way a person with database rights can, from any position, with
pages of any size."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infrastructure.audit import verify as verify_module
from infrastructure.audit.verify import SETTLED_TOPIC, verify
from infrastructure.eventstore import postgres, sqlite
from infrastructure.eventstore.chain import PAGE
from infrastructure.eventstore.database_url import Database
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import SpecLedger, run
from tests.support.reference_verify import reference_verify
from tests.support.restoring import kept, rewrite_chain_from
from tests.support.scenarios import three_winners_and_a_crash
from tests.support.tampering import Store

Outcome = Any  # a Verification, or (exception type name, message)


def outcome(check: Callable[[Any, int], Any], recorder: Any, start: int) -> Outcome:
    try:
        return check(recorder, start)
    except Exception as error:
        return type(error).__name__, str(error)


def starts_for(store: Store) -> list[int]:
    positions = store.positions()
    middle, last = positions[len(positions) // 2], positions[-1]
    return sorted({1, 2, middle, middle + 1, settled_position(store), last, last + 1, last + 7})


def settled_position(store: Store) -> int:
    return int(
        store.sql(f"SELECT {store.position} FROM {store.events} WHERE topic = ?", (SETTLED_TOPIC,))[
            0
        ][0]
    )


def both_say(ledger: SpecLedger, starts: list[int]) -> list[Outcome]:
    """verify() and the reference agree from every start; what they said."""
    said = []
    for start in starts:
        ours = outcome(verify, ledger.recorder, start)
        theirs = outcome(reference_verify, ledger.recorder, start)
        assert ours == theirs, f"from {start}"
        said.append(ours)
    return said


def set_state(store: Store, position: int, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(bytes(store.row(position)[3]))
    change(document)
    store.update_state(position, json.dumps(document).encode())


def anchor_of(store: Store) -> int:
    state = json.loads(bytes(store.row(settled_position(store))[3]))
    return int(state["summary"]["chain_anchor"]["position"])


# Tamperings of both backends: (name, what it does to the store).
Tamper = Callable[[Store], None]


def _update(store: Store) -> None:
    position = store.positions()[7]
    store.update_state(position, bytes(store.row(position)[3]).replace(b'"', b"'", 1))


def _delete_first(store: Store) -> None:
    store.delete(store.positions()[0])


def _delete_middle(store: Store) -> None:
    store.delete(store.positions()[20])


def _delete_last(store: Store) -> None:
    store.delete(store.positions()[-1])


def _delete_chain_row(store: Store) -> None:
    store.sql(f"DELETE FROM {store.chain} WHERE position = ?", (store.positions()[11],))


def _insert_after_last(store: Store) -> None:
    positions = store.positions()
    forged = store.row(positions[3])
    store.insert(positions[-1] + 3, (forged[0], 10_000, forged[2], forged[3]))


def _swap(store: Store) -> None:
    positions = store.positions()
    store.swap(positions[5], positions[-6])


def _anchored_rewrite(store: Store) -> None:
    anchor = anchor_of(store)
    store.update_state(anchor, bytes(store.row(anchor)[3]).replace(b'"', b"'", 1))
    rewrite_chain_from(store, anchor)


def _unreadable_anchor(store: Store) -> None:
    settled = settled_position(store)
    set_state(store, settled, lambda d: d["summary"].pop("chain_anchor"))
    rewrite_chain_from(store, settled)


def _anchor_ahead(store: Store) -> None:
    settled = settled_position(store)

    def ahead(document: dict[str, Any]) -> None:
        document["summary"]["chain_anchor"]["position"] = settled + 1

    set_state(store, settled, ahead)
    rewrite_chain_from(store, settled)


def _anchor_on_itself(store: Store) -> None:
    settled = settled_position(store)

    def itself(document: dict[str, Any]) -> None:
        document["summary"]["chain_anchor"]["position"] = settled

    set_state(store, settled, itself)
    rewrite_chain_from(store, settled)


def _topic_rewritten(store: Store) -> None:
    position = store.positions()[9]
    store.sql(
        f"UPDATE {store.events} SET topic = ? WHERE {store.position} = ?", ("théma:Ü", position)
    )
    rewrite_chain_from(store, position)


def _shortened_hash(store: Store) -> None:
    position = store.positions()[13]
    store.sql(
        f"UPDATE {store.chain} SET chain_hash = ? WHERE position = ?", (b"\x01" * 31, position)
    )


def _version_bumped(store: Store) -> None:
    position = store.positions()[17]
    store.sql(
        f"UPDATE {store.events} SET originator_version = originator_version + 1000 "
        f"WHERE {store.position} = ?",
        (position,),
    )


BOTH: list[Tamper] = [
    _update,
    _delete_first,
    _delete_middle,
    _delete_last,
    _delete_chain_row,
    _insert_after_last,
    _swap,
    _anchored_rewrite,
    _unreadable_anchor,
    _anchor_ahead,
    _anchor_on_itself,
    _topic_rewritten,
    _shortened_hash,
    _version_bumped,
]


def _raw(statement: str, rewrite: bool = False, at: int = 15) -> Tamper:
    """A SQLite UPDATE of one row by SQL (`?` is its position: the `at`th), then, if asked,
    the chain rewritten from there over the row as the reference reads it."""

    def tamper(store: Store) -> None:
        position = store.positions()[at]
        store.sql(statement.format(events=store.events), (position,))
        if rewrite:
            rewrite_chain_from(store, position)

    tamper.__name__ = f"{statement} at {at}{' (rewritten)' if rewrite else ''}"
    return tamper


# SQLite keeps any type in any column: values the reference reads, converts or fails on.
SQLITE_ONLY: list[Tamper] = [
    _raw("UPDATE {events} SET originator_id = upper(originator_id) WHERE rowid = ?"),
    _raw(
        "UPDATE {events} SET originator_id = substr(originator_id, 1, 8) || '-' || "
        "substr(originator_id, 9, 4) || '-' || substr(originator_id, 13, 4) || '-' || "
        "substr(originator_id, 17, 4) || '-' || substr(originator_id, 21) WHERE rowid = ?"
    ),
    _raw("UPDATE {events} SET originator_id = CAST(originator_id AS BLOB) WHERE rowid = ?"),
    _raw("UPDATE {events} SET originator_id = ' ' || substr(originator_id, 2) WHERE rowid = ?"),
    _raw(
        "UPDATE {events} SET originator_id = ' ' || substr(originator_id, 2) WHERE rowid = ?",
        rewrite=True,
    ),
    _raw(
        "UPDATE {events} SET originator_id = substr(originator_id, 1, 30) || ' ' || "
        "substr(originator_id, 31) WHERE rowid = ?"
    ),
    _raw("UPDATE {events} SET originator_id = NULL WHERE rowid = ?"),
    _raw("UPDATE {events} SET originator_version = 'x' WHERE rowid = ?"),
    _raw("UPDATE {events} SET originator_version = 2.5 WHERE rowid = ?"),
    _raw("UPDATE {events} SET originator_version = -1 WHERE rowid = ?"),
    _raw("UPDATE {events} SET topic = CAST(topic AS BLOB) WHERE rowid = ?"),
    _raw("UPDATE {events} SET topic = CAST(topic AS BLOB) WHERE rowid = ?", rewrite=True),
    _raw("UPDATE {events} SET topic = NULL WHERE rowid = ?", rewrite=True),
    _raw("UPDATE {events} SET topic = CAST(X'ff' AS TEXT) WHERE rowid = ?"),
    _raw("UPDATE {events} SET state = CAST(state AS TEXT) WHERE rowid = ?"),
    _raw("UPDATE {events} SET state = NULL WHERE rowid = ?"),
    _raw("UPDATE {events} SET state = 7 WHERE rowid = ?"),
    _raw("UPDATE {events}_chain SET chain_hash = hex(chain_hash) WHERE position = ?"),
    _raw("UPDATE {events}_chain SET chain_hash = 32 WHERE position = ?"),
    # after the settlement, a rewritten chain verifies wherever the reference reads the row
    _raw("UPDATE {events} SET originator_id = upper(originator_id) WHERE rowid = ?", at=-1),
    _raw(
        "UPDATE {events} SET originator_id = ' ' || substr(originator_id, 2) WHERE rowid = ?",
        rewrite=True,
        at=-1,
    ),
    _raw(
        "UPDATE {events} SET originator_id = '{{' || originator_id || '}}' WHERE rowid = ?",
        rewrite=True,
        at=-2,
    ),
    _raw("UPDATE {events} SET topic = NULL WHERE rowid = ?", rewrite=True, at=-1),
    _raw("UPDATE {events} SET topic = CAST(topic AS BLOB) WHERE rowid = ?", rewrite=True, at=-1),
    _raw("UPDATE {events} SET originator_version = 2.5 WHERE rowid = ?", rewrite=True, at=-1),
    _raw("UPDATE {events} SET state = CAST(state AS TEXT) WHERE rowid = ?", rewrite=True, at=-1),
]


class StreamingVerifySpec:
    @pytest.fixture(params=[2, 3, None], ids=["pages-of-2", "pages-of-3", "pages-as-shipped"])
    def page(self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
        """chained_rows()' page, and verify's as many times it as shipped: small ones cross
        every boundary."""
        size: int = request.param or PAGE
        monkeypatch.setattr(sqlite, "PAGE", size)
        monkeypatch.setattr(postgres, "PAGE", size)
        monkeypatch.setattr(verify_module, "STREAM_PAGE", verify_module.STREAM_PAGE // PAGE * size)
        return size

    @pytest.fixture
    def store(self, ledger: SpecLedger, database: Database) -> Store:
        run(ledger, *three_winners_and_a_crash())
        return Store(database)

    def test_an_untouched_store_verifies_alike_from_anywhere(
        self, ledger: SpecLedger, store: Store, page: int
    ) -> None:
        said = both_say(ledger, starts_for(store))
        assert said[0].ok and said[0].events == len(store.positions())

    @pytest.mark.parametrize("tamper", BOTH, ids=lambda t: t.__name__.strip("_"))
    def test_a_tampered_store_gives_the_same_verdict(
        self, ledger: SpecLedger, store: Store, page: int, tamper: Tamper
    ) -> None:
        starts = starts_for(store)
        with kept(store):
            tamper(store)
            said = both_say(ledger, starts)
        assert not said[0].ok
        assert both_say(ledger, starts)[0].ok

    def test_the_pages_after_one_read_row_by_row_are_streamed(
        self, ledger: SpecLedger, store: Store, page: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A page the streaming check does not accept is read again as ChainedRows, exactly
        its rows; the next page is streamed from the last of them."""
        recorder: Any = ledger.recorder
        asked: list[int] = []
        chain_page = recorder.chain_page

        def counted(after: int, limit: int) -> Any:
            asked.append(after)
            return chain_page(after, limit)

        checked = verify_module._Walk.page
        calls: list[int] = []

        def rejecting_the_first(walk: Any, rows: Any) -> bool:
            calls.append(len(rows))
            return False if len(calls) == 1 else checked(walk, rows)

        monkeypatch.setattr(recorder, "chain_page", counted)
        monkeypatch.setattr(verify_module._Walk, "page", rejecting_the_first)
        assert verify(recorder) == reference_verify(recorder)
        positions, stream = store.positions(), verify_module.STREAM_PAGE
        assert asked == [0, *positions[stream - 1 :: stream]]


class TestStreamingVerifyOnSQLite(StreamingVerifySpec, OnSQLite):
    @pytest.mark.parametrize("tamper", SQLITE_ONLY, ids=lambda t: t.__name__)
    def test_a_value_of_another_type_gives_the_same_verdict(
        self, ledger: SpecLedger, store: Store, page: int, tamper: Tamper
    ) -> None:
        positions = store.positions()
        # from the tampered rows too: the rows read to find where to start include them
        starts = sorted({*starts_for(store), *positions[15:17], *positions[-2:]})
        with kept(store):
            tamper(store)
            both_say(ledger, starts)
        assert both_say(ledger, starts)[0].ok


class TestStreamingVerifyOnPostgreSQL(StreamingVerifySpec, OnPostgreSQL):
    pass

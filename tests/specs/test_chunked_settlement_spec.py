"""Specifications of the settlement recorded in chunks, on both backends.

A settlement records its booking rows and LossShared rows in chunk events of the cycle, cut at
account boundaries, and writes no event per account: an account's balances after it follow
from its rows, applied when it is next loaded. These specs cut a small market into chunks of
two rows, so that every property of the cut shows, and hold it to the same market settled in
one chunk.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.core import settlement_rows
from domain.core.ids import cycle_id
from domain.cycles import Cycle
from domain.handlers import settlement
from domain.handlers.marking import booking_rows
from domain.queries.account_rows import account_settlement
from domain.queries.cycle_report import cycle_document
from domain.queries.explain import explain
from domain.queries.replay import replay_cycle
from tests.support.books import check_books
from tests.support.databases import OnPostgreSQL, OnSQLite, fresh_database
from tests.support.ledgers import (
    LedgerFactory,
    SpecLedger,
    command,
    get_account,
    market,
    open_test_ledger,
    run,
    stored_events,
)

TRADERS = ["ann", "bob", "cy", "dee", "eve", "fay", "gus"]


def position(account: str, contract: str, side: str, size: str, margin: str) -> dict[str, Any]:
    return command(
        "open_position",
        account=account,
        contract=contract,
        side=side,
        size=size,
        price="100",
        margin=margin,
    )


def two_contract_market() -> list[dict[str, Any]]:
    """Seven traders in BTCUSDT and ETHUSDT (some in both, so that an account of two rows meets
    a chunk boundary); ann's long of 10 BTCUSDT (margin 100, bankrupt at 90) is liquidated at
    90.4 and passed on at 80: a deficit of 100. Settled at 80 in BTCUSDT and 110 in ETHUSDT."""
    return [
        *market(TRADERS, deposit="1000"),
        command("fund_deposit", amount="50"),
        command("open_cycle", cycle="c1", marks={"BTCUSDT": "100", "ETHUSDT": "100"}),
        position("ann", "BTCUSDT", "long", "10", "100"),
        position("bob", "BTCUSDT", "short", "4", "100"),
        position("bob", "ETHUSDT", "long", "2", "50"),
        position("cy", "BTCUSDT", "short", "3", "100"),
        position("dee", "ETHUSDT", "short", "5", "100"),
        position("eve", "BTCUSDT", "short", "3", "100"),
        position("eve", "ETHUSDT", "long", "1", "30"),
        position("fay", "ETHUSDT", "long", "3", "60"),
        position("gus", "BTCUSDT", "long", "1", "20"),
        position("gus", "ETHUSDT", "short", "1", "20"),
        command(
            "liquidate",
            account="ann",
            contract="BTCUSDT",
            mark="90.4",
            fills=[{"price": "80", "size": "10"}],
        ),
    ]


SETTLE = command("settle_cycle", cycle="c1", marks={"BTCUSDT": "80", "ETHUSDT": "110"})


def chunk_events(ledger: SpecLedger) -> list[Any]:
    return [
        e
        for e in stored_events(ledger)
        if type(e).__qualname__ in ("Cycle.PositionsSettled", "Cycle.LossShared")
    ]


def figures(ledger: SpecLedger) -> dict[str, Any]:
    """What a settlement leaves: the cycle document and every account's balances."""
    accounts = {
        name: (account.cash, account.margin, account.positions)
        for name in TRADERS
        if (account := get_account(ledger, name))
    }
    return {"document": cycle_document(ledger, "c1"), "accounts": accounts}


def booked_chunks(ledger: SpecLedger) -> list[Any]:
    return [e for e in chunk_events(ledger) if type(e).__qualname__ == "Cycle.PositionsSettled"]


class ChunkedSettlementSpec:
    backend: str

    def test_chunks_of_two_rows_settle_as_one_chunk_does(
        self, ledger: SpecLedger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given the market settled in one chunk on a store of its own
        with fresh_database(self.backend) as database:
            whole = open_test_ledger(database.env)
            run(whole, *two_contract_market(), SETTLE)
            expected = figures(whole)
            assert [type(e).__qualname__ for e in chunk_events(whole)] == [
                "Cycle.PositionsSettled",
                "Cycle.LossShared",
            ]
            whole.close()
        # When the same market is settled in chunks of two rows
        monkeypatch.setattr(settlement_rows, "CHUNK_ROWS", 2)
        run(ledger, *two_contract_market(), SETTLE)
        # Then the document, the digest and every account's balances are the same
        assert figures(ledger) == expected
        check_books(ledger, TRADERS)
        assert replay_cycle(ledger, "c1").differences == []
        # And each chunk holds 2 rows, or 3 where the 2nd row is not its account's last (the
        # rows: ann, bob x 2, cy, dee, eve x 2, fay, gus x 2): no account's rows are split,
        # and the chunks run in account order
        accounts = [[row[0] for row in e.rows] for e in booked_chunks(ledger)]
        assert accounts == [
            ["ann", "bob", "bob"],
            ["cy", "dee"],
            ["eve", "eve"],
            ["fay", "gus", "gus"],
        ]
        names = [name for chunk in accounts for name in dict.fromkeys(chunk)]
        assert names == sorted(set(names))
        assert [(e.first, e.last) for e in booked_chunks(ledger)] == [
            (chunk[0], chunk[-1]) for chunk in accounts
        ]
        # And each LossShared chunk follows the booking chunk of its accounts
        events = chunk_events(ledger)
        for booked, shared in itertools.pairwise(events):
            if type(shared).__qualname__ == "Cycle.LossShared":
                assert type(booked).__qualname__ == "Cycle.PositionsSettled"
                assert {row[0] for row in shared.rows} <= {row[0] for row in booked.rows}

    def test_a_settlement_writes_no_event_per_account(
        self, ledger: SpecLedger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given the market settled in chunks of two rows
        monkeypatch.setattr(settlement_rows, "CHUNK_ROWS", 2)
        run(ledger, *two_contract_market())
        before = len(stored_events(ledger))
        run(ledger, SETTLE)
        # Then the settlement wrote its chunks and the cycle's, fund's and registry's events,
        # none of any account
        written = [type(e).__qualname__ for e in stored_events(ledger)[before:]]
        assert not [name for name in written if name.startswith("Account.")]
        assert written.count("Cycle.PositionsSettled") == 4
        # And bob's rows say what the settlement did to him: BTCUSDT short 4 from 100 to 80
        # books 80 and ETHUSDT long 2 from 100 to 110 books 20; the 100 of deficit, less the
        # fund's 20 % (10 of a fund of 50), is shared by the winners
        settled = account_settlement(ledger, "c1", "bob")
        assert settled is not None
        assert [(b["contract"], b["profit"]) for b in settled.bookings] == [
            ("BTCUSDT", Decimal("80")),
            ("ETHUSDT", Decimal("20")),
        ]
        assert all("#" in reference for reference in settled.references)

    def test_an_account_takes_its_rows_when_a_command_next_changes_it(
        self, ledger: SpecLedger, open_ledger: LedgerFactory
    ) -> None:
        # Given the market settled, and bob's balances as a fresh process reads them
        run(ledger, *two_contract_market(), SETTLE)
        bob = get_account(open_ledger(), "bob")
        cash = bob.cash
        assert bob.book_state == "settled" and not bob.positions.get("BTCUSDT", {}).get("realized")
        # When bob withdraws 1
        run(ledger, command("withdraw", account="bob", amount="1"))
        # Then the withdrawal is stored after one RowsApplied citing bob's booking and
        # LossShared rows, and is taken
        # from the balance the settlement left
        events = [e for e in stored_events(ledger) if getattr(e, "originator_id", None) == bob.id]
        names = [type(e).__qualname__ for e in events]
        assert names[-2:] == ["Account.RowsApplied", "Account.Withdrawn"]
        settled = account_settlement(ledger, "c1", "bob")
        assert settled is not None
        assert events[-2].rows == settled.references
        assert events[-1].cash_after == cash - 1
        # And a second withdrawal applies nothing again
        run(ledger, command("withdraw", account="bob", amount="1"))
        names = [type(e).__qualname__ for e in stored_events(ledger) if e.originator_id == bob.id]
        assert names.count("Account.RowsApplied") == 1
        check_books(ledger, TRADERS)

    def test_carried_positions_open_the_next_cycle_from_the_opening_rows(
        self, ledger: SpecLedger, open_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given c1 settled in chunks of two rows, and c2 opened at other marks
        monkeypatch.setattr(settlement_rows, "CHUNK_ROWS", 2)
        run(ledger, *two_contract_market(), SETTLE)
        marks = {"BTCUSDT": "78", "ETHUSDT": "115"}
        run(ledger, command("open_cycle", cycle="c2", marks=marks))
        # Then c2 records the carried positions as opening rows, cut as the bookings are, and
        # no account event
        c2 = open_ledger().unit.find(cycle_id("c2"), Cycle)
        assert c2 is not None and len(c2.opening_chunks) > 1
        assert not [
            e
            for e in stored_events(ledger)
            if type(e).__qualname__ == "Account.CarriedPositionsMarked"
        ]
        # And a carried position measures from the opening mark with the gap in its margin:
        # bob's ETHUSDT long 2 was carried at 110 with margin 50 + 20 booked - 6.4 of share
        # (S = 80 over the five selected profits 80 + 60 + 60 + 30 + 20 = 250: 80 x 20 / 250),
        # and opens c2 with 63.6 + 2 x (115 - 110) = 73.6
        bob = get_account(open_ledger(), "bob")
        assert bob.book_cycle == "c2"
        assert bob.positions["ETHUSDT"]["reference"] == Decimal("115")
        assert bob.positions["ETHUSDT"]["margin"] == Decimal("73.6")
        check_books(open_ledger(), TRADERS)
        # When c2 trades and settles
        run(
            ledger,
            position("ann", "BTCUSDT", "long", "1", "10"),
            command("close_position", account="fay", contract="ETHUSDT", size="1", price="120"),
            command("settle_cycle", cycle="c2", marks=marks),
        )
        # Then both cycles replay from their records, and explain cites chunk rows
        for cycle in ("c1", "c2"):
            assert replay_cycle(open_ledger(), cycle).differences == []
        explained = explain(open_ledger(), "fay", "c2")
        assert any("#" in ref for step in explained["steps"] for ref in step["events"])
        check_books(open_ledger(), TRADERS)

    def test_a_settlement_conflicts_with_a_write_after_it_read_the_log(
        self, ledger: SpecLedger, open_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given the market, and another writer that opens a position the moment this
        # settlement has read the cycle's log
        run(ledger, *two_contract_market())
        other = open_ledger()
        read = booking_rows  # what settle_cycle calls once it has read the cycle's log

        def another_writer_appends(*args: Any) -> Any:
            monkeypatch.setattr(settlement, "booking_rows", read)
            run(other, position("fay", "BTCUSDT", "short", "1", "20"))
            return read(*args)

        monkeypatch.setattr(settlement, "booking_rows", another_writer_appends)
        # When the settlement is saved, it conflicts, and nothing of it is stored
        with pytest.raises(RecordConflictError):
            run(ledger, SETTLE)
        assert not chunk_events(ledger)
        # Then settled again, it books fay's new short: 1 x (100 - 80) = 20 more profit
        run(ledger, SETTLE)
        settled = account_settlement(ledger, "c1", "fay")
        assert settled is not None
        assert [b["contract"] for b in settled.bookings] == ["BTCUSDT", "ETHUSDT"]
        assert replay_cycle(ledger, "c1").differences == []


class TestChunkedSettlementOnSQLite(ChunkedSettlementSpec, OnSQLite):
    pass


class TestChunkedSettlementOnPostgreSQL(ChunkedSettlementSpec, OnPostgreSQL):
    pass

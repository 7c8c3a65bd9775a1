"""Specifications of the command interface (SPEC 7): idempotency, refusals, business time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from domain.core.errors import (
    AmountNotInQuantaError,
    ConflictingCommandIdError,
    CycleNotOpenError,
    InsufficientAvailableBalanceError,
    InvalidCommandError,
    NoOpenCycleError,
    PolicyError,
    PositionNotLiquidatableError,
    UnknownAccountError,
)
from domain.cycles import Cycle
from domain.queries.cycle_report import cycle_document
from infrastructure.apply.runner import apply_file
from tests.support.books import check_books
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import (
    Document,
    SpecLedger,
    btc_liquidation,
    btc_position,
    command,
    event_count,
    get_account,
    market,
    refusal,
    run,
    sqlite_test_ledger,
    stored_events,
    write_commands,
)
from tests.support.scenarios import three_winners_and_a_crash


def open_btc_cycle(cycle: str = "c1", mark: str = "100") -> Document:
    return command("open_cycle", cycle=cycle, marks={"BTCUSDT": mark})


def alice_realizes_200_of_profit() -> list[Document]:
    """alice shorts 10 @ 100 with margin 100 and closes at 80: +200 realized in cycle c1."""
    return [
        *market(["alice"], deposit="1000"),
        open_btc_cycle(),
        btc_position("alice", "short", "10", "100"),
        command("close_position", account="alice", contract="BTCUSDT", size="10", price="80"),
    ]


class CommandsSpec:
    """The command interface (SPEC 7), on every backend."""

    def test_a_command_applied_twice_changes_nothing(self, ledger: SpecLedger) -> None:
        deposit = command("deposit", account="alice", amount="250")
        run(ledger, command("open_account", account="alice"), deposit)
        events_before = event_count(ledger)
        assert run(ledger, deposit) == ["already applied"]
        assert event_count(ledger) == events_before

    def test_an_id_reused_with_different_content_is_refused(self, ledger: SpecLedger) -> None:
        run(
            ledger,
            command("open_account", account="alice"),
            command("deposit", id="d-1", account="alice", amount="250"),
        )
        events_before = event_count(ledger)
        error = refusal(ledger, command("deposit", id="d-1", account="alice", amount="251"))
        assert isinstance(error, ConflictingCommandIdError)
        assert "d-1" in str(error)
        assert event_count(ledger) == events_before

    def test_key_order_does_not_make_a_command_different(self, ledger: SpecLedger) -> None:
        run(ledger, command("open_account", account="alice"))
        first = '{"type":"deposit","id":"d-1","account":"alice","amount":"5"}'
        second = '{"amount":"5","account":"alice","id":"d-1","type":"deposit"}'
        assert ledger.execute_batch([first, second]) == ["applied", "already applied"]

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            (
                '{"type":"deposit","id":"d","account":"alice","amount":10}',
                "numbers must be strings",
            ),
            (
                '{"type":"deposit","id":"d","account":"alice","amount":10.5}',
                "numbers must be strings",
            ),
            ('{"type":"deposit","id":"d","account":"alice","amount":NaN}', "NaN is not allowed"),
            ('{"type":"deposit","id":"d","account":"alice","amount":"NaN"}', "plain decimal"),
            ('{"type":"deposit","id":"d","account":"alice","amount":"1e999999"}', "plain decimal"),
            ('{"type":"deposit","id":"d","account":"alice"}', "missing field amount"),
            (
                '{"type":"deposit","id":"d","account":"alice","amount":"1","x":"1"}',
                "unknown field x",
            ),
            (
                '{"type":"deposit","id":"d","id":"e","account":"alice","amount":"1"}',
                "duplicated key",
            ),
            ('{"type":"teleport","id":"d"}', "unknown command type"),
            ('{"type":"deposit","id":"d","account":"alice","amount":"1"', "not valid JSON"),
        ],
    )
    def test_malformed_commands_are_refused_with_the_reason(
        self, ledger: SpecLedger, text: str, reason: str
    ) -> None:
        run(ledger, command("open_account", account="alice"))
        events_before = event_count(ledger)
        with pytest.raises(InvalidCommandError, match=reason):
            ledger.execute_batch([text])
        assert event_count(ledger) == events_before

    def test_an_amount_finer_than_the_quantum_is_refused_not_rounded(
        self, ledger: SpecLedger
    ) -> None:
        run(ledger, command("open_account", account="alice"))
        error = refusal(ledger, command("deposit", account="alice", amount="1.000000001"))
        assert isinstance(error, AmountNotInQuantaError)

    def test_a_deposit_to_an_account_never_opened_is_refused(self, ledger: SpecLedger) -> None:
        assert isinstance(
            refusal(ledger, command("deposit", account="bob", amount="1")), UnknownAccountError
        )

    def test_a_withdrawal_cannot_take_withheld_cycle_profit(self, ledger: SpecLedger) -> None:
        # Given alice opened a short at 100 with margin 100 and closed it at 80: +200 realized
        run(
            ledger,
            *alice_realizes_200_of_profit(),
        )
        account = get_account(ledger, "alice")
        assert (account.cash, account.withheld, account.available) == (
            Decimal(1200),
            Decimal(200),
            Decimal(1000),
        )
        # When she withdraws one quantum more than her own money, it is refused
        error = refusal(ledger, command("withdraw", account="alice", amount="1000.00000001"))
        assert isinstance(error, InsufficientAvailableBalanceError)
        assert "withheld" in str(error)
        # and exactly her own money is allowed
        run(ledger, command("withdraw", account="alice", amount="1000"))

    def test_withheld_profit_is_released_when_the_cycle_settles(self, ledger: SpecLedger) -> None:
        run(
            ledger,
            *alice_realizes_200_of_profit(),
            command("settle_cycle", cycle="c1", marks={"BTCUSDT": "80"}),
            command("withdraw", account="alice", amount="1200"),
        )
        account = get_account(ledger, "alice")
        assert account.cash == 0

    def test_a_position_that_still_holds_its_margin_is_not_liquidated(
        self, ledger: SpecLedger
    ) -> None:
        # Given a long 10 @ 100 with margin 100: at mark 90.5, 100 - 95 = 5 > 0.005 x 10 x 90.5
        run(
            ledger,
            *market(["alice"]),
            open_btc_cycle(),
            btc_position("alice", "long", "10", "100"),
        )
        events_before = event_count(ledger)
        error = refusal(
            ledger,
            btc_liquidation("alice", "90.5", [{"price": "80", "size": "10"}]),
        )
        assert isinstance(error, PositionNotLiquidatableError)
        assert "not liquidatable" in str(error)
        assert event_count(ledger) == events_before
        # and at 90.45 it is: 100 - 95.5 = 4.5 <= 0.005 x 10 x 90.45 = 4.5225
        run(
            ledger,
            btc_liquidation("alice", "90.45", [{"price": "80", "size": "10"}]),
        )

    def test_a_position_needs_an_open_cycle(self, ledger: SpecLedger) -> None:
        run(ledger, *market(["alice"]))
        error = refusal(
            ledger,
            btc_position("alice", "long", "1", "10"),
        )
        assert isinstance(error, NoOpenCycleError)

    def test_commands_without_a_time_take_the_business_clock(self, ledger: SpecLedger) -> None:
        with freeze_time("2026-11-21 08:00:00"):
            run(ledger, command("open_account", account="alice"))
        run(ledger, command("open_account", account="bob", at="2026-11-20T23:59:59Z"))
        times = [event.at for event in stored_events(ledger) if hasattr(event, "at")]
        assert times == ["2026-11-21T08:00:00Z", "2026-11-20T23:59:59Z"]

    def test_a_policy_change_applies_from_the_next_cycle(self, ledger: SpecLedger) -> None:
        run(
            ledger,
            *market(["alice"]),
            open_btc_cycle("c1"),
            command("set_policy", fund_share="0.5"),
            command("settle_cycle", cycle="c1", marks={"BTCUSDT": "100"}),
            open_btc_cycle("c2"),
            command("settle_cycle", cycle="c2", marks={"BTCUSDT": "100"}),
        )
        assert cycle_document(ledger, "c1")["policy"]["fund_share"] == "0.2"
        assert cycle_document(ledger, "c2")["policy"]["fund_share"] == "0.5"

    def test_apply_stops_at_the_first_refusal_and_keeps_what_came_before(
        self, ledger: SpecLedger, tmp_path: Path
    ) -> None:
        path = tmp_path / "commands.jsonl"
        documents = [
            command("open_account", id="a-1", account="alice"),
            command("deposit", id="d-1", account="alice", amount="10"),
            command("withdraw", id="w-1", account="alice", amount="11"),
            command("deposit", id="d-2", account="alice", amount="10"),
        ]
        result = apply_file(ledger, write_commands(path, documents))
        assert (result.refused_line, result.refused_id, result.applied) == (3, "w-1", 2)
        assert result.reason is not None and "exceeds the available balance" in result.reason
        account = get_account(ledger, "alice")
        assert account.cash == 10

    def test_a_carried_position_is_measured_from_the_next_cycles_opening_mark(
        self,
        ledger: SpecLedger,
    ) -> None:
        # Given a short carried from c1 (settled at 90) into c2, which opens at 92
        run(
            ledger,
            *market(["alice", "bob"]),
            open_btc_cycle("c1"),
            btc_position("alice", "short", "1", "10"),
            command("settle_cycle", cycle="c1", marks={"BTCUSDT": "90"}),
            command("open_cycle", cycle="c2", marks={"BTCUSDT": "92"}),
            command("settle_cycle", cycle="c2", marks={"BTCUSDT": "85"}),
        )
        # Then c1's profit is 10, c2's is 92 - 85 = 7, and the gap 90 -> 92 was booked in between
        c2 = cycle_document(ledger, "c2")
        assert c2["total_profit"] == "7.00000000"
        account = get_account(ledger, "alice")
        # Every booking went into the isolated margin: 10 + 10 (c1) - 2 (gap) + 7 (c2)
        assert (account.cash, account.margin) == (Decimal(10_000 - 10), Decimal(10 + 10 - 2 + 7))

    def test_a_cycle_cannot_be_settled_twice(self, ledger: SpecLedger) -> None:
        run(ledger, open_btc_cycle("c1"), command("settle_cycle", cycle="c1", marks={}))
        error = refusal(ledger, command("settle_cycle", cycle="c1", marks={}))
        assert "already settled" in str(error)

    def test_a_refusal_on_a_new_ledger_writes_nothing(self, ledger: SpecLedger) -> None:
        # Given a ledger that has seen only one account opened (no registry yet)
        run(ledger, command("open_account", account="alice"))
        events_before = event_count(ledger)
        # When commands that need a cycle arrive, each is refused cleanly and nothing is written
        for document in (
            btc_position("alice", "long", "1", "10"),
            command("settle_cycle", cycle="c1", marks={}),
        ):
            assert isinstance(refusal(ledger, document), NoOpenCycleError | CycleNotOpenError)
        assert event_count(ledger) == events_before

    def test_a_carried_position_liquidated_later_costs_exactly_its_margin(
        self, ledger: SpecLedger
    ) -> None:
        # Given alice's long 1 @ 100 (margin 10) settled at 110: its margin now holds 20
        run(
            ledger,
            *market(["alice"]),
            open_btc_cycle("c1"),
            btc_position("alice", "long", "1", "10"),
            command("settle_cycle", cycle="c1", marks={"BTCUSDT": "110"}),
            open_btc_cycle("c2", mark="110"),
        )
        # When the mark falls to 90.4 (20 - 19.6 = 0.4 <= 0.452) and the takeover fills at 85
        run(
            ledger,
            btc_liquidation("alice", "90.4", [{"price": "85", "size": "1"}]),
        )
        # Then the bankruptcy price is still 100 - 10 = 110 - 20 = 90, the deficit is 5,
        # and alice loses her margin, nothing more: her cash is what she did not put up
        account = get_account(ledger, "alice")
        assert (account.cash, account.margin) == (Decimal(9990), Decimal(0))
        assert cycle_document(ledger, "c2")["deficit"] == "5.00000000"

    def test_a_margin_driven_below_zero_at_settlement_is_made_whole_from_cash(
        self,
        ledger: SpecLedger,
    ) -> None:
        # Given a long 1 @ 100 with margin 10 that nobody liquidated, settled at 85
        run(
            ledger,
            *market(["alice"]),
            open_btc_cycle(),
            btc_position("alice", "long", "1", "10"),
            command("settle_cycle", cycle="c1", marks={"BTCUSDT": "85"}),
        )
        # Then the loss of 15 empties the margin and takes the other 5 from cash
        account = get_account(ledger, "alice")
        assert (account.cash, account.margin) == (Decimal(9985), Decimal(0))


class TestCommandsOnSQLite(CommandsSpec, OnSQLite):
    pass


class TestCommandsOnPostgreSQL(CommandsSpec, OnPostgreSQL):
    pass


def test_a_settlement_that_fails_midway_leaves_nothing_behind_for_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a settlement that breaks after it has recorded part of its events (a bug, a lost
    # connection), in a process that goes on and retries it
    ledger = sqlite_test_ledger(tmp_path / "l.db")
    documents = three_winners_and_a_crash()
    run(ledger, *documents[:-1])
    original = Cycle.record_settled
    failures = iter([RuntimeError("the connection was lost")])

    def breaks_once(self: Cycle, **kwargs: Any) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        original(self, **kwargs)

    monkeypatch.setattr(Cycle, "record_settled", breaks_once)
    with pytest.raises(RuntimeError):
        run(ledger, documents[-1])
    # When the same process settles again
    run(ledger, documents[-1])
    # Then the settlement is booked once: one fund draw, one share each, balanced books
    events = stored_events(ledger)
    names = [type(e).__qualname__ for e in events]
    assert names.count("InsuranceFund.FundDrawn") == 1
    assert sum(len(e.rows) for e in events if type(e).__qualname__ == "Cycle.LossShared") == 3
    books = check_books(ledger, ["L", "W1", "W2", "W3"])
    assert books["insurance_fund"] == Decimal(80)
    assert books.get("clearing", Decimal(0)) == 0


def test_the_quantum_cannot_change_once_a_cycle_has_opened(tmp_path: Path) -> None:
    ledger = sqlite_test_ledger(tmp_path / "l.db")
    run(
        ledger,
        command("set_policy", quantum="0.01"),
        command("open_cycle", cycle="c1", marks={"BTCUSDT": "100"}),
    )
    error = refusal(ledger, command("set_policy", quantum="0.0001"))
    assert isinstance(error, PolicyError)
    assert "a cycle opened" in str(error)

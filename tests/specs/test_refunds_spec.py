"""Refunds of a cycle's shares: compensating events, pro rata, the shares' rounding."""

from __future__ import annotations

from decimal import Decimal

from domain.core.errors import CycleNotOpenError
from domain.handlers.refunds import RefundExceedsSharedError, refund_allocations
from domain.queries.cycle_report import cycle_document, replay_cycle
from infrastructure.eventstore.database_url import Database
from infrastructure.readmodels.queries import account_history
from infrastructure.readmodels.runner import ReadModels
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import SpecLedger, command, event_count, get_account, refusal, run
from tests.support.scenarios import three_winners_and_a_crash

QUANTUM = Decimal("0.00000001")


def test_a_refund_is_split_pro_rata_to_the_shares() -> None:
    # 40 of 80: half of each share
    shares = [Decimal(32), Decimal(24), Decimal(24)]
    assert refund_allocations(shares, Decimal(40), QUANTUM) == [16, 12, 12]


def test_a_refund_quantum_goes_to_the_largest_remainder_ties_to_the_better_ranked() -> None:
    # one quantum: exact parts 0.3, 0.4, 0.3 quanta -> all floor to 0; the quantum goes to 0.4
    shares = [Decimal(24), Decimal(32), Decimal(24)]
    assert refund_allocations(shares, QUANTUM, QUANTUM) == [0, QUANTUM, 0]
    equal = [Decimal(10), Decimal(10), Decimal(10)]
    assert refund_allocations(equal, QUANTUM, QUANTUM) == [QUANTUM, 0, 0]


def test_repeated_refunds_never_return_more_than_a_share() -> None:
    # two participants with one quantum each; a first refund of one quantum goes to rank 1
    first = refund_allocations([QUANTUM, QUANTUM], QUANTUM, QUANTUM)
    assert first == [QUANTUM, 0]
    # the next refund is pro rata to what is still owed: rank 2 gets it, not rank 1 again
    owed = [QUANTUM - first[0], QUANTUM - first[1]]
    assert refund_allocations(owed, QUANTUM, QUANTUM) == [0, QUANTUM]


class RefundsSpec:
    def test_a_refund_returns_cash_and_leaves_the_settlement_untouched(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        digest_before = cycle_document(ledger, "c1")["digest"]
        cash_before = get_account(ledger, "W1").cash
        run(ledger, command("refund_cycle", cycle="c1", amount="40", reason="recovered"))
        document = cycle_document(ledger, "c1")
        assert document["digest"] == digest_before
        assert (document["refunded"], document["refunds"][0]["reason"]) == (
            "40.00000000",
            "recovered",
        )
        assert get_account(ledger, "W1").cash == cash_before + 16
        assert replay_cycle(ledger, "c1").differences == []
        models = ReadModels(ledger, database)
        models.catch_up()
        refunds = [
            e for e in account_history(models.engine, "W2")["entries"] if e["type"] == "refund"
        ]
        assert [(e["amount"], e["cycle"]) for e in refunds] == [("12.00000000", "c1")]

    def test_refunds_never_return_more_than_was_collected(self, ledger: SpecLedger) -> None:
        run(
            ledger,
            *three_winners_and_a_crash(),
            command("refund_cycle", cycle="c1", amount="50", reason="first part"),
        )
        events_before = event_count(ledger)
        error = refusal(
            ledger, command("refund_cycle", cycle="c1", amount="30.00000001", reason="too much")
        )
        assert isinstance(error, RefundExceedsSharedError)
        assert event_count(ledger) == events_before
        run(ledger, command("refund_cycle", cycle="c1", amount="30", reason="the rest"))
        assert cycle_document(ledger, "c1")["refunded"] == "80.00000000"

    def test_an_open_cycle_cannot_be_refunded(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash()[:-1])
        error = refusal(ledger, command("refund_cycle", cycle="c1", amount="1", reason="early"))
        assert isinstance(error, CycleNotOpenError)
        assert "not settled" in str(error)


class TestRefundsOnSQLite(RefundsSpec, OnSQLite):
    pass


class TestRefundsOnPostgreSQL(RefundsSpec, OnPostgreSQL):
    pass

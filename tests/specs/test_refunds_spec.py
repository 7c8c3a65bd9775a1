"""Refunds of a settled cycle: compensating events that leave the settlement untouched; the split
itself is tests/unit/test_refund_allocations.py."""

from __future__ import annotations

from domain.core.errors import CycleNotOpenError
from domain.handlers.refunds import RefundExceedsSharedError
from domain.queries.cycle_report import cycle_document
from domain.queries.replay import replay_cycle
from infrastructure.eventstore.database_url import Database
from infrastructure.readmodels.queries import account_history
from infrastructure.readmodels.runner import ReadModels
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import SpecLedger, command, event_count, get_account, refusal, run
from tests.support.scenarios import three_winners_and_a_crash


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

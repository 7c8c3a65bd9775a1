"""`explain`: the hand-computed numbers of the worked example, and every reason not to bear."""

from __future__ import annotations

from typing import Any

import pytest

from domain.queries.explain import NotAParticipantError, explain
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import SpecLedger, btc_position, command, market, run
from tests.support.scenarios import a_liquidated_trader_reenters, three_winners_and_a_crash


def texts(document: dict[str, Any]) -> str:
    return "\n".join(step["text"] for step in document["steps"])


def equal_winners() -> list[dict[str, Any]]:
    """W1's short is 3 like the others: three profits of 60 share 80, 26.666... each."""
    documents = three_winners_and_a_crash()
    for document in documents:
        if document["type"] == "open_position" and document["account"] == "W1":
            document["size"] = "3"
    return documents


class ExplainSpec:
    def test_the_worked_example_is_explained_with_its_numbers(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash())
        document = explain(ledger, "W1", "c1")
        text = texts(document)
        assert document["share"] == "32.00000000"
        assert "The cycle's deficit was 100.00000000" in text
        assert "The insurance fund bore 20.00000000 = min(round_down(100.00000000 x 0.2)" in text
        assert "leaving 80.00000000 to share" in text
        assert "0.9 x 200.00000000 = 180, reached at rank 3" in text
        assert "4 x (80 - 100) x -1 = 80.00000000" in text
        assert (
            "ranked 1 of 3, selected. Share = 80.00000000 x 80.00000000 / 200.00000000 = 32" in text
        )
        assert all(step["events"] for step in document["steps"])
        assert document["positions"][0]["rank"] == 1

    def test_a_remainder_quantum_is_named_where_it_went(self, ledger: SpecLedger) -> None:
        run(ledger, *equal_winners())
        first, last = explain(ledger, "W1", "c1"), explain(ledger, "W3", "c1")
        # 80 x 60 / 180 = 26.666...: floors 26.66666666 x 3 leave 2 quanta, to ranks 1 and 2
        assert first["share"] == "26.66666667"
        assert "plus one remainder quantum (0.00000001)" in texts(first)
        assert last["share"] == "26.66666666"
        assert "no remainder quantum" in texts(last)

    def test_a_liquidated_position_is_told_why_it_bore_nothing(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash())
        document = explain(ledger, "L", "c1")
        assert (document["share"], document["participated"]) == ("0.00000000", False)
        assert "liquidated in the cycle" in texts(document)

    def test_a_small_profit_below_the_cutoff_is_told_so(self, ledger: SpecLedger) -> None:
        documents = three_winners_and_a_crash()
        documents[-1:-1] = [
            *market(["S"]),
            btc_position("S", "short", "0.1", "10"),
        ]
        run(ledger, *documents)
        document = explain(ledger, "S", "c1")
        assert "ranked 4 of 4, below the selection (which stopped at rank 3)" in texts(document)
        assert document["share"] == "0.00000000"

    def test_a_position_without_profit_is_told_so(self, ledger: SpecLedger) -> None:
        documents = three_winners_and_a_crash()
        documents[-1:-1] = [*market(["M"]), btc_position("M", "long", "1", "10")]
        run(ledger, *documents)
        assert "no profit" in texts(explain(ledger, "M", "c1"))

    def test_an_extended_selection_says_why(self, ledger: SpecLedger) -> None:
        # deficit 400 (fill at 50) and a fund of 1 leave 399 to share; the cutoff (0.9 x 202)
        # is reached at rank 3 with 200, which cannot cover it: S's small profit is pulled in
        documents = three_winners_and_a_crash(fund="1", fill_price="50")
        documents[-1:-1] = [*market(["S"]), btc_position("S", "short", "0.1", "10")]
        run(ledger, *documents)
        text = texts(explain(ledger, "S", "c1"))
        assert "could not cover the 399.00000000 to share" in text
        assert "extended to rank 4" in text
        assert "ranked 4 of 4, selected" in text

    def test_an_account_outside_the_cycle_is_refused_clearly(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash(), command("open_account", account="X"))
        with pytest.raises(NotAParticipantError, match="held no position in cycle c1"):
            explain(ledger, "X", "c1")

    def test_a_reentered_position_is_explained_with_its_own_rank_and_share(
        self, ledger: SpecLedger
    ) -> None:
        # Given L liquidated in c1 after realizing 50, then short 5 @ 90 to the mark 80
        run(ledger, *a_liquidated_trader_reenters())
        document = explain(ledger, "L", "c1")
        text = texts(document)
        # Then the liquidated position is named and not ranked; its 50 realized is not in the
        # new position's profit, which is measured from the new entry price
        assert "the position liquidated in the cycle is not ranked" in text
        assert "50.00000000 realized by closes before the liquidation" in text
        assert (
            "the short of 5 opened afterwards made 50.00000000 in the cycle = 0.00000000 "
            "realized by closes + 5 x (80 - 90) x -1 = 50.00000000" in text
        )
        # And the new position's step names its rank and its share
        assert (
            "ranked 4 of 4, selected. Share = 40.00000000 x 50.00000000 / 250.00000000 = 8" in text
        )
        assert (document["share"], document["participated"]) == ("8.00000000", True)
        row = document["positions"][0]
        assert (row["rank"], row["profit"], row["realized"], row["liquidated"]) == (
            4,
            "50.00000000",
            "0.00000000",
            False,
        )
        assert row["realized_liquidated"] == "50.00000000"
        assert all(step["events"] for step in document["steps"])

    def test_a_liquidated_trader_who_does_not_reenter_is_told_why_it_bore_nothing(
        self, ledger: SpecLedger
    ) -> None:
        run(ledger, *a_liquidated_trader_reenters(reenter=False))
        document = explain(ledger, "L", "c1")
        assert (document["share"], document["participated"]) == ("0.00000000", False)
        assert "liquidated in the cycle, so it is not ranked and bears nothing" in texts(document)
        row = document["positions"][0]
        assert (row["rank"], row["realized"], row["liquidated"]) == (None, "50.00000000", True)
        assert "realized_liquidated" not in row


class TestExplainOnSQLite(ExplainSpec, OnSQLite):
    pass


class TestExplainOnPostgreSQL(ExplainSpec, OnPostgreSQL):
    pass

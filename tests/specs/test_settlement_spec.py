"""Specifications of a cycle from commands to settlement, on both backends."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from domain.core.errors import InsufficientAvailableBalanceError
from domain.core.postings import CLEARING, INSURANCE_FUND, PLATFORM
from domain.queries.account_rows import account_settlement
from domain.queries.cycle_report import cycle_document
from domain.queries.replay import replay_cycle
from tests.support.books import check_books
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import (
    LedgerFactory,
    SpecLedger,
    command,
    get_account,
    refusal,
    run,
)
from tests.support.scenarios import WINNERS, a_liquidated_trader_reenters, three_winners_and_a_crash


def spec_digest(document: dict[str, Any]) -> str:
    """SPEC 5's digest, computed here from the document's figures, not by the ledger's code."""
    fields = ("cycle", "deficit", "fund_drawn", "collected", "uncovered")
    canonical = {
        **{field: document[field] for field in fields},
        "participants": [
            [p["account"], p["contract"], p["profit"], p["share"]] for p in document["participants"]
        ],
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def settled_event(ledger: SpecLedger, account: str) -> Any:
    """The account's settlement of c1 as recorded: its booking rows and its shares."""
    found = account_settlement(ledger, "c1", account)
    assert found is not None, f"{account} booked nothing in c1"
    return found


class SettlementSpec:
    """A cycle from commands to settlement, on every backend."""

    def test_fund_bears_its_share_before_profits_are_touched(self, ledger: SpecLedger) -> None:
        # Given a deficit of 10 x (90 - 80) = 100 and a fund of 100
        run(ledger, *three_winners_and_a_crash())
        # When the cycle settles at 80, the winners made 80, 60 and 60
        document = cycle_document(ledger, "c1")
        # Then the fund bears 20 % of 100 and the winners share 80 pro rata: 32, 24, 24
        assert document["deficit"] == "100.00000000"
        assert document["fund_drawn"] == "20.00000000"
        assert document["collected"] == "80.00000000"
        assert document["uncovered"] == "0.00000000"
        assert document["fund_balance_before"] == "100.00000000"
        assert document["fund_balance_after"] == "80.00000000"
        assert document["total_profit"] == document["selected_profit"] == "200.00000000"
        assert document["rate"] == "0.40000000"
        assert [
            (p["rank"], p["account"], p["profit"], p["share"]) for p in document["participants"]
        ] == [
            (1, "W1", "80.00000000", "32.00000000"),
            (2, "W2", "60.00000000", "24.00000000"),
            (3, "W3", "60.00000000", "24.00000000"),
        ]
        assert document["digest"] == (
            "sha256:711170fe831b9fd6ed6430ffbf9d4c57a42551f4145aab0d32bdcf47ec2a8db5"
        )

    def test_a_participant_keeps_its_profit_less_its_share(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash())
        books = check_books(ledger, ["L", *WINNERS])
        # W1 deposited 1000 and set 100 aside as margin; its open short's profit of 80 is booked
        # into that margin, and its share of 32 comes out of it: the position now holds 148
        assert books["trader:W1"] == Decimal("900")
        assert books["margin:W1"] == Decimal("148")
        # L lost exactly its margin, never more
        assert books["trader:L"] == Decimal("900")
        assert books.get("margin:L", Decimal(0)) == 0

    def test_in_a_closed_market_clearing_holds_only_the_rounding_residue(
        self, ledger: SpecLedger
    ) -> None:
        # Given the takeover fills inside the ledger: W1 receives L's position at 80
        documents = three_winners_and_a_crash()
        liquidation = next(d for d in documents if d["type"] == "liquidate")
        liquidation["fills"] = [{"price": "80", "size": "10", "account": "W1b"}]
        run(
            ledger,
            command("open_account", account="W1b"),
            command("deposit", account="W1b", amount="1000"),
            *documents,
        )
        # Then every loss has a source: clearing is back to zero (no rounding in these numbers)
        books = check_books(ledger, ["L", "W1b", *WINNERS])
        assert books.get(CLEARING, Decimal(0)) == 0
        assert books[INSURANCE_FUND] == Decimal("80")

    def test_a_takeover_surplus_goes_to_the_fund_at_once(self, ledger: SpecLedger) -> None:
        # Given the takeover fills at 95, above the bankruptcy price 90
        run(ledger, *three_winners_and_a_crash(fill_price="95", settle="95")[:-1])
        # Then the fund receives 10 x (95 - 90) = 50 before any settlement, and no deficit appears
        books = check_books(ledger, ["L", *WINNERS])
        assert books[INSURANCE_FUND] == Decimal("150")
        assert cycle_document(ledger, "c1")["deficit"] == "0.00000000"

    def test_a_deficit_the_profits_cannot_cover_is_booked_to_the_platform(
        self, ledger: SpecLedger
    ) -> None:
        # Given the takeover fills at 50: deficit 400; no fund; winners made only 200 at 80
        run(ledger, *three_winners_and_a_crash(fund="1", fill_price="50"))
        document = cycle_document(ledger, "c1")
        # Then F = min(round_down(400 x 0.2), 1) = 1, C = 200 (every profit), U = 199
        assert (
            document["deficit"],
            document["fund_drawn"],
            document["collected"],
            document["uncovered"],
        ) == ("400.00000000", "1.00000000", "200.00000000", "199.00000000")
        assert all(p["share"] == p["profit"] for p in document["participants"])
        books = check_books(ledger, ["L", *WINNERS])
        assert books[PLATFORM] == Decimal("-1") - Decimal("199")

    def test_the_fund_pays_first_under_fund_mode_first(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash(fund="70", fund_mode="first"))
        document = cycle_document(ledger, "c1")
        assert (document["fund_drawn"], document["collected"]) == ("70.00000000", "30.00000000")
        assert document["policy"]["fund_mode"] == "first"

    def test_the_fund_is_never_drawn_below_its_floor(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash(fund="100", fund_mode="first", fund_floor="95"))
        document = cycle_document(ledger, "c1")
        assert (document["fund_drawn"], document["fund_balance_after"]) == (
            "5.00000000",
            "95.00000000",
        )

    def test_replay_recomputes_the_recorded_settlement(self, open_ledger: LedgerFactory) -> None:
        run(open_ledger(), *three_winners_and_a_crash())
        # When another process replays the cycle from the stored events alone
        replay = replay_cycle(open_ledger(), "c1")
        # Then every field agrees and the digest is the recorded one
        assert replay.differences == []
        assert replay.digest == cycle_document(open_ledger(), "c1")["digest"]

    def test_a_share_is_paid_first_from_withheld_realized_profit(self, ledger: SpecLedger) -> None:
        # Given W1 closes half of its short (2 of 4) at 80 before settlement: 40 realized, withheld
        documents = three_winners_and_a_crash()
        documents.insert(
            -1, command("close_position", account="W1", contract="BTCUSDT", size="2", price="80")
        )
        run(ledger, *documents)
        # Then its profit is still 40 + 2 x 20 = 80 and its share 32, all from the withheld cash
        document = cycle_document(ledger, "c1")
        assert document["participants"][0]["share"] == "32.00000000"
        books = check_books(ledger, ["L", *WINNERS])
        # cash: 1000 - 100 (margin) + 50 (released) + 40 (realized) - 32 (share)
        assert books["trader:W1"] == Decimal("958")
        # margin: 100 - 50 released + 40 booked at settlement
        assert books["margin:W1"] == Decimal("90")

    def test_a_liquidated_trader_who_reenters_is_ranked_with_the_new_positions_own_profit(
        self, open_ledger: LedgerFactory
    ) -> None:
        # Given L liquidated in c1 (deficit 50) re-enters short 5 @ 90, which makes 5 x 10 = 50
        run(open_ledger(), *a_liquidated_trader_reenters())
        document = cycle_document(open_ledger(), "c1")
        # Then F = round_down(50 x 0.2) = 10 and S = 40 are shared over 80 + 60 + 60 + 50 = 250:
        # the liquidated position's 50 realized is in no profit; the cutoff 0.9 x 250 = 225
        # is crossed at rank 4, so L's new position is selected and bears 40 x 50 / 250 = 8
        assert (document["deficit"], document["fund_drawn"], document["collected"]) == (
            "50.00000000",
            "10.00000000",
            "40.00000000",
        )
        assert document["total_profit"] == document["selected_profit"] == "250.00000000"
        assert [
            (p["rank"], p["account"], p["profit"], p["share"]) for p in document["participants"]
        ] == [
            (1, "W1", "80.00000000", "12.80000000"),
            (2, "W2", "60.00000000", "9.60000000"),
            (3, "W3", "60.00000000", "9.60000000"),
            (4, "L", "50.00000000", "8.00000000"),
        ]
        assert document["digest"] == spec_digest(document)
        # And a replay from the stored events alone, in another process's view, is identical
        replay = replay_cycle(open_ledger(), "c1")
        assert replay.differences == []
        assert replay.digest == document["digest"]

    def test_the_liquidated_positions_realized_profit_is_booked_and_withheld_but_not_ranked(
        self, ledger: SpecLedger
    ) -> None:
        # Given L's half closed at 110 realized 50 before the liquidation, and L re-entered
        *trading, settle = a_liquidated_trader_reenters()
        run(ledger, *trading)
        # Then the 50 is withheld from withdrawals until the settlement, re-entry or not
        assert get_account(ledger, "L").withheld == Decimal("50")
        withdrawal = command("withdraw", account="L", amount="900.00000001")
        assert isinstance(refusal(ledger, withdrawal), InsufficientAvailableBalanceError)
        run(ledger, settle)
        # And the settlement books it beside the new position's own profit, not in it
        booking = settled_event(ledger, "L").bookings
        assert booking == [
            {
                "contract": "BTCUSDT",
                "unrealized": Decimal("50.00000000"),
                "profit": Decimal("50.00000000"),
                "liquidated": False,
                "realized_liquidated": Decimal("50"),
            }
        ]
        # And the share of 8 comes out of the new position's profit in its margin, not from the
        # liquidated position's realized cash: cash 1000 + 50 + 50 (margin and profit of the
        # half closed) - 50 (margin of the short) = 950; margin 50 + 50 booked - 8 = 92
        assert settled_event(ledger, "L").shares[0]["from_cash"] == Decimal("0")
        books = check_books(ledger, ["L", *WINNERS])
        assert (books["trader:L"], books["margin:L"]) == (Decimal("950"), Decimal("92"))
        assert get_account(ledger, "L").withheld == 0

    def test_a_liquidated_trader_who_does_not_reenter_is_still_not_ranked(
        self, open_ledger: LedgerFactory
    ) -> None:
        # Given the same cycle without L's re-entry
        run(open_ledger(), *a_liquidated_trader_reenters(reenter=False))
        document = cycle_document(open_ledger(), "c1")
        # Then S = 40 is shared by the three winners alone, 40 x 80 / 200 = 16, 12 and 12
        assert document["total_profit"] == "200.00000000"
        assert [(p["account"], p["share"]) for p in document["participants"]] == [
            ("W1", "16.00000000"),
            ("W2", "12.00000000"),
            ("W3", "12.00000000"),
        ]
        # And L's liquidated position is booked with its 50 realized, as before, never ranked
        assert settled_event(open_ledger(), "L").bookings == [
            {
                "contract": "BTCUSDT",
                "unrealized": Decimal("0E-8"),
                "profit": Decimal("50.00000000"),
                "liquidated": True,
            }
        ]
        assert settled_event(open_ledger(), "L").shares == []
        books = check_books(open_ledger(), ["L", *WINNERS])
        assert (books["trader:L"], books.get("margin:L", Decimal(0))) == (
            Decimal("1000"),
            Decimal(0),
        )
        replay = replay_cycle(open_ledger(), "c1")
        assert replay.differences == []
        assert replay.digest == document["digest"] == spec_digest(document)


class TestSettlementOnSQLite(SettlementSpec, OnSQLite):
    pass


class TestSettlementOnPostgreSQL(SettlementSpec, OnPostgreSQL):
    pass

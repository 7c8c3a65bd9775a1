"""Specifications of the loss waterfall (SPEC 5), as pure functions over plain values.

Every expected number is worked out by hand from the SPEC in the comment beside it. Most examples
use a quantum of 0.01 so that the rounding can be followed with a pencil.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest

from domain.core.policy import Denominator, Policy
from domain.core.socialization import (
    Candidate,
    Waterfall,
    digest,
    digest_document,
    rank_candidates,
    share_loss,
)

CENT = Decimal("0.01")
EMPTY_FUND = Decimal(0)


def cents(**changes: Any) -> Policy:
    """The default policy, booked in cents."""
    return Policy(quantum=CENT, **changes)


def winner(account: str, profit: str, contract: str = "BTCUSDT") -> Candidate:
    return (account, contract, Decimal(profit))


def shares(waterfall: Waterfall) -> list[tuple[str, Decimal]]:
    return [(p.account, p.share) for p in waterfall.participants]


def booked(*pairs: tuple[str, str]) -> list[tuple[str, Decimal]]:
    return [(account, Decimal(share)) for account, share in pairs]


def accounts(waterfall: Waterfall) -> list[str]:
    return [p.account for p in waterfall.participants]


# alice 50, bob 30, carol 15, dave 5: P_all = 100, so every threshold is easy to read.
FOUR_WINNERS = [
    winner("alice", "50"),
    winner("bob", "30"),
    winner("carol", "15"),
    winner("dave", "5"),
]

# ---------------------------------------------------------------------------------------------
# Step 3: the fund draw


def test_the_fund_bears_a_fifth_of_the_deficit_by_default() -> None:
    # Given a deficit of 1,000 and a fund of 5,000 under the default `share` mode
    # When the loss is shared
    waterfall = share_loss(Decimal("1000"), Decimal("5000"), [winner("alice", "3000")], cents())
    # Then F = min(round_down(1000 x 0.2), 5000) = 200 and S = 800
    assert waterfall.fund_drawn == Decimal("200.00")
    assert waterfall.to_share == Decimal("800.00")


def test_the_funds_share_is_rounded_down_to_the_quantum() -> None:
    # Given a deficit of 0.09: 0.09 x 0.2 = 0.018 (half-even would book 0.02)
    waterfall = share_loss(Decimal("0.09"), Decimal("100"), [winner("alice", "1")], cents())
    # Then F = round_down(0.018) = 0.01 and S = 0.08
    assert waterfall.fund_drawn == Decimal("0.01")
    assert waterfall.to_share == Decimal("0.08")


@pytest.mark.parametrize(
    ("fund_balance", "fund_drawn", "to_share"),
    [("200.00", "200.00", "800.00"), ("199.99", "199.99", "800.01")],
    ids=["fund-exactly-its-share", "fund-one-quantum-short"],
)
def test_the_funds_share_is_capped_by_what_the_fund_holds(
    fund_balance: str, fund_drawn: str, to_share: str
) -> None:
    # Given a deficit of 1,000: the fund's share is 1000 x 0.2 = 200
    waterfall = share_loss(
        Decimal("1000"), Decimal(fund_balance), [winner("alice", "3000")], cents()
    )
    # Then F = min(200, balance): the whole fund at 200, one quantum less at 199.99
    assert waterfall.fund_drawn == Decimal(fund_drawn)
    assert waterfall.to_share == Decimal(to_share)
    assert waterfall.fund_balance_after == 0


def test_in_first_mode_the_fund_bears_the_whole_deficit_when_it_can() -> None:
    # Given a deficit of 1,000 and a fund of 5,000 in `first` mode
    waterfall = share_loss(
        Decimal("1000"), Decimal("5000"), [winner("alice", "3000")], cents(fund_mode="first")
    )
    # Then F = min(1000, 5000) = 1000 and nothing is left to share
    assert waterfall.fund_drawn == Decimal("1000")
    assert waterfall.to_share == 0


def test_in_first_mode_the_winners_bear_what_the_fund_cannot() -> None:
    # Given a deficit of 1,000 and a fund of only 300 in `first` mode
    waterfall = share_loss(
        Decimal("1000"), Decimal("300"), [winner("alice", "3000")], cents(fund_mode="first")
    )
    # Then F = min(1000, 300) = 300 and alice bears S = 700
    assert waterfall.fund_drawn == Decimal("300")
    assert shares(waterfall) == booked(("alice", "700.00"))


def test_in_first_mode_the_fund_is_drawn_only_down_to_its_floor() -> None:
    # Given a fund of 500 with a floor of 400: A = max(0, 500 - 400) = 100
    policy = cents(fund_mode="first", fund_floor=Decimal("400"))
    waterfall = share_loss(Decimal("1000"), Decimal("500"), [winner("alice", "3000")], policy)
    # Then F = min(1000, 100) = 100 and the fund keeps its 400
    assert waterfall.fund_drawn == Decimal("100")
    assert waterfall.fund_balance_after == Decimal("400")


def test_in_share_mode_the_fund_is_drawn_only_down_to_its_floor() -> None:
    # Given a fund of 450 with a floor of 400: A = 50, below its share of 1000 x 0.2 = 200
    policy = cents(fund_floor=Decimal("400"))
    waterfall = share_loss(Decimal("1000"), Decimal("450"), [winner("alice", "3000")], policy)
    # Then F = min(200, 50) = 50 and S = 950
    assert waterfall.fund_drawn == Decimal("50")
    assert waterfall.to_share == Decimal("950")


def test_a_fund_already_below_its_floor_bears_nothing() -> None:
    # Given a fund of 300 under a floor of 400: A = max(0, 300 - 400) = 0
    policy = cents(fund_mode="first", fund_floor=Decimal("400"))
    waterfall = share_loss(Decimal("1000"), Decimal("300"), [winner("alice", "3000")], policy)
    # Then F = 0, the winners face the whole deficit and the fund keeps its 300
    assert waterfall.fund_drawn == 0
    assert waterfall.to_share == Decimal("1000")
    assert waterfall.fund_balance_after == Decimal("300")


def test_a_fund_exactly_exhausted_to_its_floor_leaves_nothing_to_share() -> None:
    # Given a fund of 1,400 over a floor of 400: A = 1000, exactly the deficit
    policy = cents(fund_mode="first", fund_floor=Decimal("400"))
    waterfall = share_loss(Decimal("1000"), Decimal("1400"), [winner("alice", "500")], policy)
    # Then F = 1000, S = 0: alice bears nothing and the fund stands at its floor
    assert waterfall.fund_drawn == Decimal("1000")
    assert waterfall.participants == ()
    assert waterfall.fund_balance_after == Decimal("400")


def test_a_fund_one_quantum_short_leaves_one_quantum_to_the_winners() -> None:
    # Given a fund of 1,399.99 over a floor of 400: A = 999.99, one cent short of the deficit
    policy = cents(fund_mode="first", fund_floor=Decimal("400"))
    waterfall = share_loss(Decimal("1000"), Decimal("1399.99"), [winner("alice", "500")], policy)
    # Then F = 999.99, S = 0.01, which alice bears, and the fund stands at its floor
    assert waterfall.fund_drawn == Decimal("999.99")
    assert shares(waterfall) == booked(("alice", "0.01"))
    assert waterfall.fund_balance_after == Decimal("400")


# ---------------------------------------------------------------------------------------------
# Step 5: the ranking


def test_positions_without_profit_are_never_ranked() -> None:
    # Given a flat position, a losing one and a winning one
    ranked = rank_candidates([winner("alice", "0"), winner("bob", "-5"), winner("carol", "10")])
    # Then only the winner is ranked
    assert ranked == [winner("carol", "10")]


def test_losing_positions_do_not_lower_the_total_profit() -> None:
    # Given alice made 30 and bob lost 20
    waterfall = share_loss(
        Decimal("10"), EMPTY_FUND, [winner("alice", "30"), winner("bob", "-20")], cents()
    )
    # Then P_all = 30, not 10, and only alice participates
    assert waterfall.total_profit == Decimal("30")
    assert accounts(waterfall) == ["alice"]


def test_more_profit_ranks_first_whatever_the_name() -> None:
    # Given zoe made one cent more than alice
    ranked = rank_candidates([winner("alice", "10"), winner("zoe", "10.01")])
    # Then zoe ranks first although "alice" < "zoe"
    assert ranked == [winner("zoe", "10.01"), winner("alice", "10")]


def test_equal_profits_rank_by_account_then_contract_in_code_point_order() -> None:
    # Given equal profits: "B" (U+0042) < "a" (U+0061), and contract "ETHUSDT" < "btcusdt"
    ranked = rank_candidates(
        [
            winner("a", "10", "BTCUSDT"),
            winner("B", "10", "btcusdt"),
            winner("B", "10", "ETHUSDT"),
        ]
    )
    # Then account decides first, contract second, both by code point, not alphabet
    assert [(account, contract) for account, contract, _ in ranked] == [
        ("B", "ETHUSDT"),
        ("B", "btcusdt"),
        ("a", "BTCUSDT"),
    ]


def test_participants_carry_their_rank_from_one() -> None:
    waterfall = share_loss(Decimal("10"), EMPTY_FUND, FOUR_WINNERS, cents())
    # The cutoff 0.9 x 100 = 90 is crossed at carol (50 + 30 + 15 = 95)
    assert [(p.rank, p.account) for p in waterfall.participants] == [
        (1, "alice"),
        (2, "bob"),
        (3, "carol"),
    ]


# ---------------------------------------------------------------------------------------------
# Step 6: the selection


def test_the_position_that_reaches_the_cutoff_exactly_is_selected() -> None:
    # Given the cutoff 0.8 x 100 = 80: alice 50 < 80, alice + bob = 80 reaches it
    waterfall = share_loss(
        Decimal("10"), EMPTY_FUND, FOUR_WINNERS, cents(profit_cutoff=Decimal("0.8"))
    )
    # Then the selection is alice and bob, P_sel = 80, and S = 10 is shared 50:30
    # (10 x 50 / 80 = 6.25, 10 x 30 / 80 = 3.75)
    assert waterfall.cutoff_count == 2
    assert waterfall.selected_profit == Decimal("80")
    assert shares(waterfall) == booked(("alice", "6.25"), ("bob", "3.75"))
    assert waterfall.extended is False


def test_a_cutoff_one_cent_above_a_prefix_takes_the_next_position() -> None:
    # Given the cutoff 0.8001 x 100 = 80.01: alice + bob = 80 falls one cent short
    policy = cents(profit_cutoff=Decimal("0.8001"))
    waterfall = share_loss(Decimal("10"), EMPTY_FUND, FOUR_WINNERS, policy)
    # Then carol, who crosses it (95), is in too
    assert waterfall.cutoff_count == 3
    assert accounts(waterfall) == ["alice", "bob", "carol"]


def test_the_position_that_crosses_the_default_cutoff_is_selected() -> None:
    # Given the default cutoff 0.9 x 100 = 90: 50, 80, then 95 crosses it
    waterfall = share_loss(Decimal("10"), EMPTY_FUND, FOUR_WINNERS, cents())
    # Then alice, bob and carol are selected and dave is not
    assert waterfall.cutoff_count == 3
    assert waterfall.selected_profit == Decimal("95")
    assert "dave" not in accounts(waterfall)


def test_the_selection_extends_down_the_ranking_until_it_covers_s() -> None:
    # Given the cutoff 0.5 x 100 = 50, reached by alice alone, and S = 70 > 50
    policy = cents(profit_cutoff=Decimal("0.5"))
    waterfall = share_loss(Decimal("70"), EMPTY_FUND, FOUR_WINNERS, policy)
    # Then bob is added (50 + 30 = 80 >= 70) and no one else;
    # shares 70 x 50 / 80 = 43.75 and 70 x 30 / 80 = 26.25
    assert waterfall.cutoff_count == 1
    assert waterfall.extended is True
    assert waterfall.selected_profit == Decimal("80")
    assert shares(waterfall) == booked(("alice", "43.75"), ("bob", "26.25"))


def test_a_prefix_exactly_covering_s_is_not_extended() -> None:
    # Given the cutoff reached by alice alone (50) and S = 50: her 50 is not below S
    policy = cents(profit_cutoff=Decimal("0.5"))
    waterfall = share_loss(Decimal("50"), EMPTY_FUND, FOUR_WINNERS, policy)
    # Then alice alone bears all of S, her whole profit
    assert waterfall.extended is False
    assert shares(waterfall) == booked(("alice", "50.00"))


def test_a_prefix_one_quantum_short_of_s_is_extended_by_the_next_position() -> None:
    # Given the cutoff reached by alice alone (50) and S = 50.01
    policy = cents(profit_cutoff=Decimal("0.5"))
    waterfall = share_loss(Decimal("50.01"), EMPTY_FUND, FOUR_WINNERS, policy)
    # Then bob is added: 50.01 x 50 / 80 = 31.25625 -> 31.25 (remainder 0.00625),
    # 50.01 x 30 / 80 = 18.75375 -> 18.75 (remainder 0.00375); the odd cent goes to alice
    assert waterfall.extended is True
    assert shares(waterfall) == booked(("alice", "31.26"), ("bob", "18.75"))


def test_the_selection_extends_at_most_to_the_last_profitable_position() -> None:
    # Given S = 150, more than P_all = 100; the cutoff alone takes three (95)
    waterfall = share_loss(Decimal("150"), EMPTY_FUND, FOUR_WINNERS, cents())
    # Then the selection runs out at dave: everyone is in
    assert waterfall.cutoff_count == 3
    assert waterfall.extended is True
    assert accounts(waterfall) == ["alice", "bob", "carol", "dave"]


def test_a_zero_cutoff_selects_only_the_positions_needed_to_cover_s() -> None:
    # Given cutoff 0: the empty prefix already has 0 >= 0 x 100, and S = 60 needs alice + bob
    policy = cents(profit_cutoff=Decimal("0"))
    waterfall = share_loss(Decimal("60"), EMPTY_FUND, FOUR_WINNERS, policy)
    # Then the extension alone selects alice and bob (50 < 60 <= 80)
    assert waterfall.cutoff_count == 0
    assert accounts(waterfall) == ["alice", "bob"]


# ---------------------------------------------------------------------------------------------
# Steps 7 and 9: collected and uncovered

# alice 60, bob 30, carol 10: the default cutoff 90 is reached by alice + bob, P_sel = 90
THREE_WINNERS = [winner("alice", "60"), winner("bob", "30"), winner("carol", "10")]


def test_the_selected_denominator_shares_s_over_the_selected_profit() -> None:
    # Given S = 45 under the default `selected` denominator
    waterfall = share_loss(Decimal("45"), EMPTY_FUND, THREE_WINNERS, cents())
    # Then C = min(45, 90) = 45: alice 45 x 60 / 90 = 30, bob 45 x 30 / 90 = 15, nothing uncovered
    assert shares(waterfall) == booked(("alice", "30.00"), ("bob", "15.00"))
    assert waterfall.collected == Decimal("45")
    assert waterfall.uncovered == 0


def test_the_all_denominator_shares_s_over_all_profit_and_leaves_the_rest_uncovered() -> None:
    # Given S = 45 under the literal `all` denominator: S' = min(45, 100) = 45
    waterfall = share_loss(Decimal("45"), EMPTY_FUND, THREE_WINNERS, cents(denominator="all"))
    # Then alice 45 x 60 / 100 = 27, bob 45 x 30 / 100 = 13.50,
    # C = round_down(45 x 90 / 100) = 40.50 and U = 45 - 40.50 = 4.50
    assert shares(waterfall) == booked(("alice", "27.00"), ("bob", "13.50"))
    assert waterfall.collected == Decimal("40.50")
    assert waterfall.uncovered == Decimal("4.50")


def test_the_all_denominator_rounds_collected_down_to_the_quantum() -> None:
    # Given alice 3, bob 3, carol 1 (P_all = 7), cutoff 0.8 x 7 = 5.6 reached at 6, S = 1.00
    policy = cents(denominator="all", profit_cutoff=Decimal("0.8"))
    candidates = [winner("alice", "3"), winner("bob", "3"), winner("carol", "1")]
    waterfall = share_loss(Decimal("1"), EMPTY_FUND, candidates, policy)
    # Then C = round_down(1 x 6 / 7 = 0.857...) = 0.85 and U = 0.15;
    # each exact share 3 / 7 = 0.428... floors to 0.42, the odd cent to the better-ranked alice
    assert waterfall.collected == Decimal("0.85")
    assert waterfall.uncovered == Decimal("0.15")
    assert shares(waterfall) == booked(("alice", "0.43"), ("bob", "0.42"))


@pytest.mark.parametrize("denominator", ["selected", "all"])
def test_what_the_winners_cannot_cover_is_uncovered(denominator: Denominator) -> None:
    # Given S = 150 and only P_all = 100 of profit: everyone is selected, S' = min(150, 100) = 100
    waterfall = share_loss(Decimal("150"), EMPTY_FUND, FOUR_WINNERS, cents(denominator=denominator))
    # Then each bears its whole profit, C = 100 and U = S - P_all = 50
    assert shares(waterfall) == booked(
        ("alice", "50.00"), ("bob", "30.00"), ("carol", "15.00"), ("dave", "5.00")
    )
    assert waterfall.collected == Decimal("100")
    assert waterfall.uncovered == Decimal("50")


def test_without_a_profitable_position_everything_is_uncovered() -> None:
    # Given S = 100 and only a flat and a losing position: P_all = 0
    candidates = [winner("alice", "0"), winner("bob", "-5")]
    waterfall = share_loss(Decimal("100"), EMPTY_FUND, candidates, cents())
    # Then C = 0, U = S = 100 and no one participates
    assert waterfall.collected == 0
    assert waterfall.uncovered == Decimal("100")
    assert waterfall.participants == ()


@pytest.mark.parametrize(
    ("deficit", "fund_balance"), [("0", "0"), ("1000", "5000")], ids=["no-deficit", "fund-covers"]
)
def test_with_nothing_to_share_there_are_no_participants_even_with_profits(
    deficit: str, fund_balance: str
) -> None:
    # Given S = 0 (no deficit, or a fund that bears it all) while alice made 500
    policy = cents(fund_mode="first")
    waterfall = share_loss(
        Decimal(deficit), Decimal(fund_balance), [winner("alice", "500")], policy
    )
    # Then no one participates and nothing is collected or uncovered
    assert waterfall.participants == ()
    assert waterfall.collected == 0
    assert waterfall.uncovered == 0


# ---------------------------------------------------------------------------------------------
# Step 8: largest-remainder rounding

THREE_EQUAL_WINNERS = [winner("carol", "10"), winner("alice", "10"), winner("bob", "10")]


def test_three_equal_winners_sharing_one_dollar_give_the_odd_cent_to_the_best_ranked() -> None:
    # Given three winners of 10 each (ranked alice, bob, carol) and S = 1.00
    waterfall = share_loss(Decimal("1"), EMPTY_FUND, THREE_EQUAL_WINNERS, cents())
    # Then each exact share 0.333... floors to 0.33 (0.99 in all); the remainders tie,
    # so the one remaining cent goes to rank 1, and the shares add up to C exactly
    assert shares(waterfall) == booked(("alice", "0.34"), ("bob", "0.33"), ("carol", "0.33"))
    assert sum(p.share for p in waterfall.participants) == waterfall.collected == Decimal("1")


def test_two_remaining_quanta_go_to_the_two_best_ranked_on_a_tie() -> None:
    # Given the same three winners and S = 2.00: 0.666... floors to 0.66, 1.98 in all
    waterfall = share_loss(Decimal("2"), EMPTY_FUND, THREE_EQUAL_WINNERS, cents())
    # Then the two remaining cents go to ranks 1 and 2
    assert shares(waterfall) == booked(("alice", "0.67"), ("bob", "0.67"), ("carol", "0.66"))


def test_the_remaining_quantum_goes_to_the_largest_remainder_not_the_largest_profit() -> None:
    # Given alice 3, bob 3, carol 1 (P = 7, all selected at the cutoff 6.3) and S = 0.10:
    # alice and bob 0.3 / 7 = 0.0428... -> 0.04 (remainder 0.0028...),
    # carol 0.1 / 7 = 0.0142... -> 0.01 (remainder 0.0042...), 0.09 in all
    candidates = [winner("alice", "3"), winner("bob", "3"), winner("carol", "1")]
    waterfall = share_loss(Decimal("0.10"), EMPTY_FUND, candidates, cents())
    # Then the one remaining cent goes to carol, the largest discarded remainder
    assert shares(waterfall) == booked(("alice", "0.04"), ("bob", "0.04"), ("carol", "0.02"))


def test_a_participant_whose_rounded_share_is_zero_is_still_recorded() -> None:
    # Given alice 6, bob 4 (both selected at the cutoff 9) and S = 0.01:
    # exact shares 0.006 and 0.004 both floor to 0; the cent goes to alice (larger remainder)
    candidates = [winner("alice", "6"), winner("bob", "4")]
    waterfall = share_loss(Decimal("0.01"), EMPTY_FUND, candidates, cents())
    # Then bob is a participant at rank 2 with a share of zero
    assert shares(waterfall) == booked(("alice", "0.01"), ("bob", "0.00"))
    assert waterfall.participants[1].rank == 2


# ---------------------------------------------------------------------------------------------
# Step 10: the digest, at the default quantum 0.00000001


def two_winners_settled() -> Waterfall:
    # D = 1,000, fund 5,000: F = 200, S = 800; P_all = 2,000, cutoff 1,800 crossed by bob;
    # alice 800 x 1500 / 2000 = 600, bob 800 x 500 / 2000 = 200
    candidates = [winner("alice", "1500.00000000"), winner("bob", "500.00000000", "ETHUSDT")]
    return share_loss(Decimal("1000.00000000"), Decimal("5000.00000000"), candidates, Policy())


TWO_WINNERS_DOCUMENT: dict[str, object] = {
    "cycle": "c-1",
    "deficit": "1000.00000000",
    "fund_drawn": "200.00000000",
    "collected": "800.00000000",
    "uncovered": "0.00000000",
    "participants": [
        ["alice", "BTCUSDT", "1500.00000000", "600.00000000"],
        ["bob", "ETHUSDT", "500.00000000", "200.00000000"],
    ],
}


def test_the_digest_document_holds_every_amount_as_a_string_at_the_quantum() -> None:
    # When the settled cycle is turned into the digest input
    document = digest_document("c-1", two_winners_settled(), Policy().quantum)
    # Then it holds the SPEC's keys, amounts as plain strings, participants in rank order
    assert document == TWO_WINNERS_DOCUMENT


def test_the_digest_is_the_sha256_of_the_canonical_json() -> None:
    # Given the canonical JSON built by hand: UTF-8, sorted keys, no spaces
    canonical = json.dumps(TWO_WINNERS_DOCUMENT, sort_keys=True, separators=(",", ":"))
    assert canonical.startswith('{"collected":"800.00000000","cycle":"c-1","deficit":')
    # When the settled waterfall is digested
    document = digest_document("c-1", two_winners_settled(), Policy().quantum)
    # Then the digest is sha256: and the hex SHA-256 of those bytes
    expected = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert digest(document) == expected

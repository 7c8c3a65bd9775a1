"""Properties of the waterfall over random cycles (SPEC 5 invariants)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from domain.core.money import fmt, places_of, quanta_text
from domain.core.policy import Denominator, FundMode, Policy
from domain.core.socialization import (
    Candidate,
    Waterfall,
    digest,
    digest_document,
    share_loss,
)

CENT = Decimal("0.01")

ACCOUNTS = ["alice", "bob", "carol", "B", "a"]
CONTRACTS = ["BTCUSDT", "ETHUSDT", "btcusdt"]
FUND_MODES: list[FundMode] = ["share", "first"]
DENOMINATORS: list[Denominator] = ["selected", "all"]


@dataclass(frozen=True)
class Cycle:
    deficit: Decimal
    fund_balance: Decimal
    candidates: list[Candidate]
    policy: Policy


@st.composite
def cycles(draw: st.DrawFn) -> Cycle:
    quantum = draw(st.sampled_from([CENT, Decimal("0.00000001")]))
    percent = st.integers(0, 100).map(lambda n: n * CENT)
    keys = draw(
        st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(CONTRACTS)), unique=True)
    )
    # Small profits on a few values make ties and zero shares common
    profit_quanta = st.one_of(st.integers(-(10**4), 10**4), st.sampled_from([0, 1, 7, 100]))
    candidates = [(a, c, draw(profit_quanta) * quantum) for a, c in keys]
    policy = Policy(
        quantum=quantum,
        fund_mode=draw(st.sampled_from(FUND_MODES)),
        fund_share=draw(percent),
        fund_floor=draw(st.integers(0, 10**4)) * quantum,
        profit_cutoff=draw(percent),
        denominator=draw(st.sampled_from(DENOMINATORS)),
    )
    deficit = draw(st.integers(0, 10**5)) * quantum
    fund_balance = draw(st.integers(-(10**3), 10**5)) * quantum
    return Cycle(deficit, fund_balance, candidates, policy)


def settle(cycle: Cycle) -> Waterfall:
    return share_loss(cycle.deficit, cycle.fund_balance, cycle.candidates, cycle.policy)


@given(cycles())
def test_fund_collected_and_uncovered_add_up_to_the_deficit(cycle: Cycle) -> None:
    waterfall = settle(cycle)
    assert waterfall.fund_drawn + waterfall.collected + waterfall.uncovered == cycle.deficit
    assert waterfall.fund_drawn >= 0
    assert waterfall.uncovered >= 0


@given(cycles())
def test_every_share_is_a_whole_number_of_quanta_between_zero_and_its_profit(cycle: Cycle) -> None:
    for participant in settle(cycle).participants:
        assert 0 <= participant.share <= participant.profit
        assert participant.share % cycle.policy.quantum == 0


@given(cycles())
def test_the_shares_add_up_to_what_was_collected(cycle: Cycle) -> None:
    waterfall = settle(cycle)
    assert sum((p.share for p in waterfall.participants), Decimal(0)) == waterfall.collected


@given(cycles(), st.data())
def test_the_waterfall_does_not_depend_on_the_order_of_the_candidates(
    cycle: Cycle, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(cycle.candidates))
    waterfall = settle(cycle)
    reordered = share_loss(cycle.deficit, cycle.fund_balance, shuffled, cycle.policy)
    assert reordered == waterfall
    quantum = cycle.policy.quantum
    assert digest(digest_document("c", reordered, quantum)) == digest(
        digest_document("c", waterfall, quantum)
    )


@given(cycles())
def test_a_fund_at_or_above_its_floor_is_never_drawn_below_it(cycle: Cycle) -> None:
    assume(cycle.fund_balance >= cycle.policy.fund_floor)
    assert settle(cycle).fund_balance_after >= cycle.policy.fund_floor


@given(cycles())
def test_a_fund_below_its_floor_is_never_drawn(cycle: Cycle) -> None:
    assume(cycle.fund_balance < cycle.policy.fund_floor)
    assert settle(cycle).fund_drawn == 0


@given(cycles())
def test_under_the_selected_denominator_only_missing_profit_is_uncovered(cycle: Cycle) -> None:
    assume(cycle.policy.denominator == "selected")
    waterfall = settle(cycle)
    # U = max(0, S - P_all): zero unless the profitable positions cannot cover S
    assert waterfall.uncovered == max(Decimal(0), waterfall.to_share - waterfall.total_profit)


@given(cycles())
def test_the_cutoff_prefix_is_the_shortest_that_reaches_the_threshold(cycle: Cycle) -> None:
    waterfall = settle(cycle)
    assume(waterfall.participants)
    threshold = cycle.policy.profit_cutoff * waterfall.total_profit
    profits = [p.profit for p in waterfall.participants]
    count = waterfall.cutoff_count
    assert sum(profits[:count], Decimal(0)) >= threshold
    assert count == 0 or sum(profits[: count - 1], Decimal(0)) < threshold


@given(cycles())
def test_each_participant_is_also_given_in_quanta_with_its_candidate(cycle: Cycle) -> None:
    waterfall = settle(cycle)
    quantum = cycle.policy.quantum
    profitable = sorted(candidate for candidate in cycle.candidates if candidate[2] > 0)
    assert len(waterfall.in_quanta) == len(waterfall.participants)
    for participant, (candidate, profit, share) in zip(
        waterfall.participants, waterfall.in_quanta, strict=True
    ):
        # the candidate index names the participant's own position among the profitable ones
        assert profitable[candidate][:2] == (participant.account, participant.contract)
        assert profit * quantum == participant.profit
        assert share * quantum == participant.share


@given(st.integers(-(10**30), 10**30), st.integers(0, 12))
def test_an_amount_written_from_its_quanta_is_the_amount_formatted_at_the_quantum(
    count: int, places: int
) -> None:
    quantum = Decimal(1).scaleb(-places)
    assert places_of(quantum) == places
    assert quanta_text(count, places) == fmt(count * quantum, quantum)


def test_a_quantum_that_is_not_a_power_of_ten_at_most_one_has_no_places() -> None:
    assert [places_of(Decimal(text)) for text in ("0.05", "10", "1E+1", "2", "1", "0.010")] == [
        None,
        None,
        None,
        None,
        0,
        None,
    ]

"""The waterfall computed on integers of the quantum is SPEC 5 computed on exact fractions.

`share_loss` ranks, selects and shares on whole numbers of quanta. The reference below is SPEC 5
read step by step on `Fraction`s, with nothing in common with the ledger's code: every figure of
the waterfall must equal it, on random markets of every quantum, both denominators and both
fund modes. The Decimals the waterfall hands back are also written as the ledger wrote them
before the integers (the recorded summary keeps its text).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.core.errors import InvariantError
from domain.core.money import ZERO, ledger_context, round_down
from domain.core.policy import Denominator, FundMode, Policy
from domain.core.socialization import (
    Candidate,
    Waterfall,
    rank_candidates,
    select,
    share_loss,
    share_loss_in_quanta,
)

QUANTA = [Decimal("0.00000001"), Decimal("0.01"), Decimal("1")]
ACCOUNTS = ["alice", "bob", "carol", "B", "a"]
CONTRACTS = ["BTCUSDT", "ETHUSDT", "btcusdt"]
FUND_MODES: list[FundMode] = ["share", "first"]
DENOMINATORS: list[Denominator] = ["selected", "all"]

# ---------------------------------------------------------------------------------------------
# SPEC 5 on exact fractions: the reference


@dataclass(frozen=True)
class Expected:
    fund_drawn: Fraction
    to_share: Fraction
    total_profit: Fraction
    selected_profit: Fraction
    cutoff_count: int
    collected: Fraction
    uncovered: Fraction
    rate: Fraction
    participants: list[tuple[int, str, str, Fraction, Fraction]]


def floor_to(value: Fraction, quantum: Fraction) -> Fraction:
    return (value // quantum) * quantum


def reference(
    deficit: Decimal, fund_balance: Decimal, candidates: list[Candidate], policy: Policy
) -> Expected:
    q = Fraction(policy.quantum)
    d = Fraction(deficit)
    available = max(Fraction(0), Fraction(fund_balance) - Fraction(policy.fund_floor))
    if policy.fund_mode == "first":
        fund = min(d, available)
    else:
        fund = min(floor_to(d * Fraction(policy.fund_share), q), available)
    s = d - fund
    # Step 5: profit descending, then account, then contract, by code point
    ranked = sorted(
        ((a, c, Fraction(p)) for a, c, p in candidates if p > 0),
        key=lambda row: (-row[2], row[0], row[1]),
    )
    total = sum((p for _, _, p in ranked), Fraction(0))
    if s == 0 or total == 0:
        return Expected(fund, s, total, Fraction(0), 0, Fraction(0), s, Fraction(0), [])
    # Step 6: the shortest prefix reaching the cutoff, then extended until it covers S
    threshold = Fraction(policy.profit_cutoff) * total
    count, running = 0, Fraction(0)
    while running < threshold and count < len(ranked):
        running += ranked[count][2]
        count += 1
    cutoff_count = count
    while running < s and count < len(ranked):
        running += ranked[count][2]
        count += 1
    selected, selected_total = ranked[:count], running
    # Step 7
    if policy.denominator == "all":
        shared = min(s, total)
        exact = [shared * p / total for _, _, p in selected]
        collected, rate = floor_to(shared * selected_total / total, q), shared / total
    else:
        collected = min(s, selected_total)
        exact = [collected * p / selected_total for _, _, p in selected]
        rate = collected / selected_total
    # Step 8: floors, then a quantum each to the largest remainders, ties to the better-ranked
    shares = [floor_to(e, q) for e in exact]
    left = (collected - sum(shares, Fraction(0))) / q
    assert left.denominator == 1 and 0 <= left <= len(shares)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[: int(left)]:
        shares[i] += q
    participants = [
        (rank, a, c, p, share)
        for rank, ((a, c, p), share) in enumerate(zip(selected, shares, strict=True), start=1)
    ]
    return Expected(
        fund, s, total, selected_total, cutoff_count, collected, s - collected, rate, participants
    )


# ---------------------------------------------------------------------------------------------
# Random markets


@dataclass(frozen=True)
class Market:
    deficit: Decimal
    fund_balance: Decimal
    candidates: list[Candidate]
    policy: Policy


def as_written(quanta: int, quantum: Decimal, normalized: bool) -> Decimal:
    """quanta x quantum as booking writes it, or with its trailing zeros stripped ("10" for
    10.00 at a cent) as a hand-written profit may be."""
    amount = quanta * quantum
    return amount.normalize() if normalized and amount else amount


@st.composite
def rates(draw: st.DrawFn) -> Decimal:
    """0 to 1: the round ones, percents, and up to six places."""
    return draw(
        st.one_of(
            st.sampled_from([Decimal(0), Decimal(1), Decimal("0.9"), Decimal("0.5")]),
            st.integers(0, 100).map(lambda n: Decimal(n) / 100),
            st.integers(0, 10**6).map(lambda n: Decimal(n) / 10**6),
        )
    )


@st.composite
def markets(draw: st.DrawFn) -> Market:
    quantum = draw(st.sampled_from(QUANTA))
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(CONTRACTS)),
            unique=True,
            max_size=15,
        )
    )
    # A few values make ties and zero shares common; large ones make products of many digits;
    # markets of a few quanta make equal remainders behind shares of different sizes
    tied = draw(st.lists(st.integers(1, 10**4), min_size=1, max_size=3))
    profit_quanta = draw(
        st.sampled_from(
            [
                st.integers(-5, 50),
                st.one_of(
                    st.sampled_from([0, -1, 1, 7, *tied]),
                    st.integers(-(10**4), 10**4),
                    st.integers(1, 10**15),
                ),
            ]
        )
    )
    normalized = draw(st.booleans())
    candidates = [(a, c, as_written(draw(profit_quanta), quantum, normalized)) for a, c in keys]
    total = sum(max(0, int(p / quantum)) for _, _, p in candidates)
    floor_quanta = draw(st.integers(0, 10**4))
    policy = Policy(
        quantum=quantum,
        fund_mode=draw(st.sampled_from(FUND_MODES)),
        fund_share=draw(rates()),
        fund_floor=floor_quanta * quantum,
        profit_cutoff=draw(rates()),
        denominator=draw(st.sampled_from(DENOMINATORS)),
    )
    # From no deficit to more than all the profit, or a simple fraction of it (a third, five
    # sevenths: remainders that repeat); a fund just around its floor, or anywhere
    fraction = st.tuples(st.integers(1, 8), st.sampled_from([3, 7, 9])).map(
        lambda pair: total * pair[0] // pair[1]
    )
    deficit = draw(st.one_of(st.integers(0, 2 * total + 10), fraction)) * quantum
    fund_quanta = draw(
        st.one_of(st.integers(-5, 5).map(lambda n: floor_quanta + n), st.integers(-(10**3), 10**6))
    )
    return Market(deficit, fund_quanta * quantum, candidates, policy)


@st.composite
def repeating_markets(draw: st.DrawFn) -> Market:
    """Every position selected, the fund empty, and S exactly k/m of P (m = 3, 7 or 9): the
    remainders repeat, and positions whose k x p agree modulo m tie exactly, whatever the size
    of their shares."""
    quantum = draw(st.sampled_from(QUANTA))
    modulus = draw(st.sampled_from([3, 7, 9]))
    profits = draw(st.lists(st.integers(1, 60), min_size=1, max_size=8))
    profits.append(modulus - sum(profits) % modulus)  # P, in quanta, is a multiple of m
    candidates = [
        (f"t{index}", "BTCUSDT", quanta * quantum) for index, quanta in enumerate(profits)
    ]
    policy = Policy(
        quantum=quantum,
        fund_share=Decimal(0),
        profit_cutoff=Decimal(1),
        denominator=draw(st.sampled_from(DENOMINATORS)),
    )
    part = draw(st.integers(1, modulus - 1))
    return Market(sum(profits) * part // modulus * quantum, ZERO, candidates, policy)


def settle(market: Market) -> Waterfall:
    return share_loss(market.deficit, market.fund_balance, market.candidates, market.policy)


def ledger_quotient(rate: Fraction) -> Decimal:
    """The exact rate, correctly rounded in the ledger's context, as a Decimal quotient is."""
    with localcontext(ledger_context()):
        return Decimal(rate.numerator) / Decimal(rate.denominator)


# ---------------------------------------------------------------------------------------------
# Properties


@given(markets())
def test_every_figure_of_the_waterfall_is_that_of_spec_5_on_exact_fractions(
    market: Market,
) -> None:
    waterfall = settle(market)
    expected = reference(market.deficit, market.fund_balance, market.candidates, market.policy)
    assert waterfall.fund_drawn == expected.fund_drawn
    assert waterfall.to_share == expected.to_share
    assert waterfall.total_profit == expected.total_profit
    assert waterfall.selected_profit == expected.selected_profit
    assert waterfall.cutoff_count == expected.cutoff_count
    assert waterfall.extended == (len(expected.participants) > expected.cutoff_count)
    assert waterfall.collected == expected.collected
    assert waterfall.uncovered == expected.uncovered
    assert waterfall.rate == ledger_quotient(expected.rate)
    assert [
        (p.rank, p.account, p.contract, Fraction(p.profit), Fraction(p.share))
        for p in waterfall.participants
    ] == expected.participants


@given(repeating_markets())
def test_equal_remainders_tie_to_the_better_ranked_whatever_the_size_of_their_shares(
    market: Market,
) -> None:
    waterfall = settle(market)
    expected = reference(market.deficit, market.fund_balance, market.candidates, market.policy)
    assert [(p.account, Fraction(p.share)) for p in waterfall.participants] == [
        (account, share) for _, account, _, _, share in expected.participants
    ]


@given(markets())
def test_the_waterfall_writes_its_decimals_as_the_decimal_formulas_of_spec_5_do(
    market: Market,
) -> None:
    waterfall = settle(market)
    quantum = market.policy.quantum
    profits = [p.profit for p in waterfall.participants]
    ranked = rank_candidates(market.candidates)
    # Σp from zero, min(S, P_sel), round_down, and the quotients, on the recorded decimals
    assert str(waterfall.total_profit) == str(sum((c[2] for c in ranked), ZERO))
    assert str(waterfall.selected_profit) == str(sum(profits, ZERO))
    with localcontext(ledger_context()):
        if not profits:
            collected, rate = ZERO, ZERO
        elif market.policy.denominator == "all":
            shared = min(waterfall.to_share, waterfall.total_profit)
            product = shared * waterfall.selected_profit / waterfall.total_profit
            collected, rate = round_down(product, quantum), shared / waterfall.total_profit
        else:
            collected = min(waterfall.to_share, waterfall.selected_profit)
            rate = collected / waterfall.selected_profit
    assert (str(waterfall.collected), str(waterfall.rate)) == (str(collected), str(rate))
    assert str(waterfall.uncovered) == str(waterfall.to_share - waterfall.collected)
    for participant, candidate in zip(waterfall.participants, ranked, strict=False):
        assert participant.profit is candidate[2]
        assert participant.share.as_tuple().exponent == quantum.as_tuple().exponent


@given(markets())
def test_the_participants_are_the_ranking_and_selection_of_the_public_helpers(
    market: Market,
) -> None:
    waterfall = settle(market)
    ranked = rank_candidates(market.candidates)
    count = len(waterfall.participants)
    assert [(p.account, p.contract, p.profit) for p in waterfall.participants] == ranked[:count]
    if count:
        cutoff = market.policy.profit_cutoff
        assert select(ranked, waterfall.to_share, cutoff) == (waterfall.cutoff_count, count)


# ---------------------------------------------------------------------------------------------
# Scenarios


def test_three_remainders_of_a_third_of_a_cent_give_the_cent_to_the_best_ranked() -> None:
    # Given alice 0.31, bob 0.01, carol 0.01 (P = 0.33, all selected at the cutoff 1) and
    # S = 0.11: alice 0.11 x 31 / 33 = 0.10333..., bob and carol 0.00333... each
    candidates = [("alice", "BTCUSDT", Decimal("0.31"))]
    candidates += [(name, "BTCUSDT", Decimal("0.01")) for name in ("bob", "carol")]
    policy = Policy(quantum=Decimal("0.01"), profit_cutoff=Decimal(1))
    waterfall = share_loss(Decimal("0.11"), ZERO, candidates, policy)
    # Then the three discarded remainders are exactly 1/3 of a cent each: a tie, so the one
    # remaining cent goes to the better-ranked alice. (On 80-digit decimals alice's remainder
    # kept two digits fewer than bob's and the cent went to bob.)
    assert [(p.account, p.share) for p in waterfall.participants] == [
        ("alice", Decimal("0.11")),
        ("bob", Decimal("0.00")),
        ("carol", Decimal("0.00")),
    ]


def test_a_profit_finer_than_the_quantum_is_an_invariant_broken() -> None:
    # Given a profit of 0.011 where the policy books in cents: no booking writes that
    candidates = [("alice", "BTCUSDT", Decimal("0.011"))]
    policy = Policy(quantum=Decimal("0.01"))
    # Then the waterfall refuses it as a bug upstream, never rounds it silently
    with pytest.raises(InvariantError, match="whole number of quanta"):
        share_loss(Decimal("0.01"), ZERO, candidates, policy)


def written(waterfall: Waterfall) -> list[str]:
    """Every figure of a waterfall as its text: a decimal's exponent shows."""
    figures = [str(value) for value in vars(waterfall).values() if not isinstance(value, tuple)]
    return figures + [repr(participant) for participant in waterfall.participants]


@given(markets())
def test_the_waterfall_of_quanta_is_that_of_their_decimals(market: Market) -> None:
    """A settlement passes its candidates' profits as quanta; the waterfall, every figure
    written as it is, is that of the candidates (account, contract, quantum x profit)."""
    quantum = market.policy.quantum
    quanta = [(a, c, int(p / quantum)) for a, c, p in market.candidates]
    decimals = [(a, c, quantum * q) for a, c, q in quanta]
    expected = share_loss(market.deficit, market.fund_balance, decimals, market.policy)
    found = share_loss_in_quanta(market.deficit, market.fund_balance, quanta, market.policy)
    assert written(found) == written(expected)

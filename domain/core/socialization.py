"""The loss waterfall of SPEC 5 as pure functions over plain values.

One source of truth: the settling aggregate, `cycle replay` and every preview call `share_loss`.

`share_loss` ranks, selects and shares on integers of the quantum. A booked amount is a whole
number of quanta, so every sum, product and quotient is exact, and the remainders that step 8
discards, compared as integers over their common denominator, are in their exact rational order.
Decimals are turned into quanta once per candidate on the way in and back once per participant
on the way out; the figures and their digest are those of the same waterfall on exact decimals.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from itertools import accumulate
from operator import le
from typing import NamedTuple, TypeVar

import orjson

from domain.core.errors import ensure
from domain.core.money import (
    ZERO,
    fmt,
    from_quanta,
    ledger_context,
    places_of,
    quanta_text,
    round_down,
    to_quanta,
)
from domain.core.policy import Policy

# A candidate is (account, contract, cycle profit booked at the quantum).
Candidate = tuple[str, str, Decimal]
# The same with the profit in whole quanta (`share_loss_in_quanta`).
QuantaCandidate = tuple[str, str, int]
AnyCandidate = Candidate | QuantaCandidate
# The waterfall's steps read the same on decimals (the public helpers) and on quanta.
Amount = TypeVar("Amount", int, Decimal)


class Participant(NamedTuple):
    """A position that bears a share (a tuple: a settlement makes one per participant, and a
    frozen dataclass takes three times as long to make)."""

    rank: int
    account: str
    contract: str
    profit: Decimal
    share: Decimal


@dataclass(frozen=True)
class Waterfall:
    """The result of sharing one cycle's deficit: F + C + U = D."""

    deficit: Decimal
    fund_balance_before: Decimal
    fund_drawn: Decimal
    to_share: Decimal
    total_profit: Decimal
    selected_profit: Decimal
    cutoff_count: int
    extended: bool
    collected: Decimal
    uncovered: Decimal
    rate: Decimal
    participants: tuple[Participant, ...]
    # Per participant, in the same order, on integers of the quantum: (its index among the
    # profitable candidates in (account, contract) order, its profit, its share). What a
    # settlement records per participant is made from these without a decimal each.
    in_quanta: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)

    @property
    def fund_balance_after(self) -> Decimal:
        return self.fund_balance_before - self.fund_drawn


@dataclass(frozen=True)
class _Shares:
    """Steps 5 to 8 in quanta: the selection, its shares and C, with the two sums of profit
    written back as decimals. The lists of all ranked profits stay behind: only what makes
    the participants outlives the computation."""

    selected: list[AnyCandidate]
    order: list[int]  # the index of each ranked candidate among the profitable candidates
    profits: list[int]  # the ranked profits in quanta
    shares: list[int]
    cutoff_count: int
    collected: int
    total_profit: Decimal
    selected_profit: Decimal


def rank_candidates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Profitable positions by profit descending, ties by account then contract (code points)."""
    profitable = [candidate for candidate in candidates if candidate[2] > 0]
    profitable.sort(key=lambda candidate: (-candidate[2], candidate[0], candidate[1]))
    return profitable


def fund_draw(deficit: Decimal, fund_balance: Decimal, policy: Policy) -> Decimal:
    """F of SPEC 5 step 3: the fund's part, never taking it below its floor."""
    available = max(ZERO, fund_balance - policy.fund_floor)
    if policy.fund_mode == "first":
        return min(deficit, available)
    return min(round_down(deficit * policy.fund_share, policy.quantum), available)


def select(ranked: Sequence[Candidate], to_share: Decimal, cutoff: Decimal) -> tuple[int, int]:
    """SPEC 5 step 6: (positions within the cutoff, positions selected after any extension)."""
    running = list(accumulate((candidate[2] for candidate in ranked), initial=ZERO))
    return _prefix_counts(running, cutoff * running[-1], to_share)


def _prefix_counts(
    running: Sequence[Amount], threshold: Amount, to_share: Amount
) -> tuple[int, int]:
    """Step 6 on the running sums of the ranking (running[i] = Σp of the first i, increasing):
    the shortest prefix whose Σp reaches the threshold, extended until it covers to_share."""
    last = len(running) - 1
    cutoff_count = min(bisect_left(running, threshold), last)
    return cutoff_count, max(cutoff_count, min(bisect_left(running, to_share), last))


def allocate(
    exact_shares: Sequence[Decimal], collected: Decimal, quantum: Decimal
) -> list[Decimal]:
    """SPEC 5 step 8: floor each share to the quantum, hand the remaining quanta one each to the
    largest discarded remainders, ties to the better-ranked (lower index)."""
    floors = [round_down(exact, quantum) for exact in exact_shares]
    remaining = collected - sum(floors, ZERO)
    quanta_left = int(remaining / quantum)
    ensure(remaining == quanta_left * quantum, "remaining amount is a whole number of quanta")
    ensure(0 <= quanta_left <= len(floors), "no more remainder quanta than participants")
    if quanta_left:
        remainders = [exact - floor for exact, floor in zip(exact_shares, floors, strict=True)]
        for index in _largest_remainders(remainders, quanta_left):
            floors[index] += quantum
    return floors


def _largest_remainders(remainders: Sequence[Amount], count: int) -> list[int]:
    """The indices of the `count` largest remainders, ties to the lower index (better-ranked)."""
    if not count:
        return []
    # The sort is stable, reverse=True included: equal remainders keep their index order.
    return sorted(range(len(remainders)), key=remainders.__getitem__, reverse=True)[:count]


def share_loss(
    deficit: Decimal,
    fund_balance: Decimal,
    candidates: Sequence[Candidate],
    policy: Policy,
) -> Waterfall:
    """The whole waterfall: fund draw, ranking, selection, pro-rata shares, rounding."""
    quantum = policy.quantum
    profitable = sorted(candidate for candidate in candidates if candidate[2] > 0)
    decimals = [candidate[2] for candidate in profitable]
    at_quantum = quantum.as_tuple().digits == (1,) and all(map(quantum.same_quantum, decimals))
    if at_quantum:
        per_quantum = 1 / quantum  # 10 ** -exponent, exactly: profit x per_quantum is whole
        quanta = [int(profit * per_quantum) for profit in decimals]
    else:
        quanta = [to_quanta(profit, quantum) for profit in decimals]
    return _waterfall(deficit, fund_balance, profitable, quanta, at_quantum, policy)


def share_loss_in_quanta(
    deficit: Decimal,
    fund_balance: Decimal,
    candidates: Sequence[QuantaCandidate],
    policy: Policy,
) -> Waterfall:
    """`share_loss` of candidates whose profits are whole numbers of the quantum, as a
    settlement books them: the same waterfall, the same figures and digest as of the
    candidates (account, contract, quantum x profit), without a decimal per candidate."""
    profitable = sorted(candidate for candidate in candidates if candidate[2] > 0)
    return _waterfall(
        deficit, fund_balance, profitable, [candidate[2] for candidate in profitable], None, policy
    )


def _waterfall(
    deficit: Decimal,
    fund_balance: Decimal,
    profitable: Sequence[AnyCandidate],
    quanta: list[int],
    at_quantum: bool | None,
    policy: Policy,
) -> Waterfall:
    """Steps 3 to 8 on the profitable candidates in (account, contract) order and their
    profits in quanta. `at_quantum`: whether every decimal profit is written at the quantum's
    exponent (as booking writes it); None when the candidates hold quanta, not decimals."""
    quantum = policy.quantum
    ensure(deficit >= 0 and deficit % quantum == 0, "deficit is booked at the quantum")
    with localcontext(ledger_context()):
        fund_drawn = fund_draw(deficit, fund_balance, policy)
        to_share = deficit - fund_drawn
        shares = _shares_in_quanta(profitable, quanta, at_quantum, to_share, policy)
        total_profit, selected_profit = shares.total_profit, shares.selected_profit
        collected, rate = _collect(
            to_share, total_profit, selected_profit, shares.collected, policy
        )
        participants = tuple(
            Participant(
                rank,
                account,
                contract,
                profit if isinstance(profit, Decimal) else quantum * profit,
                quantum * share,  # from_quanta
            )
            for rank, ((account, contract, profit), share) in enumerate(
                zip(shares.selected, shares.shares, strict=True), start=1
            )
        )
        waterfall = Waterfall(
            deficit=deficit,
            fund_balance_before=fund_balance,
            fund_drawn=fund_drawn,
            to_share=to_share,
            total_profit=total_profit,
            selected_profit=selected_profit,
            cutoff_count=shares.cutoff_count,
            extended=len(participants) > shares.cutoff_count,
            collected=collected,
            uncovered=to_share - collected,
            rate=rate,
            participants=participants,
            in_quanta=tuple(zip(shares.order, shares.profits, shares.shares, strict=True)),
        )
    check_waterfall(waterfall, policy)
    return waterfall


def _shares_in_quanta(
    profitable: Sequence[AnyCandidate],
    quanta: list[int],
    at_quantum: bool | None,
    to_share: Decimal,
    policy: Policy,
) -> _Shares:
    """Steps 5 to 8 on integers of the quantum: the profitable candidates ranked by profit
    (this stable sort keeps ties in account then contract order), selected and shared."""
    quantum = policy.quantum
    order = sorted(range(len(quanta)), key=quanta.__getitem__, reverse=True)
    ranked = [profitable[index] for index in order]
    profits = [quanta[index] for index in order]
    running = list(accumulate(profits, initial=0))  # running[i] = Σp of the first i
    cutoff_count, selected_count, collected, shares = _select_and_share(
        profits, running, to_quanta(to_share, quantum), policy
    )
    return _Shares(
        selected=ranked[:selected_count],
        order=order[:selected_count],
        profits=profits[:selected_count],
        shares=shares,
        cutoff_count=cutoff_count,
        collected=collected,
        total_profit=_profit_sum(ranked, running, len(ranked), at_quantum, quantum),
        selected_profit=_profit_sum(ranked, running, selected_count, at_quantum, quantum),
    )


def _select_and_share(
    profits: list[int], running: list[int], to_share: int, policy: Policy
) -> tuple[int, int, int, list[int]]:
    """Steps 6 to 8 on the ranked profits in quanta, by exact multiply-divide and exact
    remainders: (positions within the cutoff, positions selected, C, the shares)."""
    total = running[-1]
    if to_share == 0 or total == 0:
        return 0, 0, 0, []
    numerator, denominator = policy.profit_cutoff.as_integer_ratio()
    # A running sum is whole, so it reaches cutoff x P_all exactly when it reaches the ceiling.
    threshold = -(-numerator * total // denominator)
    cutoff_count, selected_count = _prefix_counts(running, threshold, to_share)
    selected = profits[:selected_count]
    if policy.denominator == "all":
        shared, divisor = min(to_share, total), total
        collected = shared * running[selected_count] // total  # round_down(S' x P_sel / P_all)
    else:
        divisor = running[selected_count]
        shared = collected = min(to_share, divisor)
    products = [shared * profit for profit in selected]
    shares = [product // divisor for product in products]
    left = collected - sum(shares)
    ensure(0 <= left <= len(shares), "no more remainder quanta than participants")
    remainders = [product % divisor for product in products]
    for index in _largest_remainders(remainders, left):
        shares[index] += 1
    ensure(sum(shares) == collected, "the shares add up to C")
    ensure(min(shares) >= 0 and all(map(le, shares, selected)), "0 <= share <= profit")
    return cutoff_count, selected_count, collected, shares


def _profit_sum(
    ranked: Sequence[AnyCandidate],
    running: list[int],
    count: int,
    at_quantum: bool | None,
    quantum: Decimal,
) -> Decimal:
    """Σp of the first `count` ranked profits, written as their decimal sum from zero writes it
    (the recorded summary keeps its text): of profits at the quantum's exponent (or in quanta,
    which are), the quanta's sum at that exponent."""
    if not count:
        return ZERO
    if at_quantum is False:
        return sum((Decimal(candidate[2]) for candidate in ranked[:count]), ZERO)
    return from_quanta(running[count], quantum) + ZERO  # + ZERO: the exponent a sum would have


def _collect(
    to_share: Decimal,
    total_profit: Decimal,
    selected_profit: Decimal,
    collected_quanta: int,
    policy: Policy,
) -> tuple[Decimal, Decimal]:
    """SPEC 5 step 7 on the totals: C, and the rate applied to each selected profit."""
    if not selected_profit:
        return ZERO, ZERO
    if policy.denominator == "all":
        shared = min(to_share, total_profit)
        # round_down(S' x P_sel / P_all) to the quantum, done exactly on the quanta
        return from_quanta(collected_quanta, policy.quantum), shared / total_profit
    collected = min(to_share, selected_profit)
    ensure(collected == from_quanta(collected_quanta, policy.quantum), "C in quanta is C")
    return collected, collected / selected_profit


def check_waterfall(waterfall: Waterfall, policy: Policy) -> None:
    """The postconditions of SPEC 5 on the totals. Those on each share (0 <= share <= profit, the
    shares add up to C) are checked on the integers, in `_select_and_share`."""
    ensure(
        waterfall.fund_drawn + waterfall.collected + waterfall.uncovered == waterfall.deficit,
        "F + C + U = D",
    )
    ensure(waterfall.fund_drawn >= 0 and waterfall.uncovered >= 0, "F and U are not negative")
    if waterfall.fund_balance_before >= policy.fund_floor:
        ensure(waterfall.fund_balance_after >= policy.fund_floor, "the fund keeps its floor")


def digest_document(cycle: str, waterfall: Waterfall, quantum: Decimal) -> dict[str, object]:
    """The input of the digest (SPEC 5): every amount a plain string at the quantum (a
    participant's written from its quanta where the quantum is a power of ten)."""
    places = places_of(quantum)
    in_quanta = waterfall.in_quanta
    if places is not None and len(in_quanta) == len(waterfall.participants):
        participants = [
            [p.account, p.contract, quanta_text(profit, places), quanta_text(share, places)]
            for p, (_, profit, share) in zip(waterfall.participants, in_quanta, strict=True)
        ]
    else:
        participants = [
            [p.account, p.contract, fmt(p.profit, quantum), fmt(p.share, quantum)]
            for p in waterfall.participants
        ]
    return {
        "cycle": cycle,
        "deficit": fmt(waterfall.deficit, quantum),
        "fund_drawn": fmt(waterfall.fund_drawn, quantum),
        "collected": fmt(waterfall.collected, quantum),
        "uncovered": fmt(waterfall.uncovered, quantum),
        "participants": participants,
    }


def canonical_json(document: object) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces: `json.dumps(sort_keys=True, separators=(",",
    ":"), ensure_ascii=False)`, which orjson writes byte for byte for a document of strings,
    integers, lists and objects, as a digest's is (tests/unit/test_content_hash.py shows the
    same for a command's); what orjson will not write goes to json."""
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits; json raises as before on a lone surrogate
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")


def digest(document: object) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(document)).hexdigest()

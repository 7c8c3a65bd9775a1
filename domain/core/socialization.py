"""The loss waterfall of SPEC 5 as pure functions over plain values.

One source of truth: the settling aggregate, `cycle replay` and every preview call `share_loss`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from domain.core.errors import ensure
from domain.core.money import ZERO, fmt, ledger_context, round_down
from domain.core.policy import Policy

# A candidate is (account, contract, cycle profit booked at the quantum).
Candidate = tuple[str, str, Decimal]


@dataclass(frozen=True)
class Participant:
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

    @property
    def fund_balance_after(self) -> Decimal:
        return self.fund_balance_before - self.fund_drawn


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
    total_profit = sum((candidate[2] for candidate in ranked), ZERO)
    threshold = cutoff * total_profit
    running = ZERO
    cutoff_count = 0
    while running < threshold and cutoff_count < len(ranked):
        running += ranked[cutoff_count][2]
        cutoff_count += 1
    selected_count = cutoff_count
    while running < to_share and selected_count < len(ranked):
        running += ranked[selected_count][2]
        selected_count += 1
    return cutoff_count, selected_count


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
        order = sorted(
            range(len(floors)), key=lambda index: (-(exact_shares[index] - floors[index]), index)
        )
        for index in order[:quanta_left]:
            floors[index] += quantum
    return floors


def share_loss(
    deficit: Decimal,
    fund_balance: Decimal,
    candidates: Sequence[Candidate],
    policy: Policy,
) -> Waterfall:
    """The whole waterfall: fund draw, ranking, selection, pro-rata shares, rounding."""
    quantum = policy.quantum
    ensure(deficit >= 0 and deficit % quantum == 0, "deficit is booked at the quantum")
    with localcontext(ledger_context()):
        fund_drawn = fund_draw(deficit, fund_balance, policy)
        to_share = deficit - fund_drawn
        ranked = rank_candidates(candidates)
        total_profit = sum((candidate[2] for candidate in ranked), ZERO)
        if to_share == 0 or total_profit == 0:
            ranked_selected: list[Candidate] = []
            cutoff_count = 0
        else:
            cutoff_count, selected_count = select(ranked, to_share, policy.profit_cutoff)
            ranked_selected = ranked[:selected_count]
        selected_profit = sum((candidate[2] for candidate in ranked_selected), ZERO)
        collected, exact_shares, rate = _collect(
            to_share, total_profit, selected_profit, ranked_selected, policy
        )
        shares = allocate(exact_shares, collected, quantum)
    participants = tuple(
        Participant(rank, account, contract, profit, share)
        for rank, ((account, contract, profit), share) in enumerate(
            zip(ranked_selected, shares, strict=True), start=1
        )
    )
    waterfall = Waterfall(
        deficit=deficit,
        fund_balance_before=fund_balance,
        fund_drawn=fund_drawn,
        to_share=to_share,
        total_profit=total_profit,
        selected_profit=selected_profit,
        cutoff_count=cutoff_count,
        extended=len(participants) > cutoff_count,
        collected=collected,
        uncovered=to_share - collected,
        rate=rate,
        participants=participants,
    )
    check_waterfall(waterfall, policy)
    return waterfall


def _collect(
    to_share: Decimal,
    total_profit: Decimal,
    selected_profit: Decimal,
    selected: Sequence[Candidate],
    policy: Policy,
) -> tuple[Decimal, list[Decimal], Decimal]:
    """SPEC 5 step 7: C, the exact (unrounded) shares, and the rate applied to each profit."""
    if not selected:
        return ZERO, [], ZERO
    if policy.denominator == "all":
        shared = min(to_share, total_profit)
        rate = shared / total_profit
        collected = round_down(shared * selected_profit / total_profit, policy.quantum)
        return collected, [shared * profit / total_profit for _, _, profit in selected], rate
    collected = min(to_share, selected_profit)
    rate = collected / selected_profit
    return collected, [collected * profit / selected_profit for _, _, profit in selected], rate


def check_waterfall(waterfall: Waterfall, policy: Policy) -> None:
    """The postconditions of SPEC 5, checked on every computation."""
    ensure(
        waterfall.fund_drawn + waterfall.collected + waterfall.uncovered == waterfall.deficit,
        "F + C + U = D",
    )
    ensure(waterfall.fund_drawn >= 0 and waterfall.uncovered >= 0, "F and U are not negative")
    ensure(
        sum((p.share for p in waterfall.participants), ZERO) == waterfall.collected,
        "the shares add up to C",
    )
    for participant in waterfall.participants:
        ensure(0 <= participant.share <= participant.profit, "0 <= share <= profit")
    if waterfall.fund_balance_before >= policy.fund_floor:
        ensure(waterfall.fund_balance_after >= policy.fund_floor, "the fund keeps its floor")


def digest_document(cycle: str, waterfall: Waterfall, quantum: Decimal) -> dict[str, object]:
    """The input of the digest (SPEC 5): every amount a plain string at the quantum."""
    return {
        "cycle": cycle,
        "deficit": fmt(waterfall.deficit, quantum),
        "fund_drawn": fmt(waterfall.fund_drawn, quantum),
        "collected": fmt(waterfall.collected, quantum),
        "uncovered": fmt(waterfall.uncovered, quantum),
        "participants": [
            [p.account, p.contract, fmt(p.profit, quantum), fmt(p.share, quantum)]
            for p in waterfall.participants
        ],
    }


def canonical_json(document: object) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def digest(document: object) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(document)).hexdigest()

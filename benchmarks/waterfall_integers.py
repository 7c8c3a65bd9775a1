"""The waterfall of SPEC 5 on integers of the quantum, against the decimal one it replaced.

Builds a seeded list of N candidates shaped like the market of the settlement floor's
measurements (about 0.64 N accounts of one to three contracts, 32% of the positions
profitable, about two in three of those selected under the 90% cutoff, many profits tied), in
the order the settlement hands them over (account, then contract), and times, in the same run,
`share_loss` as it was before the integers (`decimal_share_loss` below, a copy kept for this
comparison) and today's `domain.core.socialization.share_loss`: the median of K runs, CPU
seconds (process_time) and wall seconds. Both must give the same figures and the same digest.
(They differ only where equal remainders sit behind shares of different sizes, where the
decimal one strayed from SPEC 5's exact order: tests/unit/test_waterfall_integers.py.)

    .venv/bin/python benchmarks/waterfall_integers.py --positions 1000000 --runs 3
    .venv/bin/python benchmarks/waterfall_integers.py --positions 100000 --profile

`--profile` prints the cProfile of one run of the integer waterfall (the top functions by
their own time) after the table. `--shuffle` hands the candidates over in a random order
instead (the ranking's first sort, by account and contract, is linear only on sorted input).
The last row, for reference only, times the integer waterfall with Python's cyclic garbage
collector paused: what the ~200,000 Participant objects cost in collections over a heap of a
million candidates.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext

from domain.core.errors import ensure
from domain.core.money import ZERO, ledger_context, round_down
from domain.core.policy import Policy
from domain.core.socialization import (
    Candidate,
    Participant,
    Waterfall,
    digest,
    digest_document,
    share_loss,
)

CONTRACTS = ["BTCUSDT", "ETHUSDT", "XRPUSDT", "BNBUSDT", "SOLUSDT", "DOGEUSDT"]
CONTRACT_WEIGHTS = [40, 25, 10, 8, 12, 5]
# One profit step per contract in quanta of 1E-8 (0.80 to 2.50 USDT): a size step times the
# contract's move to the settlement mark.
PROFIT_STEPS = [175_919_820, 116_820_000, 89_492_000, 250_000_000, 82_854_000, 113_175_000]
QUANTUM = Decimal("0.00000001")


def market(positions: int, seed: int) -> list[Candidate]:
    """N candidates (account, contract, booked profit), in account then contract order."""
    rng = random.Random(seed)
    candidates: list[Candidate] = []
    account = 0
    while len(candidates) < positions:
        account += 1
        count = min(rng.choice((1, 1, 1, 1, 2, 2, 3)), positions - len(candidates))
        contracts = sorted({rng.choices(range(6), CONTRACT_WEIGHTS)[0] for _ in range(count)})
        while len(contracts) < count:  # the same contract drawn twice: take the next free one
            contracts = sorted({*contracts, next(c for c in range(6) if c not in contracts)})
        for contract in contracts:
            candidates.append((f"b7-t{account:07d}", CONTRACTS[contract], _profit(rng, contract)))
    return candidates


def _profit(rng: random.Random, contract: int) -> Decimal:
    """A cycle profit: a size of whole steps times the contract's move, won by about a third;
    sizes drawn from few values make ties, a realized part (on two positions in three) breaks
    most of them. Profits about uniform: the 90% cutoff takes about three in five."""
    size = rng.randint(1, 50)
    realized = 0 if rng.random() < 0.35 else rng.randint(0, PROFIT_STEPS[contract])
    sign = 1 if rng.random() < 0.32 else -1
    return Decimal(sign * (size * PROFIT_STEPS[contract] + realized)).scaleb(-8)


# ---------------------------------------------------------------------------------------------
# The waterfall as it was before the integers (domain/core/socialization.py at a9292e6): kept
# only to compare with, here.


def decimal_share_loss(
    deficit: Decimal, fund_balance: Decimal, candidates: Sequence[Candidate], policy: Policy
) -> Waterfall:
    quantum = policy.quantum
    ensure(deficit >= 0 and deficit % quantum == 0, "deficit is booked at the quantum")
    with localcontext(ledger_context()):
        available = max(ZERO, fund_balance - policy.fund_floor)
        if policy.fund_mode == "first":
            fund_drawn = min(deficit, available)
        else:
            fund_drawn = min(round_down(deficit * policy.fund_share, quantum), available)
        to_share = deficit - fund_drawn
        ranked = [candidate for candidate in candidates if candidate[2] > 0]
        ranked.sort(key=lambda candidate: (-candidate[2], candidate[0], candidate[1]))
        total_profit = sum((candidate[2] for candidate in ranked), ZERO)
        if to_share == 0 or total_profit == 0:
            ranked_selected: list[Candidate] = []
            cutoff_count = 0
        else:
            cutoff_count, selected_count = _decimal_select(ranked, to_share, policy.profit_cutoff)
            ranked_selected = ranked[:selected_count]
        selected_profit = sum((candidate[2] for candidate in ranked_selected), ZERO)
        collected, exact_shares, rate = _decimal_collect(
            to_share, total_profit, selected_profit, ranked_selected, policy
        )
        shares = _decimal_allocate(exact_shares, collected, quantum)
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
    _decimal_check(waterfall, policy)
    return waterfall


def _decimal_select(
    ranked: Sequence[Candidate], to_share: Decimal, cutoff: Decimal
) -> tuple[int, int]:
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


def _decimal_collect(
    to_share: Decimal,
    total_profit: Decimal,
    selected_profit: Decimal,
    selected: Sequence[Candidate],
    policy: Policy,
) -> tuple[Decimal, list[Decimal], Decimal]:
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


def _decimal_allocate(
    exact_shares: Sequence[Decimal], collected: Decimal, quantum: Decimal
) -> list[Decimal]:
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


def _decimal_check(waterfall: Waterfall, policy: Policy) -> None:
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


# ---------------------------------------------------------------------------------------------

ShareLoss = Callable[[Decimal, Decimal, Sequence[Candidate], Policy], Waterfall]


@dataclass(frozen=True)
class Timing:
    cpu_seconds: float
    wall_seconds: float
    digest: str
    digest_cpu_seconds: float
    figures: tuple[object, ...]  # every field of the waterfall but its participants
    participants: int


def timed(
    share: ShareLoss, arguments: tuple[Decimal, Decimal, list[Candidate], Policy], runs: int
) -> Timing:
    """The median CPU and wall seconds of `runs` calls, and what the last one computed. Each
    result is dropped before the next call, so that every run (of either waterfall) sees the
    same heap: the cyclic collector's cost grows with what is alive."""
    cpu, wall = [], []
    last: list[Waterfall] = []
    for _ in range(max(runs, 1)):
        last.clear()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        last.append(share(*arguments))
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    waterfall = last.pop()
    digest_start = time.process_time()
    text = digest(digest_document("bench", waterfall, QUANTUM))
    digest_cpu = time.process_time() - digest_start
    figures = tuple(
        getattr(waterfall, field.name)
        for field in fields(Waterfall)
        if field.name != "participants"
    )
    return Timing(
        statistics.median(cpu),
        statistics.median(wall),
        text,
        digest_cpu,
        figures,
        len(waterfall.participants),
    )


def paused_collector(share: ShareLoss) -> ShareLoss:
    def run(
        deficit: Decimal, fund_balance: Decimal, candidates: Sequence[Candidate], policy: Policy
    ) -> Waterfall:
        gc.disable()
        try:
            return share(deficit, fund_balance, candidates, policy)
        finally:
            gc.enable()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--denominator", choices=["selected", "all"], default="selected")
    parser.add_argument("--fund-mode", choices=["share", "first"], default="share")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--shuffle", action="store_true")
    options = parser.parse_args()
    candidates = market(options.positions, options.seed)
    if options.shuffle:
        random.Random(options.seed).shuffle(candidates)
    profitable = [profit for _, _, profit in candidates if profit > 0]
    total = sum(profitable, ZERO)
    policy = Policy(denominator=options.denominator, fund_mode=options.fund_mode)
    # A deficit of 5% of the profits, a fund of a tenth of it: the 90% cutoff decides.
    deficit = round_down(total / 20, QUANTUM)
    arguments = (deficit, round_down(deficit / 10, QUANTUM), candidates, policy)
    old = timed(decimal_share_loss, arguments, options.runs)
    new = timed(share_loss, arguments, options.runs)
    paused = timed(paused_collector(share_loss), arguments, options.runs)
    for other in (new, paused):
        ensure(old.digest == other.digest, f"the digests differ: {old.digest} != {other.digest}")
        ensure(old.figures == other.figures, "the two waterfalls differ")
    tied = sum(n for n in Counter(profitable).values() if n > 1)
    accounts = len({account for account, _, _ in candidates})
    order = "shuffled" if options.shuffle else "by account and contract"
    print(
        f"{len(candidates):,} positions ({order}) in {accounts:,} accounts, "
        f"{len(profitable) / len(candidates):.1%} profitable, {tied:,} positions in profit "
        f"ties, {new.participants:,} participants ({policy.denominator}, "
        f"{policy.fund_mode}), median of {options.runs}"
    )
    print(f"digest {new.digest} (its formatting and SHA-256: {new.digest_cpu_seconds:.2f} s CPU)")
    print("| waterfall | CPU s | wall s |")
    print("|---|---|---|")
    print(f"| decimal (before) | {old.cpu_seconds:.2f} | {old.wall_seconds:.2f} |")
    print(f"| integers of the quantum | {new.cpu_seconds:.2f} | {new.wall_seconds:.2f} |")
    print(
        f"| ratio | {old.cpu_seconds / new.cpu_seconds:.1f}x "
        f"| {old.wall_seconds / new.wall_seconds:.1f}x |"
    )
    print(
        f"| integers, cyclic GC paused (reference) | {paused.cpu_seconds:.2f} "
        f"| {paused.wall_seconds:.2f} |"
    )
    if options.profile:
        profiler = cProfile.Profile()
        profiler.runcall(share_loss, *arguments)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()

"""A realistic market from a seed: heavy-tailed accounts and positions, a flash crash,
liquidations whose takeovers fill at poor prices, and a settlement.

The generator writes commands only; it checks liquidatability with the domain's own rule so
that every liquidation it emits is accepted.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any

from domain.commands.models import format_time
from domain.core.money import fmt_plain
from domain.core.positions import Position, bankruptcy_price, is_liquidatable

# Today's prices (USDT) of the largest coins, and each contract's size step.
CONTRACTS: dict[str, tuple[Decimal, Decimal]] = {
    "BTCUSDT": (Decimal("87959.91"), Decimal("0.001")),
    "ETHUSDT": (Decimal("2920.50"), Decimal("0.01")),
    "XRPUSDT": (Decimal("2.2373"), Decimal("1")),
    "BNBUSDT": (Decimal("860.24"), Decimal("0.01")),
    "SOLUSDT": (Decimal("138.09"), Decimal("0.1")),
    "DOGEUSDT": (Decimal("0.1509"), Decimal("10")),
}
# How far the flash crash takes each contract down, and where it settles afterwards.
CRASH = {
    "BTCUSDT": "0.93",
    "ETHUSDT": "0.91",
    "XRPUSDT": "0.88",
    "BNBUSDT": "0.92",
    "SOLUSDT": "0.90",
    "DOGEUSDT": "0.87",
}
RECOVERY = Decimal("1.03")
CENT = Decimal("0.01")
MAX_LEVERAGE = 50
# Business time of the first command; each command comes one second after the last.
MARKET_OPENS = datetime(2026, 11, 21, tzinfo=UTC)


@dataclass(frozen=True)
class Market:
    seed: int
    accounts: int
    cycle: str
    commands: list[dict[str, Any]]


def _price(value: Decimal, tick: str = "0.0001") -> Decimal:
    return value.quantize(Decimal(tick), rounding=ROUND_DOWN)


def _pareto_amount(rng: random.Random, scale: float, alpha: float, cap: float) -> Decimal:
    amount = min(scale * rng.paretovariate(alpha), cap)
    return Decimal(f"{amount:.2f}")


def generate(accounts: int, seed: int) -> Market:
    rng = random.Random(seed)  # noqa: S311 - a reproducible market, not a secret
    prefix = f"s{seed}"
    cycle = f"{prefix}-cycle-1"
    commands: list[dict[str, Any]] = []
    counter = iter(range(1, 10**9))

    def add(kind: str, **fields: Any) -> None:
        number = next(counter)
        at = format_time(MARKET_OPENS + timedelta(seconds=number))
        commands.append({"type": kind, "id": f"{prefix}-{number:07d}", "at": at, **fields})

    names = [f"{prefix}-t{index:07d}" for index in range(1, accounts + 1)]
    cash: dict[str, Decimal] = {}
    for name in names:
        add("open_account", account=name)
        cash[name] = _pareto_amount(rng, 500.0, 1.3, 2_000_000.0)
        add("deposit", account=name, amount=fmt_plain(cash[name]))
    add("fund_deposit", amount=fmt_plain(Decimal(accounts) * 40))
    add(
        "open_cycle",
        cycle=cycle,
        marks={c: fmt_plain(price) for c, (price, _) in CONTRACTS.items()},
    )
    positions = _open_positions(rng, names, cash, add)
    _crash(rng, positions, cash, add)
    add(
        "settle_cycle",
        cycle=cycle,
        marks={
            c: fmt_plain(_price(price * Decimal(CRASH[c]) * RECOVERY))
            for c, (price, _) in CONTRACTS.items()
        },
    )
    return Market(seed, accounts, cycle, commands)


def _open_positions(
    rng: random.Random, names: list[str], cash: dict[str, Decimal], add: Any
) -> dict[tuple[str, str], Position]:
    positions: dict[tuple[str, str], Position] = {}
    contracts = list(CONTRACTS)
    weights = [40, 25, 10, 8, 12, 5]
    for name in names:
        for contract in sorted(
            set(rng.choices(contracts, weights, k=rng.choice((1, 1, 1, 2, 2, 3))))
        ):
            price = CONTRACTS[contract][0]
            leverage, margin, size = _sized(rng, cash[name], contract, 1.3)
            if size <= 0:
                continue
            margin = _initial_margin(margin, size, price, leverage)
            if margin > cash[name]:
                continue
            side = "long" if rng.random() < 0.55 else "short"
            add(
                "open_position",
                account=name,
                contract=contract,
                side=side,
                size=fmt_plain(size),
                price=fmt_plain(price),
                margin=fmt_plain(margin),
            )
            cash[name] -= margin
            positions[(name, contract)] = Position(
                "long" if side == "long" else "short", size, price, price, margin, Decimal(0), False
            )
    return positions


def _crash(
    rng: random.Random,
    positions: dict[tuple[str, str], Position],
    cash: dict[str, Decimal],
    add: Any,
) -> None:
    """Marks fall; over-leveraged longs are liquidated, their takeovers fill below bankruptcy;
    a few shorts take profit on the way down (realized, withheld until settlement)."""
    for (name, contract), position in sorted(positions.items()):
        price, step = CONTRACTS[contract]
        mark = _price(price * Decimal(CRASH[contract]))
        if position.side == "long" and is_liquidatable(position, mark, Decimal("0.005")):
            add(
                "liquidate",
                account=name,
                contract=contract,
                mark=fmt_plain(mark),
                fills=_takeover_fills(rng, position, step, mark),
            )
        elif position.side == "short" and rng.random() < 0.1:
            half = (position.size / 2).quantize(step, ROUND_DOWN)
            if half > 0:
                add(
                    "close_position",
                    account=name,
                    contract=contract,
                    size=fmt_plain(half),
                    price=fmt_plain(mark),
                )


def _sized(
    rng: random.Random, cash: Decimal, contract: str, mu: float
) -> tuple[int, Decimal, Decimal]:
    """(leverage, margin, size) of a new position: lognormal leverage around e^mu, a uniform
    5 to 40% of the cash as margin, the size it buys rounded down to the contract's step."""
    price, step = CONTRACTS[contract]
    leverage = min(MAX_LEVERAGE, max(1, round(rng.lognormvariate(mu, 0.6))))
    margin = (cash * Decimal(f"{rng.uniform(0.05, 0.4):.4f}")).quantize(CENT, ROUND_DOWN)
    return leverage, margin, (margin * leverage / price).quantize(step, ROUND_DOWN)


def _initial_margin(margin: Decimal, size: Decimal, price: Decimal, leverage: int) -> Decimal:
    """At least what the leverage asks of the size, in cents rounded up."""
    return max(margin, (size * price / leverage).quantize(CENT, ROUND_UP))


def _takeover_fills(
    rng: random.Random, position: Position, step: Decimal, mark: Decimal
) -> list[dict[str, str]]:
    """A long's takeover, filled 0.5 to 4% below the lower of the mark and its bankruptcy."""
    bankruptcy = bankruptcy_price("long", position.entry, position.margin, position.size)
    slippage = Decimal(f"{rng.uniform(0.005, 0.04):.4f}")
    fill_price = _price(min(mark, bankruptcy) * (1 - slippage))
    return _fills(rng, position.size, step, fill_price)


def _fills(
    rng: random.Random, size: Decimal, step: Decimal, fill_price: Decimal
) -> list[dict[str, str]]:
    parts = rng.choice((1, 1, 2, 3))
    fills = []
    remaining = size
    for part in range(parts):
        piece = remaining if part == parts - 1 else (size / parts).quantize(step, ROUND_DOWN)
        if piece <= 0:
            continue
        worse = _price(fill_price * (1 - Decimal(part) / 200))
        fills.append({"price": fmt_plain(worse), "size": fmt_plain(piece)})
        remaining -= piece
    return fills


def lines(market: Market) -> Iterator[str]:
    for command in market.commands:
        yield json.dumps(command, separators=(",", ":"))


def write_bench_market(positions: int, seed: int, load: Path, settle: Path) -> dict[str, int]:
    """A market of `positions` positions for `lossledger bench`, streamed to two files.

    The same heavy-tailed accounts and positions as `generate`, accounts opened as they are
    needed (so that the count of positions is exact), a milder crash that liquidates about 1%
    of the positions, and the settlement in a file of its own. Returns the counts written.
    """
    rng = random.Random(seed)  # noqa: S311 - a reproducible market, not a secret
    prefix = f"b{seed}"
    counts = {"commands": 0, "accounts": 0, "positions": 0, "liquidations": 0, "closes": 0}
    number = 0

    def add(handle: Any, kind: str, **fields: Any) -> None:
        nonlocal number
        number += 1
        at = format_time(MARKET_OPENS + timedelta(milliseconds=number))
        command = {"type": kind, "id": f"{prefix}-{number:09d}", "at": at, **fields}
        handle.write(json.dumps(command, separators=(",", ":")) + "\n")
        counts["commands"] += 1

    cycle = f"{prefix}-cycle-1"
    contracts = list(CONTRACTS)
    weights = [40, 25, 10, 8, 12, 5]
    longs: list[tuple[str, str, Position]] = []
    with load.open("w", encoding="utf-8") as out:
        add(out, "fund_deposit", amount=fmt_plain(Decimal(positions) * 25))
        add(
            out,
            "open_cycle",
            cycle=cycle,
            marks={c: fmt_plain(p) for c, (p, _) in CONTRACTS.items()},
        )
        index = 0
        while counts["positions"] < positions:
            index += 1
            name = f"{prefix}-t{index:08d}"
            cash = _pareto_amount(rng, 500.0, 1.3, 2_000_000.0)
            add(out, "open_account", account=name)
            add(out, "deposit", account=name, amount=fmt_plain(cash))
            counts["accounts"] += 1
            wanted = sorted(set(rng.choices(contracts, weights, k=rng.choice((1, 1, 1, 2, 2, 3)))))
            for contract in wanted:
                if counts["positions"] >= positions:
                    break
                price, step = CONTRACTS[contract]
                leverage, margin, size = _sized(rng, cash, contract, 1.1)
                if size <= 0:
                    size = step
                margin = _initial_margin(margin, size, price, leverage)
                if margin > cash:
                    add(out, "deposit", account=name, amount=fmt_plain(margin - cash))
                    cash = margin
                side = "long" if rng.random() < 0.55 else "short"
                add(
                    out,
                    "open_position",
                    account=name,
                    contract=contract,
                    side=side,
                    size=fmt_plain(size),
                    price=fmt_plain(price),
                    margin=fmt_plain(margin),
                )
                cash -= margin
                counts["positions"] += 1
                if side == "long":
                    position = Position("long", size, price, price, margin, Decimal(0), False)
                    longs.append((name, contract, position))
                elif rng.random() < 0.1:
                    half = (size / 2).quantize(step, ROUND_DOWN)
                    if half > 0:
                        mark = _price(price * Decimal(CRASH[contract]))
                        add(
                            out,
                            "close_position",
                            account=name,
                            contract=contract,
                            size=fmt_plain(half),
                            price=fmt_plain(mark),
                        )
                        counts["closes"] += 1
        for name, contract, position in longs:
            price, step = CONTRACTS[contract]
            mark = _price(price * Decimal(CRASH[contract]))
            if is_liquidatable(position, mark, Decimal("0.005")):
                add(
                    out,
                    "liquidate",
                    account=name,
                    contract=contract,
                    mark=fmt_plain(mark),
                    fills=_takeover_fills(rng, position, step, mark),
                )
                counts["liquidations"] += 1
    with settle.open("w", encoding="utf-8") as out:
        add(
            out,
            "settle_cycle",
            cycle=cycle,
            marks={
                c: fmt_plain(_price(price * Decimal(CRASH[c]) * RECOVERY))
                for c, (price, _) in CONTRACTS.items()
            },
        )
    return counts

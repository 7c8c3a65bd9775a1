"""A realistic market from a seed: heavy-tailed accounts and positions, a flash crash,
liquidations whose takeovers fill at poor prices, and a settlement.

The generator writes commands only; it checks liquidatability with the domain's own rule so
that every liquidation it emits is accepted.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any, TextIO

from domain.commands.models import format_time
from domain.core.money import ZERO, fmt_plain
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
# Business time of the first command; each command comes one tick after the last.
MARKET_OPENS = datetime(2026, 11, 21, tzinfo=UTC)
CONTRACT_WEIGHTS = [40, 25, 10, 8, 12, 5]  # how often each contract of CONTRACTS is traded
MAINTENANCE_RATE = Decimal("0.005")  # the policy's default: the market's liquidations pass it


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


class _Emitter:
    """Numbers commands from one, gives each a business time one tick after the last, and
    hands them to a sink."""

    def __init__(
        self, prefix: str, width: int, tick: timedelta, sink: Callable[[dict[str, Any]], None]
    ) -> None:
        self.prefix, self.width, self.tick, self.sink = prefix, width, tick, sink
        self.number = 0

    def __call__(self, kind: str, **fields: Any) -> None:
        self.number += 1
        at = format_time(MARKET_OPENS + self.tick * self.number)
        command_id = f"{self.prefix}-{self.number:0{self.width}d}"
        self.sink({"type": kind, "id": command_id, "at": at, **fields})


def opening_marks() -> dict[str, str]:
    return {contract: fmt_plain(price) for contract, (price, _) in CONTRACTS.items()}


def settlement_marks() -> dict[str, str]:
    """After the crash, a partial recovery."""
    return {
        contract: fmt_plain(_price(price * Decimal(CRASH[contract]) * RECOVERY))
        for contract, (price, _) in CONTRACTS.items()
    }


def _crash_mark(contract: str) -> Decimal:
    return _price(CONTRACTS[contract][0] * Decimal(CRASH[contract]))


def _wanted_contracts(rng: random.Random) -> list[str]:
    """The one to three contracts an account trades, drawn by CONTRACT_WEIGHTS."""
    count = rng.choice((1, 1, 1, 2, 2, 3))
    return sorted(set(rng.choices(list(CONTRACTS), CONTRACT_WEIGHTS, k=count)))


def _side(rng: random.Random) -> str:
    return "long" if rng.random() < 0.55 else "short"


def _position_fields(
    name: str, contract: str, side: str, size: Decimal, margin: Decimal
) -> dict[str, str]:
    """An open_position at the contract's opening price."""
    price = CONTRACTS[contract][0]
    sizes = {"size": fmt_plain(size), "price": fmt_plain(price), "margin": fmt_plain(margin)}
    return {"account": name, "contract": contract, "side": side, **sizes}


def _half_close_fields(name: str, contract: str, size: Decimal) -> dict[str, str] | None:
    """A close of half the position at the crash mark, or None when half rounds to nothing."""
    half = (size / 2).quantize(CONTRACTS[contract][1], ROUND_DOWN)
    if half <= 0:
        return None
    price = fmt_plain(_crash_mark(contract))
    return {"account": name, "contract": contract, "size": fmt_plain(half), "price": price}


def _liquidation_fields(
    rng: random.Random, name: str, contract: str, position: Position
) -> dict[str, Any] | None:
    """The liquidation of a long the crash breaks, or None when it survives the crash mark."""
    mark = _crash_mark(contract)
    if not is_liquidatable(position, mark, MAINTENANCE_RATE):
        return None
    fills = _takeover_fills(rng, position, CONTRACTS[contract][1], mark)
    return {"account": name, "contract": contract, "mark": fmt_plain(mark), "fills": fills}


def generate(accounts: int, seed: int) -> Market:
    rng = random.Random(seed)  # noqa: S311 - a reproducible market, not a secret
    prefix = f"s{seed}"
    cycle = f"{prefix}-cycle-1"
    commands: list[dict[str, Any]] = []
    add = _Emitter(prefix, 7, timedelta(seconds=1), commands.append)
    names = [f"{prefix}-t{index:07d}" for index in range(1, accounts + 1)]
    cash: dict[str, Decimal] = {}
    for name in names:
        add("open_account", account=name)
        cash[name] = _pareto_amount(rng, 500.0, 1.3, 2_000_000.0)
        add("deposit", account=name, amount=fmt_plain(cash[name]))
    add("fund_deposit", amount=fmt_plain(Decimal(accounts) * 40))
    add("open_cycle", cycle=cycle, marks=opening_marks())
    positions = _open_positions(rng, names, cash, add)
    _crash(rng, positions, add)
    add("settle_cycle", cycle=cycle, marks=settlement_marks())
    return Market(seed, accounts, cycle, commands)


def _open_positions(
    rng: random.Random, names: list[str], cash: dict[str, Decimal], add: _Emitter
) -> dict[tuple[str, str], Position]:
    positions: dict[tuple[str, str], Position] = {}
    for name in names:
        for contract in _wanted_contracts(rng):
            price = CONTRACTS[contract][0]
            leverage, margin, size = _sized(rng, cash[name], contract, 1.3)
            if size <= 0:
                continue
            margin = _initial_margin(margin, size, price, leverage)
            if margin > cash[name]:
                continue
            side = _side(rng)
            add("open_position", **_position_fields(name, contract, side, size, margin))
            cash[name] -= margin
            positions[(name, contract)] = Position(
                "long" if side == "long" else "short", size, price, price, margin, Decimal(0), False
            )
    return positions


def _crash(rng: random.Random, positions: dict[tuple[str, str], Position], add: _Emitter) -> None:
    """Marks fall; over-leveraged longs are liquidated, their takeovers fill below bankruptcy;
    a few shorts take profit on the way down (realized, withheld until settlement)."""
    for (name, contract), position in sorted(positions.items()):
        if position.side == "long":
            liquidation = _liquidation_fields(rng, name, contract, position)
            if liquidation is not None:
                add("liquidate", **liquidation)
        elif rng.random() < 0.1:
            close = _half_close_fields(name, contract, position.size)
            if close is not None:
                add("close_position", **close)


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
    cycle = f"{prefix}-cycle-1"
    with load.open("w", encoding="utf-8") as out:
        add = _Emitter(prefix, 9, timedelta(milliseconds=1), _writer(out, counts))
        add("fund_deposit", amount=fmt_plain(Decimal(positions) * 25))
        add("open_cycle", cycle=cycle, marks=opening_marks())
        longs: list[tuple[str, str, Position]] = []
        for index in range(1, positions + 1):  # an account holds at least one position
            if counts["positions"] >= positions:
                break
            longs += _bench_account(rng, add, f"{prefix}-t{index:08d}", positions, counts)
        for name, contract, position in longs:
            liquidation = _liquidation_fields(rng, name, contract, position)
            if liquidation is not None:
                add("liquidate", **liquidation)
                counts["liquidations"] += 1
    with settle.open("w", encoding="utf-8") as out:
        add.sink = _writer(out, counts)
        add("settle_cycle", cycle=cycle, marks=settlement_marks())
    return counts


def _writer(handle: TextIO, counts: dict[str, int]) -> Callable[[dict[str, Any]], None]:
    def write(command: dict[str, Any]) -> None:
        handle.write(json.dumps(command, separators=(",", ":")) + "\n")
        counts["commands"] += 1

    return write


def _bench_account(
    rng: random.Random, add: _Emitter, name: str, positions: int, counts: dict[str, int]
) -> list[tuple[str, str, Position]]:
    """One account, funded, with its positions (never past `positions` in all); a tenth of
    the shorts take half their profit at the crash mark. The longs it opened."""
    cash = _pareto_amount(rng, 500.0, 1.3, 2_000_000.0)
    add("open_account", account=name)
    add("deposit", account=name, amount=fmt_plain(cash))
    counts["accounts"] += 1
    longs = []
    for contract in _wanted_contracts(rng):
        if counts["positions"] >= positions:
            break
        price, step = CONTRACTS[contract]
        leverage, margin, size = _sized(rng, cash, contract, 1.1)
        if size <= 0:
            size = step
        margin = _initial_margin(margin, size, price, leverage)
        if margin > cash:
            add("deposit", account=name, amount=fmt_plain(margin - cash))
            cash = margin
        side = _side(rng)
        add("open_position", **_position_fields(name, contract, side, size, margin))
        cash -= margin
        counts["positions"] += 1
        if side == "long":
            longs.append(
                (name, contract, Position("long", size, price, price, margin, ZERO, False))
            )
        elif rng.random() < 0.1:
            close = _half_close_fields(name, contract, size)
            if close is not None:
                add("close_position", **close)
                counts["closes"] += 1
    return longs

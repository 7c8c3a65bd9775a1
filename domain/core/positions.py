"""Position arithmetic (SPEC 2 and 4): exact values in, exact values out; callers book them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from domain.core.money import ZERO

Side = Literal["long", "short"]


@dataclass(frozen=True)
class Position:
    """One account's position in one contract during the open cycle.

    `reference` is the price the cycle's profit is measured from: the entry price for a
    position opened in the cycle, the cycle's opening mark for a carried one. `realized` is
    the PnL booked by closes in the cycle, withheld while positive. A closed or liquidated
    position keeps its record (size 0) until the cycle settles.

    A position opened after one of the same contract was liquidated in the cycle is a new
    position (SPEC 5 step 5): `realized_liquidated` is the part of `realized` that liquidated
    positions booked, withheld like the rest but never ranked. Records written before the
    field existed, and records where it is zero, do not hold it.
    """

    side: Side
    size: Decimal
    entry: Decimal
    reference: Decimal
    margin: Decimal
    realized: Decimal
    liquidated: bool
    realized_liquidated: Decimal = ZERO

    @property
    def is_open(self) -> bool:
        return self.size > 0

    @property
    def realized_ranked(self) -> Decimal:
        """The realized PnL in the profit this position is ranked with: none of a liquidated
        position's."""
        return self.realized - self.realized_liquidated

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "side": self.side,
            "size": self.size,
            "entry": self.entry,
            "reference": self.reference,
            "margin": self.margin,
            "realized": self.realized,
            "liquidated": self.liquidated,
        }
        if self.realized_liquidated:  # absent reads as zero, as in records from before it
            record["realized_liquidated"] = self.realized_liquidated
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Position:
        return cls(
            side=record["side"],
            size=Decimal(record["size"]),
            entry=Decimal(record["entry"]),
            reference=Decimal(record["reference"]),
            margin=Decimal(record["margin"]),
            realized=Decimal(record["realized"]),
            liquidated=bool(record["liquidated"]),
            realized_liquidated=Decimal(record.get("realized_liquidated", ZERO)),
        )

    def with_changes(self, **changes: Any) -> Position:
        # what dataclasses.replace does, without its per-field introspection (settlement
        # calls this twice per position)
        return Position(**{**self.__dict__, **changes})


def pnl(side: Side, size: Decimal, price_from: Decimal, price_to: Decimal) -> Decimal:
    """Linear PnL of `size` moved from one price to another (exact)."""
    move = price_to - price_from
    return size * move if side == "long" else -size * move


def bankruptcy_price(side: Side, reference: Decimal, margin: Decimal, size: Decimal) -> Decimal:
    """The price at which the margin is exactly used up (exact).

    SPEC 2 writes it from the entry price; the margin is measured from the reference price,
    which is the entry price until a settlement books the PnL into the margin. For a position
    opened in the cycle the two readings are the same number.
    """
    return reference - margin / size if side == "long" else reference + margin / size


def unrealized_pnl(position: Position, mark: Decimal) -> Decimal:
    """PnL not yet booked: from the reference price to the mark (exact)."""
    return pnl(position.side, position.size, position.reference, mark)


def is_liquidatable(position: Position, mark: Decimal, maintenance_margin_rate: Decimal) -> bool:
    """SPEC 4: margin + unrealized PnL <= maintenance margin rate x size x mark."""
    equity = position.margin + unrealized_pnl(position, mark)
    return equity <= maintenance_margin_rate * position.size * mark


def takeover_result(
    side: Side,
    reference: Decimal,
    margin: Decimal,
    position_size: Decimal,
    price: Decimal,
    fill_size: Decimal,
) -> tuple[Fraction, Fraction]:
    """(loss, surplus) of passing `fill_size` of a taken-over position on at `price`, exactly.

    The system holds the position from the bankruptcy price reference -/+ margin / size; its
    PnL on the fill is fill_size x (price - bankruptcy) by side, which is computed here without
    the rounded division: pnl(reference -> price) + margin x fill_size / position_size.
    """
    result = Fraction(pnl(side, fill_size, reference, price)) + (
        Fraction(margin) * Fraction(fill_size) / Fraction(position_size)
    )
    return (-result, Fraction(0)) if result < 0 else (Fraction(0), result)

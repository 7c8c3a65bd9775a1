"""A takeover's loss or surplus (domain/core/positions.py) from exact arithmetic, booked once."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from domain.core.money import book_exact
from domain.core.positions import takeover_result


def test_a_takeover_loss_is_booked_from_exact_arithmetic() -> None:
    # long 3 @ 10 with margin 1 goes bankrupt at 10 - 1/3; passed on at 9.666666665 it loses
    # exactly 30 - 1 - 28.999999995 = 0.000000005: half a quantum, booked half-even to 0
    loss, surplus = takeover_result(
        "long", Decimal(10), Decimal(1), Decimal(3), Decimal("9.666666665"), Decimal(3)
    )
    assert (loss, surplus) == (Fraction(5, 10**9), Fraction(0))
    assert book_exact(loss, Decimal("0.00000001")) == 0
    assert book_exact(Fraction(15, 10**9), Decimal("0.00000001")) == Decimal("0.00000002")

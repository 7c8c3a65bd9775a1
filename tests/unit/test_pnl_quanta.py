"""`pnl_quanta` books a position's PnL on integers exactly as the decimal booking does."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.core.money import book, stored_text
from domain.core.positions import pnl
from domain.handlers.marking import _digits, pnl_quanta

QUANTUM = Decimal("0.00000001")
decimals = st.decimals(
    min_value=Decimal("0.000000001"), max_value=Decimal("9999999"), places=9, allow_nan=False
)


@given(st.sampled_from(["long", "short"]), decimals, decimals, decimals, st.integers(0, 12))
def test_pnl_in_quanta_is_the_booked_decimal_pnl(
    side: str, size: Decimal, reference: Decimal, mark: Decimal, places: int
) -> None:
    quantum = Decimal(1).scaleb(-places)
    expected = book(pnl(side, size, reference, mark), quantum) / quantum  # type: ignore[arg-type]
    mark_digits = _digits(stored_text(mark))
    got = pnl_quanta(side, stored_text(size), stored_text(reference), mark_digits, places)
    assert got == expected


def test_a_tie_rounds_to_the_even_quantum() -> None:
    # 1 x (100.000000005 - 100) = 0.000000005: half a quantum, to the even 0; 0.000000015 to 2
    assert pnl_quanta("long", "1", "100", _digits("100.000000005"), 8) == 0
    assert pnl_quanta("long", "1", "100", _digits("100.000000015"), 8) == 2
    assert pnl_quanta("short", "1", "100", _digits("100.000000015"), 8) == -2
    assert pnl_quanta("long", "2.5", "99.5", _digits("100"), 8) == 125_000_000

"""How the read models write an amount and read one from an event's state (projections/rows.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.rows import number, plain


def plain_by_format(amount: Decimal) -> str:
    """projections.rows.plain by `format` alone, as it was before its `str` shortcut."""
    return format(amount.copy_abs() if amount.is_zero() else amount, "f")


amounts = st.decimals(allow_nan=False, allow_infinity=False) | st.builds(
    Decimal.scaleb,
    st.decimals(allow_nan=False, allow_infinity=False, places=8),
    st.integers(min_value=-30, max_value=30),
)


@given(amounts)
def test_an_amount_is_written_as_by_format(amount: Decimal) -> None:
    assert plain(amount) == plain_by_format(amount)


@pytest.mark.parametrize(
    "text",
    ["0", "-0", "0E-8", "-0E-8", "0.00000000", "-0.00000000", "1E+2", "1E-7", "0.00000001"],
)
def test_zeros_and_exponents_are_written_plain_and_unsigned(text: str) -> None:
    assert plain(Decimal(text)) == plain_by_format(Decimal(text))
    assert "E" not in plain(Decimal(text)) and not plain(Decimal(text)).startswith("-0")


@pytest.mark.parametrize(
    "stored",
    [
        {"_type_": "decimal_str", "_data_": "12.50000000"},
        "12.50000000",
        Decimal("12.50000000"),
    ],
)
def test_an_amount_is_read_with_its_digits_and_exponent_however_it_is_held(stored: Any) -> None:
    read = number(stored)
    assert type(read) is Decimal
    assert read.as_tuple() == Decimal("12.50000000").as_tuple()


def test_an_int_is_read_as_the_decimal_of_it() -> None:
    assert number(7).as_tuple() == Decimal(7).as_tuple()


@pytest.mark.parametrize(
    "stored",
    [
        1.5,
        True,
        None,
        {"_type_": "uuid_hex", "_data_": "00000000000000000000000000000007"},
        {"_type_": "decimal_str", "_data_": "1", "extra": 1},
        {"_type_": "decimal_str"},
        ["1"],
    ],
)
def test_what_is_no_amount_is_refused(stored: Any) -> None:
    with pytest.raises(TypeError, match="an amount is a decimal"):
        number(stored)

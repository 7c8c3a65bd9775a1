"""The amount columns of a cycle's chunk rows: whole quanta, or plain decimal text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.core.settlement_rows import decode_amount

QUANTUM = Decimal("0.00000001")


def test_an_amount_in_quanta_is_read_at_the_quantum() -> None:
    assert decode_amount(960_000_000, QUANTUM) == Decimal("9.60000000")
    assert decode_amount(-1, QUANTUM) == Decimal("-0.00000001")
    assert decode_amount(0, QUANTUM) == 0


def test_an_amount_upcast_from_an_older_store_is_read_as_its_text() -> None:
    assert decode_amount("9.60", QUANTUM) == Decimal("9.60")


def test_a_boolean_is_no_amount() -> None:
    with pytest.raises(TypeError, match="not a boolean"):
        decode_amount(True, QUANTUM)

"""`pnl_quanta` books a position's PnL on integers exactly as the decimal booking does."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.core.book import Book
from domain.core.money import book, stored_text
from domain.core.positions import pnl
from domain.handlers.marking import (
    _digits,
    booking_rows,
    pnl_quanta,
    profitable_in_quanta,
    profitable_of_book,
)

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


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2)
sizes = st.one_of(
    st.just(Decimal(0)), st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"), places=3)
)
held_records = st.tuples(
    st.sampled_from(["long", "short"]),
    sizes,
    prices,
    st.integers(-(10**6), 10**6),  # realized, in quanta
    st.booleans(),  # liquidated
    st.integers(-(10**5), 10**5),  # realized of a liquidated position booked beside it
)
books = st.dictionaries(
    st.sampled_from(["a", "b", "c", "B", "ab"]),
    st.dictionaries(st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT"]), held_records, min_size=1),
)


@given(books, st.sampled_from(["0.01", "0.00000001", "1"]))
def test_a_replay_ranks_the_profits_the_booking_rows_book(
    records: dict[str, dict[str, tuple[str, Decimal, Decimal, int, bool, int]]], quantum: str
) -> None:
    marks = {"BTCUSDT": Decimal("87959.91"), "ETHUSDT": Decimal("3120.5"), "SOLUSDT": Decimal("1")}
    kept: Book = {
        account: {
            contract: (
                side,
                stored_text(size),
                stored_text(price),
                stored_text(price),
                size > 0,
                0,
                realized,
                liquidated,
                before,
            )
            for contract, (side, size, price, realized, liquidated, before) in positions.items()
        }
        for account, positions in records.items()
    }
    rows = booking_rows(kept, marks, Decimal(quantum))
    assert profitable_of_book(kept, marks, Decimal(quantum)) == profitable_in_quanta(rows)

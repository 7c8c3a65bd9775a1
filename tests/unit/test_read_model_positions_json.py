"""A balance row's positions are stored as the very text json.dumps writes, whatever they hold,
and read back as json.loads reads that text (infrastructure/readmodels/json_text.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from infrastructure.readmodels.json_text import balance_positions, reading_positions

TEXT = st.text()  # any code point: non-ASCII, lone surrogates, quotes, control characters
RECORD = st.fixed_dictionaries({"margin": TEXT, "realized": TEXT})
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner) | st.dictionaries(TEXT, inner),
    max_leaves=8,
)


@given(st.dictionaries(TEXT, RECORD))
def test_positions_of_a_balance_row_are_written_as_json_dumps_writes_them(
    positions: dict[str, dict[str, str]],
) -> None:
    assert balance_positions(positions) == json.dumps(positions)


@given(st.dictionaries(TEXT | st.integers(), RECORD | JSON_VALUE) | JSON_VALUE)
def test_any_other_value_is_written_as_json_dumps_writes_it(value: Any) -> None:
    assert balance_positions(value) == json.dumps(value)


def test_a_record_of_another_order_or_other_figures_is_written_as_json_dumps_writes_it() -> None:
    for value in (
        {"BTC": {"realized": "0", "margin": "1.5"}},
        {"BTC": {"margin": 1, "realized": "0"}},
        {"BTC": {"margin": "1", "realized": "0", "size": "2"}},
        {7: {"margin": "1", "realized": "0"}},
    ):
        assert balance_positions(value) == json.dumps(value)


def as_read(value: Any) -> str:
    """What json.loads reads, every type spelled out (True is no 1, nor 1.0; NaN is NaN)."""
    return repr(value)


@given(st.dictionaries(TEXT, RECORD) | st.dictionaries(TEXT, RECORD | JSON_VALUE) | JSON_VALUE)
def test_stored_positions_are_read_as_json_loads_reads_them(value: Any) -> None:
    text = balance_positions(value)
    assert as_read(reading_positions(json.loads)(text)) == as_read(json.loads(text))


def test_a_text_no_json_reader_takes_is_refused_as_json_loads_refuses_it() -> None:
    def refused(text: str) -> type[BaseException] | None:
        try:
            json.loads(text)
        except ValueError as error:
            return type(error)
        return None

    for text in ('{"BTC": ', '{"BTC": {"margin": "\x01"}}', "NaN", '{"a": 1e999}'):
        try:
            read = reading_positions(json.loads)(text)
        except ValueError as error:
            assert type(error) is refused(text)
        else:
            assert refused(text) is None and as_read(read) == as_read(json.loads(text))

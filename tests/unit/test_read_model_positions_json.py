"""A balance row's positions are stored as the very text json.dumps writes, whatever they hold
(infrastructure/readmodels/json_text.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from infrastructure.readmodels.json_text import balance_positions

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

"""The fuzzed command lines of tests/unit/test_parser_fuzz.py on a real ledger: `execute_batch`
applies a line or refuses it with a LedgerError of one bounded line, and a refused line leaves
the store as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.core.errors import LedgerError
from domain.ledger import ALREADY_APPLIED, APPLIED
from tests.support.fuzzing import ANY_LINES, HOSTILE_SHAPES, fuzz, mutated_commands
from tests.support.ledgers import SpecLedger, assert_one_clear_line, event_count, sqlite_test_ledger


@pytest.fixture(scope="module")
def fuzzed_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpecLedger]:
    """One SQLite ledger for every example (hypothesis runs examples in one test call)."""
    ledger = sqlite_test_ledger(tmp_path_factory.mktemp("fuzz") / "ledger.db")
    ledger.execute_batch(
        [
            '{"type":"open_account","id":"a-alice","account":"alice"}',
            '{"type":"deposit","id":"d-alice","account":"alice","amount":"100"}',
            '{"type":"open_cycle","id":"o-c1","cycle":"c1","marks":{"BTCUSDT":"100"}}',
        ]
    )
    yield ledger
    ledger.close()


@fuzz(300)
@given(
    ANY_LINES
    | st.builds(lambda d: json.dumps(d, allow_nan=True), mutated_commands())
    | HOSTILE_SHAPES
)
def test_execute_line_refuses_with_a_ledger_error_and_writes_nothing(
    fuzzed_ledger: SpecLedger, line: str | bytes
) -> None:
    events_before = event_count(fuzzed_ledger)
    try:
        outcomes = fuzzed_ledger.execute_batch([line])  # type: ignore[list-item]  # bytes are read too
    except LedgerError as error:
        assert_one_clear_line(str(error))
        assert event_count(fuzzed_ledger) == events_before
    else:
        assert outcomes in ([APPLIED], [ALREADY_APPLIED]), outcomes

"""Hostile input: every line of the corpus (tests/corpus/hostile_commands.py), applied alone to a
prepared store, is refused with a clear one-line reason, and the store is byte for byte what it
was (its image: tests/support/hostile.py).

Here the whole corpus goes through `apply_file` and the read models' catch-up on a ledger opened
as `lossledger apply` opens it (`open_with_read_models`), one file per line, on SQLite and on
PostgreSQL; tests/process/test_hostile_input_cli_spec.py sends a subset through the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.commands.json_lines import command_id_for_message
from domain.core.errors import TooManyParticipantsError
from domain.core.limits import IDENTIFIER_PATTERN
from domain.ledger import LossLedger
from infrastructure.apply.runner import apply_file
from infrastructure.readmodels.runner import ReadModels, open_with_read_models
from tests.corpus.hostile_commands import STORES, Case
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.hostile import CASES, PreparedStores, case_id
from tests.support.ledgers import (
    SpecLedger,
    assert_one_clear_line,
    event_count,
    line,
    refusal,
    run,
)
from tests.support.scenarios import three_winners_and_a_crash


@pytest.fixture(scope="class")
def opened(prepared: PreparedStores) -> Iterator[dict[str, tuple[LossLedger, ReadModels]]]:
    """One ledger and its read models per store, opened as `apply` opens them, kept open
    for every case (a refusal must not leave anything behind in the process either)."""
    opened: dict[str, tuple[LossLedger, ReadModels]] = {}
    try:
        for kind in STORES:
            store = prepared[kind]
            opened[kind] = open_with_read_models(store.database.url)
            store.assert_unchanged()  # opening a store writes nothing
        yield opened
    finally:
        for ledger, models in opened.values():
            models.dispose()
            ledger.close()


class HostileLinesSpec:
    """Every line of the corpus, through the code path of `lossledger apply`."""

    @pytest.mark.parametrize("case", CASES, ids=case_id)
    def test_a_hostile_line_is_refused_in_one_line_and_changes_nothing(
        self,
        case: Case,
        prepared: PreparedStores,
        opened: dict[str, tuple[LossLedger, ReadModels]],
        tmp_path: Path,
    ) -> None:
        # Given a prepared store and a file holding only the hostile line
        path = tmp_path / "hostile.jsonl"
        path.write_bytes(case.line + b"\n")
        ledger, models = opened[case.store]
        # When it is applied as `lossledger apply` applies it
        result = apply_file(ledger, path)
        models.catch_up()
        # Then it is refused at line 1 with a clear reason, and nothing is written
        assert not result.ok
        assert result.refused_line == 1
        assert (result.applied, result.already_applied, result.events_written) == (0, 0, 0)
        assert_one_clear_line(result.reason, case.reason)
        prepared[case.store].assert_unchanged()
        quoted_id = command_id_for_message(case.line)
        assert quoted_id is None or re.fullmatch(IDENTIFIER_PATTERN, quoted_id)


class TestHostileLinesOnSQLite(HostileLinesSpec, OnSQLite):
    pass


class TestHostileLinesOnPostgreSQL(HostileLinesSpec, OnPostgreSQL):
    pass


# --- the bound on participants ----------------------------------------------------------------


def test_a_settlement_selecting_more_participants_than_the_bound_writes_nothing(
    ledger: SpecLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three winners to share a deficit, and a bound of two participants per cycle
    *before, settle = three_winners_and_a_crash()
    run(ledger, *before)
    events_before = event_count(ledger)
    monkeypatch.setattr("domain.core.limits.MAX_PARTICIPANTS_PER_CYCLE", 2)
    # When the cycle settles, it is refused and nothing is written
    error = refusal(ledger, settle)
    assert isinstance(error, TooManyParticipantsError)
    assert "would select 3 participants" in str(error)
    assert event_count(ledger) == events_before
    # and with a bound of three it settles
    monkeypatch.setattr("domain.core.limits.MAX_PARTICIPANTS_PER_CYCLE", 3)
    assert ledger.execute_batch([line(settle)]) == ["applied"]

"""Hostile input through the `lossledger apply` process itself: a subset of the corpus, one or
more per category, each applied alone to a prepared store (tests/support/hostile.py): non-zero
exit, one line on stderr naming the line, the command and the reason, nothing written.
"""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from infrastructure.apply.runner import apply_file
from infrastructure.readmodels.runner import open_with_read_models
from tests.corpus.hostile_commands import Case
from tests.support.cli import LOSSLEDGER
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.hostile import (
    BY_NAME,
    PreparedStore,
    PreparedStores,
    case_id,
    differences,
)
from tests.support.ledgers import assert_one_clear_line

MAX_MESSAGE_LENGTH = 500  # characters of the whole error line: the line number, the id, the reason

# Through the process: at least one case of every category, the nastiest first.
CLI_CASES = [
    "truncated_object",
    "side_up",
    "amount_as_float",
    "amount_nan",
    "number_1e999999",
    "mark_a_hundred_thousand_digits",
    "position_size_zero",
    "deposit_to_an_unknown_account",
    "settle_a_cycle_never_opened",
    "position_in_a_settled_cycle",
    "deposit_id_with_another_amount",
    "a_key_with_a_line_break",
    "id_twice",
    "deposit_one_place_too_many",
    "a_line_one_byte_over_the_bound",
    "a_hundred_thousand_open_brackets",
    "a_lone_continuation_byte",
    "an_escaped_lone_high_surrogate",
    "deposit_account_with_forbidden_character_0",
    "liquidate_without_fills",
]
# What the process prints as it is, in one line (docs/hostile-input.md): rich markup in a
# reason, an id with a line break, an id of a hundred thousand characters. How the process
# prints does not depend on the backend: they run on SQLite only.
CLI_PRINTING_CASES = [
    "markup_in_the_type",
    "markup_in_the_account",
    "deposit_id_with_forbidden_character_5",
    "an_id_of_a_hundred_thousand_characters",
]


def cli_params(names: list[str], **failures: str) -> list[Any]:
    params = [pytest.param(BY_NAME[name], id=case_id(BY_NAME[name])) for name in names]
    for name, reason in failures.items():
        mark = pytest.mark.xfail(strict=True, reason=reason)
        params.append(pytest.param(BY_NAME[name], id=case_id(BY_NAME[name]), marks=mark))
    return params


def applied_by_the_process(path: Path, store: PreparedStore) -> subprocess.CompletedProcess[bytes]:
    """`lossledger apply PATH` on the store; its output as bytes, whatever they hold."""
    return subprocess.run(
        [LOSSLEDGER, "apply", str(path), "--db", store.database.url],
        capture_output=True,
        timeout=120,
        check=False,
    )


class HostileCommandLineSpec:
    """`lossledger apply FILE` on a file of one hostile line: the user's view."""

    @pytest.mark.parametrize("case", cli_params(CLI_CASES))
    def test_apply_refuses_a_hostile_line_in_one_line_and_changes_nothing(
        self, case: Case, prepared: PreparedStores, tmp_path: Path
    ) -> None:
        check_the_process_refuses(case, prepared[case.store], tmp_path)

    def test_the_store_image_shows_a_command_that_is_applied(
        self, backend: str, tmp_path: Path
    ) -> None:
        # Given a store prepared as the corpus's are, on its own
        with ExitStack() as stack:
            store = PreparedStores(backend, stack, tmp_path)["open"]
            # When a valid command is applied through apply_file, then through the process
            path = tmp_path / "valid.jsonl"
            path.write_text('{"type":"open_account","id":"v-1","account":"erin"}\n')
            ledger, models = open_with_read_models(store.database.url)
            try:
                assert apply_file(ledger, path).applied == 1
                models.catch_up()
                # Then the image changes: the comparison of the corpus would see a write
                assert differences(store.pristine, store.image())
            finally:
                models.dispose()
                ledger.close()
            written = store.image()
            path.write_text('{"type":"open_account","id":"v-2","account":"fred"}\n')
            process = applied_by_the_process(path, store)
            assert process.returncode == 0, process.stderr
            assert differences(written, store.image())


def check_the_process_refuses(case: Case, store: PreparedStore, tmp_path: Path) -> None:
    # Given a file holding only the hostile line
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(case.line + b"\n")
    # When `lossledger apply` applies it to the prepared store
    process = applied_by_the_process(path, store)
    # Then it exits non-zero with one line naming the line, the command and the reason
    stderr = process.stderr.decode("utf-8", "replace")
    stdout = process.stdout.decode("utf-8", "replace")
    assert process.returncode != 0, stdout
    lines = [text for text in stderr.splitlines() if text.strip()]
    assert len(lines) == 1, f"one line on stderr: {stderr[:2000]!r}"
    message = lines[0]
    assert len(message) <= MAX_MESSAGE_LENGTH, f"{len(message)} characters"
    assert message.startswith("error: line 1: command "), message
    assert_one_clear_line(message.split(" refused: ", 1)[1], case.reason)
    # and nothing is written
    assert "0 events written" in stdout
    store.assert_unchanged()


class TestHostileCommandLineOnSQLite(HostileCommandLineSpec, OnSQLite):
    @pytest.mark.parametrize("case", cli_params(CLI_PRINTING_CASES))
    def test_apply_prints_any_reason_and_id_as_they_are_in_one_line(
        self, case: Case, prepared: PreparedStores, tmp_path: Path
    ) -> None:
        check_the_process_refuses(case, prepared[case.store], tmp_path)


class TestHostileCommandLineOnPostgreSQL(HostileCommandLineSpec, OnPostgreSQL):
    pass

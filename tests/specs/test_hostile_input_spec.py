"""Hostile input (issue 7): every line of the corpus (tests/corpus/hostile_commands.py), applied
alone to a prepared store, is refused with a clear one-line reason, and the store is byte for
byte what it was.

Two paths, on SQLite and on PostgreSQL:
- the whole corpus through `apply_file` and the read models' catch-up on a ledger opened as
  `lossledger apply` opens it (`open_with_read_models`), one file per line;
- a subset, one or more per category, through the `lossledger apply` process itself: non-zero
  exit, one line on stderr naming the line, the command and the reason, nothing written.

The store's image: on SQLite the bytes of the database file and of its write-ahead log (the
-shm file is left out: it is an index of the log that readers update, rebuilt from the log);
on PostgreSQL every row of every table of the test schema as text, in order, and every
sequence's position (a refused command does not even draw an event number).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from domain.commands.json_lines import command_id_for_message
from domain.core.errors import TooManyParticipantsError
from domain.core.limits import IDENTIFIER_PATTERN, require_participants_within_limit
from domain.ledger import LossLedger
from infrastructure.apply.runner import apply_file
from infrastructure.eventstore.database_url import Database, postgres_connection
from infrastructure.readmodels.runner import ReadModels, open_with_read_models
from tests.corpus.hostile_commands import STORES, Case, cases
from tests.support.databases import OnPostgreSQL, OnSQLite, fresh_database
from tests.support.ledgers import SpecLedger, event_count, line, refusal, run
from tests.support.scenarios import three_winners_and_a_crash

LOSSLEDGER = str(Path(sys.executable).parent / "lossledger")
MAX_REASON_LENGTH = 300  # characters of a refusal's reason
MAX_MESSAGE_LENGTH = 500  # characters of the whole error line: the line number, the id, the reason

CASES = cases()
BY_NAME = {case.name: case for case in CASES}
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
# What the process once got wrong (docs/hostile-input.md): a reason printed as rich markup, an
# id echoed with a line break or whole. How the process prints does not depend on the backend:
# they run on SQLite only.
CLI_ONCE_WRONG = [
    "markup_in_the_type",
    "markup_in_the_account",
    "deposit_id_with_forbidden_character_5",
    "an_id_of_a_hundred_thousand_characters",
]


def case_id(case: Case) -> str:
    return f"{case.category}-{case.name}"


def cli_params(names: list[str], **failures: str) -> list[Any]:
    params = [pytest.param(BY_NAME[name], id=case_id(BY_NAME[name])) for name in names]
    for name, reason in failures.items():
        mark = pytest.mark.xfail(strict=True, reason=reason)
        params.append(pytest.param(BY_NAME[name], id=case_id(BY_NAME[name]), marks=mark))
    return params


def test_the_corpus_covers_every_category_with_hand_written_cases() -> None:
    categories = {case.category for case in CASES}
    required = {
        "broken_json", "wrong_type", "json_number", "nan_infinity", "exponent_bomb",
        "too_many_digits", "not_positive", "unknown_reference", "out_of_order", "duplicate_id",
        "unknown_field", "duplicate_key", "finer_than_quantum", "over_bound", "invalid_utf8",
    }  # fmt: skip
    assert required <= categories
    hand = [case for case in CASES if case.origin == "hand"]
    assert len(CASES) >= 200
    assert len(hand) >= 80
    assert {case.category for case in hand} >= required
    assert all(b"\n" not in case.line or case.category == "broken_json" for case in CASES)


# --- the store's image ---------------------------------------------------------------------


def sqlite_image(database: Database) -> dict[str, bytes]:
    file = Path(database.env["SQLITE_DBNAME"])
    log = file.with_name(file.name + "-wal")
    return {"database": file.read_bytes(), "wal": log.read_bytes() if log.exists() else b""}


def postgres_image(connection: Any, schema: str) -> dict[str, bytes]:
    from psycopg import sql

    image: dict[str, bytes] = {}
    tables = connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "ORDER BY table_name",
        (schema,),
    ).fetchall()
    for (table,) in tables:
        query = sql.SQL("SELECT t::text FROM {}.{} AS t ORDER BY 1").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        rows = connection.execute(query).fetchall()
        image[f"table {table}"] = "\n".join(row[0] for row in rows).encode()
    sequences = connection.execute(
        "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = %s "
        "ORDER BY sequence_name",
        (schema,),
    ).fetchall()
    for (sequence,) in sequences:
        query = sql.SQL("SELECT last_value, is_called FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(sequence)
        )
        image[f"sequence {sequence}"] = repr(connection.execute(query).fetchone()).encode()
    assert any(key.startswith("table ") for key in image), f"no table in schema {schema}"
    return image


def differences(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """The parts of the store that changed, for the assertion message."""
    return [
        key for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)
    ]


@dataclass
class PreparedStore:
    database: Database
    image: Callable[[], dict[str, bytes]]
    pristine: dict[str, bytes] = field(default_factory=dict)

    def assert_unchanged(self) -> None:
        changed = differences(self.pristine, self.image())
        assert not changed, f"the store changed: {changed}"


class PreparedStores:
    """The stores of the corpus (STORES), each prepared on first use and kept for the class."""

    def __init__(self, backend: str, stack: ExitStack, tmp_path: Path) -> None:
        self.backend, self.stack, self.tmp_path = backend, stack, tmp_path
        self.stores: dict[str, PreparedStore] = {}

    def __getitem__(self, kind: str) -> PreparedStore:
        if kind not in self.stores:
            self.stores[kind] = self._prepare(kind)
        return self.stores[kind]

    def _prepare(self, kind: str) -> PreparedStore:
        database = self.stack.enter_context(fresh_database(self.backend))
        prefix = self.tmp_path / f"prefix-{kind}.jsonl"
        prefix.write_text("".join(text + "\n" for text in STORES[kind]), encoding="utf-8")
        ledger, models = open_with_read_models(database.url)
        try:
            result = apply_file(ledger, prefix)
            assert result.ok and result.applied == len(STORES[kind]), result.reason
            models.catch_up()
        finally:
            models.dispose()
            ledger.close()
        if database.backend == "sqlite":
            store = PreparedStore(database, lambda: sqlite_image(database))
        else:
            store = PreparedStore(database, self._postgres_image(database))
        store.pristine = store.image()
        return store

    def _postgres_image(self, database: Database) -> Callable[[], dict[str, bytes]]:
        connection = self.stack.enter_context(postgres_connection(database))
        schema = str(database.schema)
        return lambda: postgres_image(connection, schema)


@pytest.fixture(scope="class")
def prepared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PreparedStores]:
    backend = str(request.cls.backend)
    with ExitStack() as stack:
        yield PreparedStores(backend, stack, tmp_path_factory.mktemp("prepared"))


def assert_one_clear_line(reason: str | None, expected: str) -> None:
    assert reason, "a refusal names its reason"
    assert len(reason.splitlines()) == 1, f"one line: {reason!r}"
    assert len(reason) <= MAX_REASON_LENGTH, f"{len(reason)} characters: {reason[:80]!r}..."
    assert re.search(expected, reason, re.IGNORECASE), f"{expected!r} not in {reason!r}"


# --- through apply_file, the whole corpus -------------------------------------------------


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


# --- through the process, a subset ----------------------------------------------------------


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
            process = subprocess.run(
                [LOSSLEDGER, "apply", str(path), "--db", store.database.url],
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert process.returncode == 0, process.stderr
            assert differences(written, store.image())


def check_the_process_refuses(case: Case, store: PreparedStore, tmp_path: Path) -> None:
    # Given a file holding only the hostile line
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(case.line + b"\n")
    # When `lossledger apply` applies it to the prepared store
    process = subprocess.run(
        [LOSSLEDGER, "apply", str(path), "--db", store.database.url],
        capture_output=True,
        timeout=120,
        check=False,
    )
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
    @pytest.mark.parametrize("case", cli_params(CLI_ONCE_WRONG))
    def test_apply_prints_any_reason_and_id_as_they_are_in_one_line(
        self, case: Case, prepared: PreparedStores, tmp_path: Path
    ) -> None:
        check_the_process_refuses(case, prepared[case.store], tmp_path)


class TestHostileCommandLineOnPostgreSQL(HostileCommandLineSpec, OnPostgreSQL):
    pass


# --- the bound on participants ----------------------------------------------------------------


def test_a_selection_at_the_participants_bound_is_allowed_and_one_more_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("domain.core.limits.MAX_PARTICIPANTS_PER_CYCLE", 3)
    require_participants_within_limit(3, "c1")
    with pytest.raises(TooManyParticipantsError, match="would select 4 participants, more than"):
        require_participants_within_limit(4, "c1")


def test_the_participants_bound_is_ten_million() -> None:
    require_participants_within_limit(10_000_000, "c1")
    with pytest.raises(TooManyParticipantsError, match="more than the 10000000 a cycle may have"):
        require_participants_within_limit(10_000_001, "c1")


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
    assert ledger.apply_lines([line(settle)]) == ["applied"]

"""Commands that only read a ledger never create one: on a URL where no ledger is stored they
exit 2 with one line, "no ledger at URL", and leave no file, schema or table behind. Only
`apply`, `demo` and `token create` create a store (what "a ledger is stored" means:
infrastructure/eventstore/database_url.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infrastructure.eventstore.database_url import (
    parse_database,
    postgres_admin,
    postgres_connection,
)
from tests.support.crashing import run
from tests.support.databases import POSTGRES_URL, SKIP_POSTGRES
from tests.support.http_server import free_port


def reading(command: str, tmp_path: Path) -> list[str]:
    """The arguments of a command that must not create a store."""
    return {
        "verify": ["verify"],
        "cycle show": ["cycle", "show", "c1"],
        "cycle replay": ["cycle", "replay", "c1"],
        "explain": ["explain", "W1", "--cycle", "c1"],
        "history": ["history", "W1"],
        "reconcile": ["reconcile"],
        "audit export": ["audit", "export", "c1", "--out", str(tmp_path / "export")],
        "serve": ["serve", "--port", str(free_port())],
        "projections rebuild": ["projections", "rebuild"],
        "projections follow": ["projections", "follow", "--max-seconds", "1"],
    }[command]


READING = [
    "verify",
    "cycle show",
    "cycle replay",
    "explain",
    "history",
    "reconcile",
    "audit export",
    "serve",
    "projections rebuild",
    "projections follow",
]


@dataclass(frozen=True)
class Absent:
    """A URL where no ledger is stored, and what of it exists (which must stay nothing)."""

    url: str
    left_behind: Callable[[], list[str]]


def fresh_postgres_name() -> str:
    """A schema or database name nobody used (the PostgreSQL specs skip only on request)."""
    if SKIP_POSTGRES:
        pytest.skip("PostgreSQL skipped on request: LOSSLEDGER_SKIP_POSTGRES=1")
    return f"t_{uuid.uuid4().hex[:16]}"


def postgres_rows(url: str, statement: str, *parameters: str) -> list[str]:
    with postgres_connection(parse_database(url)) as connection:
        return [str(row[0]) for row in connection.execute(statement.encode(), parameters)]


class NoLedgerSpec:
    @pytest.mark.parametrize("command", READING)
    def test_a_command_that_reads_exits_2_in_one_line_and_creates_nothing(
        self, command: str, absent: Absent, tmp_path: Path
    ) -> None:
        # Given a URL where no ledger is stored
        # When a command that reads a ledger is run on it
        done = run(*reading(command, tmp_path), db=absent.url)
        # Then it says so in one line and exits 2
        assert done.stderr.splitlines() == [f"error: no ledger at {absent.url}"], done.stderr
        assert (done.returncode, done.stdout) == (2, "")
        # And no file, schema, table or export directory was created
        assert absent.left_behind() == []
        assert not (tmp_path / "export").exists()

    def test_token_create_creates_the_store_that_reading_commands_then_find(
        self, absent: Absent
    ) -> None:
        created = run("token", "create", "--role", "auditor", db=absent.url)
        assert created.returncode == 0, created.stderr
        verified = run("verify", db=absent.url)
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.startswith("verified 0 events")


class TestNoLedgerInASQLiteFile(NoLedgerSpec):
    @pytest.fixture
    def absent(self, tmp_path: Path) -> Absent:
        directory = tmp_path / "stores"
        directory.mkdir()
        return Absent(
            f"sqlite:///{directory / 'typo.db'}",
            lambda: sorted(p.name for p in directory.iterdir()),
        )

    def test_a_file_that_holds_no_ledger_is_no_ledger_and_stays_as_it_was(
        self, tmp_path: Path
    ) -> None:
        # Given a file that is not a ledger, and a SQLite database without the ledger's tables
        for name, content in [("notes.db", b"someone's notes"), ("empty.db", b"")]:
            file = tmp_path / name
            file.write_bytes(content)
            done = run("verify", db=f"sqlite:///{file}")
            assert done.returncode == 2, done.stderr
            assert f"no ledger at sqlite:///{file}" in done.stderr
            assert file.read_bytes() == content


class TestNoLedgerInAPostgreSQLSchema(NoLedgerSpec):
    @pytest.fixture
    def absent(self) -> Iterator[Absent]:
        schema = fresh_postgres_name()
        url = f"{POSTGRES_URL}?schema={schema}"
        namespaces = "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = %s"
        try:
            yield Absent(url, lambda: postgres_rows(url, namespaces, schema))
        finally:
            postgres_admin(parse_database(url), f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class TestNoLedgerInAPostgreSQLDatabase(NoLedgerSpec):
    """A URL without a schema: the ledger would be in `public` of a database of its own."""

    @pytest.fixture
    def absent(self) -> Iterator[Absent]:
        name = fresh_postgres_name()
        url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
        server = parse_database(POSTGRES_URL)
        postgres_admin(server, f'CREATE DATABASE "{name}"')
        tables = "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public'"
        try:
            yield Absent(url, lambda: postgres_rows(url, tables))
        finally:
            postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

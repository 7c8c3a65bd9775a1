"""A database URL names one database: the event store and the read models both open it, a URL
either side would read differently is refused in one line, and reading a URL creates nothing
(infrastructure/eventstore/database_url.py)."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from infrastructure.eventstore.database_url import (
    Database,
    DatabaseUrlError,
    create_store_place,
    open_ledger,
    parse_database,
    sqlite_url,
)
from infrastructure.readmodels.runner import ReadModels
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import line, market
from tests.support.tampering import Store

# What made the committed `postgresql:` directory: a PostgreSQL URL handed on as a SQLite path.
POSTGRESQL_INSIDE_SQLITE = "sqlite:///postgresql://postgres@127.0.0.1:5432/test?schema=t_x"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (POSTGRESQL_INSIDE_SQLITE, "'?'"),
        ("sqlite:///postgresql://postgres@127.0.0.1:5432/test", "'://'"),
        ("sqlite:///postgresql:/postgres@127.0.0.1:5432/test", "'postgresql:'"),
        ("sqlite:///ledger.db?mode=ro", "'?'"),
        ("sqlite:///file:ledger.db", "'file:'"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_a_sqlite_path_that_is_not_a_plain_file_name_is_refused_in_one_line(
    url: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a working directory with nothing in it
    monkeypatch.chdir(tmp_path)
    # When the URL is read
    with pytest.raises(DatabaseUrlError) as refused:
        parse_database(url)
    # Then it is refused with one line naming the problem, and nothing was created
    message = str(refused.value)
    assert problem in message, message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test?schema=t_a&schema=t_b", "one schema"),
        ("postgresql://postgres@127.0.0.1:5432/test?sslmode=require", "'sslmode'"),
        ("postgresql://postgres@127.0.0.1:5432/test?schema=", "schema must be"),
        ("postgresql://postgres@127.0.0.1:5432/test/more", "one database"),
        ("postgresql://postgres@127.0.0.1:port/test", "port"),
    ],
)
def test_a_postgresql_url_with_a_part_one_side_would_ignore_is_refused_in_one_line(
    url: str, problem: str
) -> None:
    with pytest.raises(DatabaseUrlError) as refused:
        parse_database(url)
    message = str(refused.value)
    assert problem in message, message
    assert "\n" not in message


def test_a_postgresql_url_made_into_a_path_is_refused_as_a_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a PostgreSQL URL handed on where a SQLite file was expected (a Path collapses '//')
    monkeypatch.chdir(tmp_path)
    mistaken = Path(POSTGRESQL_INSIDE_SQLITE.removeprefix("sqlite:///"))
    # Then no SQLite URL is made of it, and no directory named 'postgresql:' either
    with pytest.raises(DatabaseUrlError, match="cannot contain '\\?'"):
        sqlite_url(mistaken)
    assert list(tmp_path.iterdir()) == []
    assert sqlite_url(tmp_path / "ledger.db") == f"sqlite:///{tmp_path / 'ledger.db'}"


def test_reading_a_sqlite_url_creates_no_directory(tmp_path: Path) -> None:
    # Given a URL whose file lies in directories that do not exist
    url = f"sqlite:///{tmp_path / 'new' / 'place' / 'ledger.db'}"
    # When it is read
    parse_database(url)
    # Then nothing exists yet
    assert not (tmp_path / "new").exists()


def test_opening_a_ledger_in_a_directory_that_does_not_exist_creates_it(tmp_path: Path) -> None:
    file = tmp_path / "new" / "place" / "ledger.db"
    ledger = open_ledger(f"sqlite:///{file}")
    try:
        ledger.execute_batch([line(document) for document in market(["alice"])])
    finally:
        ledger.close()
    assert file.is_file()


def test_a_fresh_sqlite_file_is_put_in_wal_mode_once_another_writer_lets_go(
    tmp_path: Path,
) -> None:
    """Changing a file's journal mode while another connection holds a write lock answers
    "database is locked" at once, busy timeout or not: processes opening a fresh store at the
    same instant met it. The store's place waits for the lock, then puts the file in WAL mode,
    the mode the event store would have set."""
    file = tmp_path / "ledger.db"
    writer = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other_writer (x)")
    writer.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite3.connect(file, timeout=5).execute("PRAGMA journal_mode=WAL")
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    create_store_place(parse_database(sqlite_url(file)))
    assert time.monotonic() - started >= 0.25  # it waited for the other writer
    with closing(sqlite3.connect(file)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    writer.close()


def check_one_database(database: Database) -> None:
    """Events written through the ledger, projected by the read models of the same URL: the
    read models' rows lie in the database (and schema) the event store's settings name."""
    ledger = open_ledger(database.url)
    models = ReadModels(ledger, database)
    try:
        ledger.execute_batch([line(document) for document in market(["alice", "bob"])])
        written = int(ledger.recorder.max_notification_id() or 0)
        models.catch_up()
        store = Store(database)  # the event store's database, reached with its settings
        assert store.sql("SELECT position FROM ll_tracking") == [(written,)]
        assert store.sql("SELECT account FROM ll_balances ORDER BY account") == [
            ("alice",),
            ("bob",),
        ]
        assert len(store.positions()) == written
    finally:
        models.dispose()
        ledger.close()


class OneDatabaseSpec:
    backend: str

    def test_the_read_models_write_into_the_database_the_event_store_opens(
        self, database: Database
    ) -> None:
        check_one_database(database)


class TestOneDatabaseOnSQLite(OneDatabaseSpec, OnSQLite):
    def test_a_file_name_with_percent_signs_and_hashes_is_one_file_for_both(
        self, tmp_path: Path
    ) -> None:
        # Given a file name that URL decoding would change
        database = parse_database(f"sqlite:///{tmp_path / 'odd%20name #1.db'}")
        # When the ledger and the read models write through it
        check_one_database(database)
        # Then they wrote one file, under the name as written (and its WAL and SHM files)
        assert {path.name for path in tmp_path.iterdir()} <= {
            "odd%20name #1.db",
            "odd%20name #1.db-wal",
            "odd%20name #1.db-shm",
        }


class TestOneDatabaseOnPostgreSQL(OneDatabaseSpec, OnPostgreSQL):
    pass

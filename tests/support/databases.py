"""The databases the specifications run on: a fresh SQLite file, or a fresh PostgreSQL schema.

PostgreSQL is the machine's server at 127.0.0.1:5432 (override with LOSSLEDGER_TEST_POSTGRES).
Its tests never skip silently: only LOSSLEDGER_SKIP_POSTGRES=1 skips them, and says so.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from psycopg.sql import SQL

from infrastructure.eventstore.database_url import (
    Database,
    ensure_schema,
    parse_database,
    postgres_admin,
)

POSTGRES_URL = os.environ.get(
    "LOSSLEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
SKIP_POSTGRES = os.environ.get("LOSSLEDGER_SKIP_POSTGRES") == "1"

# What to close before a fresh database is removed: ledgers opened on it, by database URL.
database_closers: dict[str, list[Callable[[], None]]] = {}


class OnSQLite:
    """Run the spec on the embedded default: a SQLite file."""

    backend = "sqlite"


class OnPostgreSQL:
    """Run the spec on the production backend: PostgreSQL, in a schema of its own."""

    backend = "postgresql"


def _drop_schema(database: Database) -> None:
    postgres_admin(database, f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE')


@contextmanager
def fresh_database(backend: str) -> Iterator[Database]:
    """A database no test has used, removed afterwards (ledgers opened on it closed first)."""
    with _fresh(backend) as database:
        try:
            yield database
        finally:
            for close in database_closers.pop(database.url, []):
                close()


@contextmanager
def _fresh(backend: str) -> Iterator[Database]:
    if backend == "postgresql":
        if SKIP_POSTGRES:
            pytest.skip("PostgreSQL skipped on request: LOSSLEDGER_SKIP_POSTGRES=1")
        database = parse_database(f"{POSTGRES_URL}?schema=t_{uuid.uuid4().hex[:16]}")
        ensure_schema(database)
        try:
            yield database
        finally:
            _drop_schema(database)
        return
    with tempfile.TemporaryDirectory() as directory:
        yield parse_database(f"sqlite:///{Path(directory) / 'ledger.db'}")


BULK_AGGREGATES = 40_000  # of 5 events each: 200,000 events


@contextmanager
def unanalyzed_bulk(recorder: Any) -> Iterator[list[uuid.UUID]]:
    """A PostgreSQL events table made large behind the planner's back: 200,000 events of
    40,000 aggregates (topic 'bulk'), never analyzed, as after a bulk load with autovacuum
    off. Yields the aggregates' ids; removes the events afterwards, so that the ledger's own
    checks read only its events."""
    events = recorder._events()  # the chained recorder of infrastructure/eventstore/postgres.py
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(
            SQL(
                "INSERT INTO {events} (originator_id, originator_version, topic, state) "
                "SELECT md5('bulk' || g)::uuid, v, 'bulk', '\\x00' "
                "FROM generate_series(1, %s) AS g, generate_series(1, 5) AS v"
            ).format(events=events),
            (BULK_AGGREGATES,),
        )
        try:
            yield [
                uuid.UUID(hashlib.md5(f"bulk{g}".encode()).hexdigest())
                for g in range(1, BULK_AGGREGATES + 1)
            ]
        finally:
            curs.execute(SQL("DELETE FROM {events} WHERE topic = 'bulk'").format(events=events))

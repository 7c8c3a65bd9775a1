"""The hostile corpus applied to prepared stores, and the store's image that shows any write.

The store's image: on SQLite the bytes of the database file and of its write-ahead log (the
-shm file is left out: it is an index of the log that readers update, rebuilt from the log);
on PostgreSQL every row of every table of the test schema as text, in order, and every
sequence's position (a refused command does not even draw an event number).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from infrastructure.apply.runner import apply_file
from infrastructure.eventstore.database_url import Database, postgres_connection
from infrastructure.readmodels.runner import open_with_read_models
from tests.corpus.hostile_commands import STORES, Case, cases
from tests.support.databases import fresh_database
from tests.support.ledgers import write_lines

CASES = cases()
BY_NAME = {case.name: case for case in CASES}


def case_id(case: Case) -> str:
    return f"{case.category}-{case.name}"


# --- the store's image ---------------------------------------------------------------------


def sqlite_image(database: Database) -> dict[str, bytes]:
    file = Path(database.env["SQLITE_DBNAME"])
    log = file.with_name(file.name + "-wal")
    return {"database": file.read_bytes(), "wal": log.read_bytes() if log.exists() else b""}


def postgres_image(connection: Any, schema: str) -> dict[str, bytes]:
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
    """The stores of the corpus (STORES), each prepared on first use and kept for the class
    (the `prepared` fixture of tests/conftest.py)."""

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
        write_lines(prefix, STORES[kind])
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

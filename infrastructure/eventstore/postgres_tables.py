"""The PostgreSQL store's tables: created under one advisory lock per schema, with the events'
state column stored uncompressed.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from eventsourcing.persistence import ProgrammingError
from psycopg import Connection
from psycopg.errors import LockNotAvailable
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

# how long an open waits for the events table's lock to change the state column's storage;
# readers queue behind the waiting ALTER, so it gives up soon and a later open sets it
STORAGE_LOCK_TIMEOUT = "1s"

logger = logging.getLogger("lossledger.eventstore")

logger = logging.getLogger("lossledger.eventstore")


def creation_lock_key(schema: str) -> int:
    """The advisory lock under which a schema's tables are created."""
    digest = hashlib.sha256(f"lossledger:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LockedCreation:
    """Tables created with an advisory lock held (one per schema, shared by every recorder of
    the store): two processes opening one store at the same instant would otherwise collide in
    eventsourcing's CREATE TYPE ("pg_type_typname_nsp_index") and CREATE OR REPLACE FUNCTION
    ("tuple concurrently updated"), for the events and for the snapshots alike."""

    datastore: Any
    events_table_name: str
    uncompressed_columns: tuple[str, ...] = ()

    def create_table(self) -> None:
        key = creation_lock_key(self.datastore.schema)
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                super().create_table()  # type: ignore[misc]
                for column in self.uncompressed_columns:
                    store_uncompressed(conn, self.datastore.schema, self.events_table_name, column)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def store_uncompressed(conn: Connection[DictRow], schema: str, table: str, column: str) -> None:
    """Storage EXTERNAL for the column: large values out of line, never compressed (pglz took
    2.5 s of server CPU for a settlement's chunks: docs/storage.md). A catalog read when set;
    otherwise an ALTER that changes the catalog only (values stored before stay as they are)
    under an ACCESS EXCLUSIVE lock, waited for STORAGE_LOCK_TIMEOUT at most."""
    row = conn.execute(
        "SELECT a.attstorage FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s AND NOT a.attisdropped",
        (schema, table, column),
    ).fetchone()
    if row is None:
        raise ProgrammingError(f"no column {column} in {schema}.{table}")
    if row["attstorage"] == "e":
        return
    try:
        with conn.transaction():
            conn.execute(SQL("SET LOCAL lock_timeout = {}").format(STORAGE_LOCK_TIMEOUT))
            conn.execute(
                SQL("ALTER TABLE {}.{} ALTER COLUMN {} SET STORAGE EXTERNAL").format(
                    Identifier(schema), Identifier(table), Identifier(column)
                )
            )
    except LockNotAvailable:
        logger.warning(
            "%s.%s is busy: %s stays compressed until the ledger opens it again",
            schema,
            table,
            column,
        )

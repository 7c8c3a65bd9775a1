"""The notification log as the read-model runner reads it: one SQL select of the five columns a
batch needs, the rows kept as tuples.

The library's `select_notifications` reads the same rows (every event after a position, in log
order, up to a limit) and makes a `Notification` of each, its aggregate id a `UUID`; the runner
needs the aggregate id as text (the balance row's key), and decodes nine in ten events from their
stored state alone. Here the id arrives as text (`str(UUID)`'s form), and a `Notification` is
made only for an event the mapper decodes (`LoggedEvent.stored`).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import Connection

from infrastructure.eventstore.chain import stored_bytes

HEX_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)  # how the SQLite recorder stores an aggregate id


class LoggedEvent(NamedTuple):
    """One event of the log: its position, its aggregate's id as `str(UUID)` writes it, its
    version, its stored topic and its stored state."""

    id: int
    key: str
    originator_version: int
    topic: str
    state: bytes

    @property
    def originator_id(self) -> UUID:
        return UUID(self.key)

    def stored(self) -> Notification:
        """The event as `select_notifications` gives it: what the mapper decodes."""
        return Notification(
            id=self.id,
            originator_id=UUID(self.key),
            originator_version=self.originator_version,
            topic=self.topic,
            state=self.state,
        )


def as_text(stored_id: str) -> str:
    """An aggregate id as the SQLite recorder stores it (32 hex digits), as `str(UUID)` writes
    it; any other form as the recorder's `UUID(...)` reads it."""
    if HEX_ID.fullmatch(stored_id):
        return (
            f"{stored_id[:8]}-{stored_id[8:12]}-{stored_id[12:16]}-"
            f"{stored_id[16:20]}-{stored_id[20:]}"
        )
    return str(UUID(stored_id))


class LogReader:
    """Reads the events after a position, at most `limit`, in log order, as the ledger's
    recorder stores them (its table, in its schema), on the runner's own connection."""

    def __init__(self, recorder: Any, backend: str) -> None:
        self.postgres = backend == "postgresql"
        table = str(recorder.events_table_name)
        if self.postgres:
            name = f'"{recorder.datastore.schema}"."{table}"'
            self.sql = (
                f"SELECT notification_id, originator_id::text, originator_version, topic, state "  # noqa: S608 - the recorder's own table
                f"FROM {name} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
            )
        else:
            self.sql = (
                f'SELECT rowid, originator_id, originator_version, topic, state FROM "{table}" '  # noqa: S608 - the recorder's own table
                f"WHERE rowid > ? ORDER BY rowid LIMIT ?"
            )

    def after(self, connection: Connection, start: int, limit: int) -> list[LoggedEvent]:
        """The events after position `start`, at most `limit` (a transaction of the
        connection's begun here is left for the caller to end)."""
        driver = connection.connection.driver_connection
        if driver is None:  # pragma: no cover - a live connection always has one
            raise RuntimeError("no driver connection")
        if self.postgres:
            with driver.cursor(binary=True) as cursor:
                cursor.execute(self.sql, (start, limit))
                rows = cursor.fetchall()
            return [
                LoggedEvent(row[0], row[1], row[2], row[3], stored_bytes(row[4])) for row in rows
            ]
        cursor = driver.cursor()
        try:
            rows = cursor.execute(self.sql, (start, limit)).fetchall()
        finally:
            cursor.close()
        return [LoggedEvent(row[0], as_text(row[1]), row[2], row[3], row[4]) for row in rows]

"""Raw access to a store, as an attacker (or a careless operator) with database rights has."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infrastructure.eventstore.database_url import Database, postgres_connection


class Store:
    """The events and chain tables of one test database, reached around the ledger."""

    def __init__(self, database: Database) -> None:
        self.database = database
        if database.backend == "sqlite":
            self.events, self.chain, self.position = "stored_events", "stored_events_chain", "rowid"
        else:
            self.events = "lossledger_events"
            self.chain = "lossledger_events_chain"
            self.position = "notification_id"

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        env = self.database.env
        if self.database.backend == "sqlite":
            connection = sqlite3.connect(env["SQLITE_DBNAME"])
            try:
                yield connection
                connection.commit()
            finally:
                connection.close()
            return
        with postgres_connection(self.database, search_path=self.database.schema) as postgres:
            yield postgres

    def sql(self, statement: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        marker = "?" if self.database.backend == "sqlite" else "%s"
        with self._connection() as connection:
            cursor = connection.execute(statement.replace("?", marker), parameters)
            return list(cursor.fetchall()) if cursor.description else []

    def row(self, position: int) -> tuple[Any, ...]:
        return self.sql(
            f"SELECT originator_id, originator_version, topic, state FROM {self.events} "
            f"WHERE {self.position} = ?",
            (position,),
        )[0]

    def positions(self) -> list[int]:
        return [
            r[0]
            for r in self.sql(f"SELECT {self.position} FROM {self.events} ORDER BY {self.position}")
        ]

    def update_state(self, position: int, state: bytes) -> None:
        self.sql(f"UPDATE {self.events} SET state = ? WHERE {self.position} = ?", (state, position))

    def delete(self, position: int) -> None:
        self.sql(f"DELETE FROM {self.events} WHERE {self.position} = ?", (position,))

    def insert(self, position: int, row: tuple[Any, ...]) -> None:
        self.sql(
            f"INSERT INTO {self.events} ({self.position}, originator_id, "
            "originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
            (position, *row),
        )

    def replace(self, position: int, row: tuple[Any, ...]) -> None:
        """Put another event's content at a position (keeps the position's key unique)."""
        self.sql(
            f"UPDATE {self.events} SET originator_id = ?, originator_version = ?, "
            f"topic = ?, state = ? WHERE {self.position} = ?",
            (*row, position),
        )

    def swap(self, first: int, second: int) -> None:
        one, two = self.row(first), self.row(second)
        placeholder = (one[0], -first, one[2], one[3])  # a free key while the rows trade places
        self.replace(first, placeholder)
        self.replace(second, one)
        self.replace(first, two)

"""The audit chain: every stored event linked to the one before it by SHA-256.

chain_hash(n) = SHA-256(chain_hash(n - 1) || canonical(event n)), with chain_hash(0) = 32 zero
bytes, written by the event store's own recorder in the transaction that inserts the event
(docs/audit-format.md gives the byte layout). The recorders below subclass eventsourcing's
SQLite and PostgreSQL application recorders; the factories are what PERSISTENCE_MODULE names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ProgrammingError, RecordConflictError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from infrastructure.eventstore.store import READ_VERSIONS, ApplicationEventStore
from infrastructure.tools import faults

GENESIS = bytes(32)
DOMAIN_TAG = b"lossledger-chain-v1\n"
PAGE = 10_000
# events per INSERT statement of one save (a settlement's save is hundreds of thousands)
INSERT_CHUNK = 10_000


def canonical(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The bytes of one event that the chain covers (docs/audit-format.md)."""
    topic_bytes = topic.encode("utf-8")
    return b"".join(
        (
            DOMAIN_TAG,
            position.to_bytes(8, "big"),
            originator_id.bytes,
            version.to_bytes(8, "big"),
            len(topic_bytes).to_bytes(4, "big"),
            topic_bytes,
            len(state).to_bytes(8, "big"),
            state,
        )
    )


def link(previous: bytes, position: int, event: StoredEvent) -> bytes:
    originator_id = event.originator_id
    if not isinstance(originator_id, UUID):
        originator_id = UUID(str(originator_id))
    body = canonical(position, originator_id, event.originator_version, event.topic, event.state)
    return hashlib.sha256(previous + body).digest()


def _bytes(value: object) -> bytes:
    """A stored state as bytes; a state someone rewrote as text is read as its UTF-8 bytes."""
    if value is None:  # a state someone erased: it cannot match its chain hash
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a stored state is bytes, not {type(value).__name__}")


def _require_as_read(key: UUID, version: int, stored: object) -> None:
    """An aggregate the batch only read must not have changed since (a lost update else)."""
    if stored != version:
        raise RecordConflictError(
            f"aggregate {key} was read at version {version} and is now at version {stored}: "
            "another writer changed it"
        )


@dataclass(frozen=True)
class ChainedRow:
    """One position of the log as stored: the event (if any) and its chain hash (if any)."""

    position: int
    event: StoredEvent | None
    chain_hash: bytes | None


class SQLiteChainedRecorder(SQLiteApplicationRecorder):
    @property
    def chain_table(self) -> str:
        return f"{self.events_table_name}_chain"

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.chain_table} "
            "(position INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL)",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = self._insert_many(c, stored_events)
        c.execute(f"SELECT chain_hash FROM {self.chain_table} ORDER BY position DESC LIMIT 1")
        row = c.fetchone()
        previous = bytes(row[0]) if row else GENESIS
        links = []
        for position, event in zip(positions, stored_events, strict=True):
            previous = link(previous, position, event)
            links.append((position, previous))
        c.executemany(f"INSERT INTO {self.chain_table} (position, chain_hash) VALUES (?, ?)", links)
        for key, version in (kwargs.get(READ_VERSIONS) or {}).items():
            c.execute(
                f"SELECT max(originator_version) FROM {self.events_table_name} "
                "WHERE originator_id = ?",
                (key.hex,),
            )
            _require_as_read(key, version, c.fetchone()[0])
        faults.inserting(stored_events)
        return positions

    def _insert_many(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> list[int]:
        """One executemany instead of the library's execute per event (a fifth faster). Under
        the write lock a table without AUTOINCREMENT gives each new row max(rowid) + 1, so the
        positions are the next ones in order; the count is checked."""
        c.execute(f"SELECT max(rowid) FROM {self.events_table_name}")
        last = int(c.fetchone()[0] or 0)
        c.executemany(
            self.insert_events_statement,
            [
                (
                    e.originator_id.hex if isinstance(e.originator_id, UUID) else e.originator_id,
                    e.originator_version,
                    e.topic,
                    e.state,
                )
                for e in stored_events
            ],
        )
        c.execute(f"SELECT max(rowid) FROM {self.events_table_name}")
        if int(c.fetchone()[0] or 0) != last + len(stored_events):
            raise RuntimeError("stored events did not take the next positions in order")
        return list(range(last + 1, last + 1 + len(stored_events)))

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        faults.reached("insert_committed")
        return positions

    def chain_head(self) -> tuple[int, bytes] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, chain_hash FROM {self.chain_table} "
                "ORDER BY position DESC LIMIT 1"
            )
            row = c.fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def chained_rows(self, start: int = 1) -> Iterator[ChainedRow]:
        """Every position from `start` on, in order: events and chain rows side by side."""
        statement = (
            "SELECT p.position, e.originator_id, e.originator_version, e.topic, e.state, "
            "c.chain_hash FROM ("
            f"  SELECT rowid AS position FROM {self.events_table_name} WHERE rowid > ? "
            f"  UNION SELECT position FROM {self.chain_table} WHERE position > ?"
            ") AS p "
            f"LEFT JOIN {self.events_table_name} AS e ON e.rowid = p.position "
            f"LEFT JOIN {self.chain_table} AS c ON c.position = p.position "
            "ORDER BY p.position LIMIT ?"
        )
        after = start - 1
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, (after, after, PAGE))
                rows = c.fetchall()
            for row in rows:
                event = None
                if row[1] is not None:
                    event = StoredEvent(UUID(row[1]), int(row[2]), str(row[3]), _bytes(row[4]))
                yield ChainedRow(int(row[0]), event, None if row[5] is None else bytes(row[5]))
            if len(rows) < PAGE:
                return
            after = int(rows[-1][0])

    def existing_originators(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of the given aggregates have events: one query for a batch's lookups."""
        marks = ",".join("?" * len(originator_ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT DISTINCT originator_id FROM {self.events_table_name} "
                f"WHERE originator_id IN ({marks})",
                [i.hex for i in originator_ids],
            )
            return {UUID(row[0]) for row in c.fetchall()}

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of the given aggregates, by aggregate and version: one query for many
        aggregates (a replay folds every account of a cycle)."""
        marks = ",".join("?" * len(originator_ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE originator_id IN ({marks}) "
                "ORDER BY originator_id, originator_version",
                [i.hex for i in originator_ids],
            )
            rows = c.fetchall()
        return [StoredEvent(UUID(r[0]), int(r[1]), str(r[2]), _bytes(r[3])) for r in rows]


class SQLiteChainedFactory(SQLiteFactory):
    application_recorder_class = SQLiteChainedRecorder

    def ledger_event_store(self, application: Application[UUID]) -> ApplicationEventStore:
        return ApplicationEventStore(application)


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

    def create_table(self) -> None:
        key = creation_lock_key(self.datastore.schema)
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                super().create_table()  # type: ignore[misc]
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


class PostgresLockedAggregateRecorder(LockedCreation, PostgresAggregateRecorder):
    """The snapshots' recorder, its table created under the store's lock."""


class PostgresChainedRecorder(LockedCreation, PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chain_table = f"{self.events_table_name}_chain"
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} "
                "(position bigint PRIMARY KEY, chain_hash bytea NOT NULL)"
            ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.chain_table))
        )

    def _chain(self) -> Any:
        return SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.chain_table)
        )

    def _events(self) -> Any:
        return SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
        )

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """First in the insert's transaction: with the events table locked as the insert will
        lock it, every other writer's commit is visible, and the aggregates the batch only
        read must be as read. Raised here, outside the library's try, the error rolls back."""
        super()._insert_events(curs, stored_events, **kwargs)
        read = kwargs.get(READ_VERSIONS) or {}
        if not read:
            return
        self._lock_table(curs)
        for key, version in read.items():
            curs.execute(
                SQL(
                    "SELECT max(originator_version) AS v FROM {events} WHERE originator_id = %s"
                ).format(events=self._events()),
                (key,),
            )
            row = curs.fetchone()
            _require_as_read(key, version, None if row is None else row["v"])

    def _insert_in_chunks(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> list[int]:
        """The library's insert, one statement per INSERT_CHUNK events, and the notification
        ids the statements return. A settlement of a million positions is about 890,000
        events: in one statement, a bind message of over a gigabyte, which PostgreSQL refuses
        ("invalid message length") by closing the connection. Same transaction, the table
        locked by the first chunk's step (again by the others: a no-op, as is their repeated
        NOTIFY, which PostgreSQL delivers once): the save stays atomic and its ids consecutive."""
        positions: list[int] = []
        for start in range(0, len(stored_events), INSERT_CHUNK):
            self._insert_stored_events(curs, stored_events[start : start + INSERT_CHUNK], **kwargs)
            positions += [row["notification_id"] for row in curs.fetchall()]
        if len(positions) != len(stored_events):
            raise ProgrammingError(
                f"inserted {len(stored_events)} events, got {len(positions)} notification ids"
            )
        return positions

    def _write_chain(
        self, curs: Cursor[DictRow], positions: Sequence[int], stored_events: Sequence[StoredEvent]
    ) -> None:
        # Runs inside the insert's transaction, with the events table locked in EXCLUSIVE mode.
        curs.execute(
            SQL("SELECT chain_hash FROM {chain} ORDER BY position DESC LIMIT 1").format(
                chain=self._chain()
            )
        )
        row = curs.fetchone()
        previous = bytes(row["chain_hash"]) if row else GENESIS
        links = []
        for position, event in zip(positions, stored_events, strict=True):
            previous = link(previous, position, event)
            links.append((position, previous))
        curs.executemany(
            SQL("INSERT INTO {chain} (position, chain_hash) VALUES (%s, %s)").format(
                chain=self._chain()
            ),
            links,
        )
        faults.inserting(stored_events)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's steps, in one plain transaction instead of its pipeline mode: a save of
        a megabyte (a 1,000-command batch) could hang there for good, the client in
        Pipeline.sync and the server in ClientRead (seen at 100k positions; psycopg #685), and
        an error raised after the insert was committed before it was re-raised. Here any error
        rolls the whole save back."""
        positions: Sequence[int] | None = []
        if stored_events:
            with (
                self.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor() as curs,
            ):
                self._insert_events(curs, stored_events, **kwargs)
                positions = self._insert_in_chunks(curs, stored_events, **kwargs)
                self._write_chain(curs, positions, stored_events)
        faults.reached("insert_committed")
        return positions

    def chain_head(self) -> tuple[int, bytes] | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT position, chain_hash FROM {chain} ORDER BY position DESC LIMIT 1"
                ).format(chain=self._chain())
            )
            row = curs.fetchone()
        return None if row is None else (int(row["position"]), bytes(row["chain_hash"]))

    def chained_rows(self, start: int = 1) -> Iterator[ChainedRow]:
        statement = SQL(
            "SELECT p.position, e.originator_id, e.originator_version, e.topic, e.state, "
            "c.chain_hash FROM ("
            "  SELECT notification_id AS position FROM {events} WHERE notification_id > %s "
            "  UNION SELECT position FROM {chain} WHERE position > %s"
            ") AS p "
            "LEFT JOIN {events} AS e ON e.notification_id = p.position "
            "LEFT JOIN {chain} AS c ON c.position = p.position "
            "ORDER BY p.position LIMIT %s"
        ).format(events=self._events(), chain=self._chain())
        after = start - 1
        while True:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(statement, (after, after, PAGE))
                rows = curs.fetchall()
            for row in rows:
                event = None
                if row["originator_id"] is not None:
                    event = StoredEvent(
                        row["originator_id"],
                        int(row["originator_version"]),
                        str(row["topic"]),
                        _bytes(row["state"]),
                    )
                chain_hash = row["chain_hash"]
                yield ChainedRow(
                    int(row["position"]), event, None if chain_hash is None else bytes(chain_hash)
                )
            if len(rows) < PAGE:
                return
            after = int(rows[-1]["position"])

    def existing_originators(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of the given aggregates have events: one query for a batch's lookups.

        One index probe per id, whatever the planner's statistics say. The plainer
        `SELECT DISTINCT originator_id ... WHERE originator_id = ANY(%s)` was planned as a
        sequential scan of the whole table while the table had no statistics (autovacuum off,
        or not yet run after a bulk load): 1.3 s per 500 ids at 5.5 million events, the
        greater part of a million-position load (docs/performance.md)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.existing_statement(), (list(originator_ids),))
            return {row["originator_id"] for row in curs.fetchall()}

    def existing_statement(self) -> Any:
        return SQL(
            "SELECT k.id AS originator_id FROM unnest(%s::uuid[]) AS k(id) "
            "CROSS JOIN LATERAL (SELECT 1 FROM {events} AS e WHERE e.originator_id = k.id "
            "ORDER BY e.originator_version LIMIT 1) AS hit"
        ).format(events=self._events())

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of the given aggregates, by aggregate and version, in one query.

        One index range per id, whatever the planner's statistics say. The plainer
        `WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version` was planned
        as a parallel sequential scan and a sort of the whole table once the table had no
        statistics and was larger than `effective_cache_size`: 5 to 17 s per 500 accounts in
        a million-position replay (docs/storage.md)."""
        unique = list(dict.fromkeys(originator_ids))  # a repeated id would repeat its events
        with self.bulk_read() as curs:
            curs.execute(self.events_of_statement(), (unique,))
            rows = curs.fetchall()
        return [
            StoredEvent(
                row["originator_id"],
                int(row["originator_version"]),
                str(row["topic"]),
                _bytes(row["state"]),
            )
            for row in rows
        ]

    def events_of_statement(self) -> Any:
        return SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[]) AS k(id) CROSS JOIN LATERAL ("
            "SELECT originator_id, originator_version, topic, state FROM {events} AS x "
            "WHERE x.originator_id = k.id ORDER BY x.originator_version) AS e "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(events=self._events())

    @contextmanager
    def bulk_read(self) -> Iterator[Cursor[DictRow]]:
        """A cursor for a read of many aggregates at once, with JIT compilation off for its
        transaction: without statistics the planner estimates such a read at millions of rows
        and compiles it each time (25 to 35 ms a query, measured), to fetch a few thousand."""
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            curs.execute("SET LOCAL jit = off")
            yield curs


class PostgresChainedFactory(PostgresFactory):
    aggregate_recorder_class = PostgresLockedAggregateRecorder
    application_recorder_class = PostgresChainedRecorder

    def ledger_event_store(self, application: Application[UUID]) -> ApplicationEventStore:
        return ApplicationEventStore(application)

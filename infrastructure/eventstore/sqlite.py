"""The SQLite event store: eventsourcing's application recorder with the audit chain.

Events and their chain rows are inserted in one transaction (one executemany each); the
versions a batch only read are checked in it; bulk look-ups serve `prefetch` and the replay.
`SQLiteChainedFactory` is what PERSISTENCE_MODULE names for a `sqlite:///` URL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory

from infrastructure.eventstore.chain import (
    COMMANDS_COLUMNS,
    COMMANDS_INSERT,
    GENESIS,
    PAGE,
    AttributionCounts,
    ChainedRow,
    attributed,
    link,
    require_as_read,
    require_head_as_read,
    stored_bytes,
)
from infrastructure.eventstore.store import (
    ATTRIBUTION,
    COMMANDS,
    READ_HEAD,
    READ_VERSIONS,
    ApplicationEventStore,
)
from infrastructure.tools import faults

RANGE_PAGE = 50_000  # rows a page of a log range read


class SQLiteChainedRecorder(SQLiteApplicationRecorder):
    @property
    def chain_table(self) -> str:
        return f"{self.events_table_name}_chain"

    @property
    def commands_table(self) -> str:
        return f"{self.events_table_name}_commands"

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.chain_table} "
            "(position INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL, command TEXT)",
            f"CREATE TABLE IF NOT EXISTS {self.commands_table} ({COMMANDS_COLUMNS})",
        ]

    def create_table(self) -> None:
        """The tables; a chain table made before events named their command gains the
        column (its rows keep NULL: written before attribution)."""
        super().create_table()
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"PRAGMA table_info({self.chain_table})")
            if "command" not in {row[1] for row in c.fetchall()}:
                c.execute(f"ALTER TABLE {self.chain_table} ADD COLUMN command TEXT")

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = self._insert_many(c, stored_events, kwargs.get(READ_HEAD))
        c.execute(f"SELECT chain_hash FROM {self.chain_table} ORDER BY position DESC LIMIT 1")
        row = c.fetchone()
        previous = bytes(row[0]) if row else GENESIS
        links = []
        named = attributed(stored_events, kwargs.get(ATTRIBUTION))
        for position, event, command in zip(positions, stored_events, named, strict=True):
            previous = link(previous, position, event)
            links.append((position, previous, command))
        if self.keeps_commands():
            c.executemany(
                f"INSERT INTO {self.chain_table} (position, chain_hash, command) VALUES (?, ?, ?)",
                links,
            )
        else:  # tables made before the command column, opened without creating tables
            c.executemany(
                f"INSERT INTO {self.chain_table} (position, chain_hash) VALUES (?, ?)",
                [link_row[:2] for link_row in links],
            )
        commands = kwargs.get(COMMANDS) or ()
        if commands:  # a command id stored meanwhile by another writer: IntegrityError, retried
            c.executemany(
                f"INSERT INTO {self.commands_table} ({COMMANDS_INSERT}) VALUES (?, ?, ?, ?, ?)",
                commands,
            )
        for key, version in (kwargs.get(READ_VERSIONS) or {}).items():
            c.execute(
                f"SELECT max(originator_version) FROM {self.events_table_name} "
                "WHERE originator_id = ?",
                (key.hex,),
            )
            require_as_read(key, version, c.fetchone()[0])
        faults.inserting(stored_events)
        return positions

    def _insert_many(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], read_head: int | None
    ) -> list[int]:
        """One executemany instead of the library's execute per event (a fifth faster). Under
        the write lock a table without AUTOINCREMENT gives each new row max(rowid) + 1, so the
        positions are the next ones in order; the count is checked. A save computed from the
        log up to `read_head` conflicts if the log has grown since."""
        c.execute(f"SELECT max(rowid) FROM {self.events_table_name}")
        last = int(c.fetchone()[0] or 0)
        if read_head is not None:
            require_head_as_read(read_head, last)
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
        self.keeps_commands()  # known before the insert's transaction, which it reads then
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

    @property
    def _union_page(self) -> str:
        """A page of every position in either table after `?` (twice), at most `?`: events
        and chain rows side by side, either missing where the other is not."""
        return (
            "SELECT p.position, e.originator_id, e.originator_version, e.topic, e.state, "
            "c.chain_hash FROM ("
            f"  SELECT rowid AS position FROM {self.events_table_name} WHERE rowid > ? "
            f"  UNION SELECT position FROM {self.chain_table} WHERE position > ?"
            ") AS p "
            f"LEFT JOIN {self.events_table_name} AS e ON e.rowid = p.position "
            f"LEFT JOIN {self.chain_table} AS c ON c.position = p.position "
            "ORDER BY p.position LIMIT ?"
        )

    def chained_rows(self, start: int = 1) -> Iterator[ChainedRow]:
        """Every position from `start` on, in order: events and chain rows side by side."""
        statement = self._union_page
        after = start - 1
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, (after, after, PAGE))
                rows = c.fetchall()
            for row in rows:
                event = None
                if row[1] is not None:
                    event = StoredEvent(
                        UUID(row[1]), int(row[2]), str(row[3]), stored_bytes(row[4])
                    )
                yield ChainedRow(int(row[0]), event, None if row[5] is None else bytes(row[5]))
            if len(rows) < PAGE:
                return
            after = int(rows[-1][0])

    def chain_page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """The rows chained_rows(after + 1) yields first, at most `limit`, as the database
        returns them: (position, originator_id as stored, originator_version, topic, state,
        chain_hash), None in the columns of an event or a chain row that is not there.

        The events after `after` joined with their chain rows, and a count of the chain rows
        in the page's range: when it shows a chain row without its event, the union that
        chained_rows() reads instead (which sorts every position after `after`)."""
        events = (
            "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, "
            f"c.chain_hash FROM {self.events_table_name} AS e "
            f"LEFT JOIN {self.chain_table} AS c ON c.position = e.rowid "
            "WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None  # tuples, not the connection's sqlite3.Row
            c.execute(events, (after, limit))
            rows: list[tuple[Any, ...]] = c.fetchall()
            last = rows[-1][0] if len(rows) == limit else (1 << 63) - 1  # the largest rowid
            c.execute(
                f"SELECT count(*) FROM {self.chain_table} WHERE position > ? AND position <= ?",
                (after, last),
            )
            if c.fetchone()[0] == len(rows) - [row[5] for row in rows].count(None):
                return rows
            c.execute(
                self._union_page,
                (after, after, limit),
            )
            return c.fetchall()  # type: ignore[no-any-return]

    def log_range(
        self, first: int, last: int | None, topics: Sequence[str]
    ) -> Iterator[tuple[str, str, bytes]]:
        """The events of the given topics from log position `first` to `last` (the end of
        the log if None), both included, as raw rows in log order (the aggregate id in hex),
        a page at a time."""
        marks = ",".join("?" * len(topics))
        statement = (
            f"SELECT rowid, originator_id, topic, state FROM {self.events_table_name} "
            f"WHERE rowid >= ? AND rowid <= ? AND topic IN ({marks}) ORDER BY rowid LIMIT ?"
        )
        after = first
        end = last if last is not None else 1 << 62
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, [after, end, *topics, RANGE_PAGE])
                rows = c.fetchall()
            for row in rows:
                yield row[1], row[2], row[3]  # the id as stored: hex
            if len(rows) < RANGE_PAGE:
                return
            after = int(rows[-1][0]) + 1

    def position_of(self, event: tuple[UUID, int]) -> int | None:
        """The log position of an event (aggregate id, version), if it is stored."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} "
                "WHERE originator_id = ? AND originator_version = ?",
                (event[0].hex, event[1]),
            )
            row = c.fetchone()
        return None if row is None else int(row[0])

    def keeps_commands(self) -> bool:
        """Whether the store's tables hold command rows: a store made before them and opened
        without creating tables (the read-only commands) has neither the commands table nor
        the chain's command column, and reads as written before events named a command.
        Known once true; asked again while false (another process may add them)."""
        if not self._keeps_commands:
            with self.datastore.transaction(commit=False) as c:
                c.execute(f"PRAGMA table_info({self.chain_table})")
                columns = {row[1] for row in c.fetchall()}
                c.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (self.commands_table,),
                )
                self._keeps_commands = "command" in columns and c.fetchone() is not None
        return self._keeps_commands

    _keeps_commands = False

    def command_hashes(self, command_ids: Sequence[str]) -> dict[str, str]:
        """The content hash of each of these commands that is stored: one query a batch."""
        if not self.keeps_commands():
            return {}
        marks = ",".join("?" * len(command_ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT command_id, content_hash FROM {self.commands_table} "
                f"WHERE command_id IN ({marks})",
                list(command_ids),
            )
            return {str(row[0]): str(row[1]) for row in c.fetchall()}

    def accepted_commands(self) -> dict[str, int]:
        """Every accepted command's id and the number of events it produced."""
        if not self.keeps_commands():
            return {}
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT command_id, events FROM {self.commands_table}")
            return {str(row[0]): int(row[1]) for row in c.fetchall()}

    def written_before_commands(self) -> bool:
        """Whether the store's first event names no command: it was written (at least in
        part) before command rows, and may hold a `CommandRecord` aggregate per command."""
        if not self.keeps_commands():
            return True
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT command FROM {self.chain_table} ORDER BY position LIMIT 1")
            row = c.fetchone()
        return row is not None and row[0] is None

    def attribution_counts(self, start: int) -> AttributionCounts:
        """What `verify` checks of the chain rows' commands from position `start` on: one
        pass over the chain table, and the sum of the commands' counts."""
        if not self.keeps_commands():
            return AttributionCounts(None, None, 0, 0)
        table, commands = self.chain_table, self.commands_table
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT min(position) FROM {table} WHERE command IS NOT NULL")
            first = c.fetchone()[0]
            if first is None:
                return AttributionCounts(None, None, 0, 0)
            c.execute(
                "SELECT min(CASE WHEN command IS NULL AND position >= ? AND position > ? "
                f"THEN position END), count(command) FROM {table}",
                (start, first),
            )
            unattributed, events = c.fetchone()
            c.execute(f"SELECT coalesce(sum(events), 0) FROM {commands}")
            counted = int(c.fetchone()[0])
        return AttributionCounts(int(first), unattributed, int(events), counted)

    def first_unknown_command(self, start: int) -> int | None:
        """The first position from `start` on whose event names a command that has no row
        (asked only when the totals differ: a probe of the commands for every event)."""
        if not self.keeps_commands():
            return None
        return self._first_position(
            f"SELECT min(t.position) FROM {self.chain_table} AS t WHERE t.position >= ? "
            "AND t.command IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {self.commands_table} AS k WHERE k.command_id = t.command)",
            start,
        )

    def _first_position(self, statement: str, start: int) -> int | None:
        """The one value, a log position or NULL, of a query given the position to start at."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, (start,))
            found = c.fetchone()[0]
        return None if found is None else int(found)

    def first_miscounted(self, start: int) -> int | None:
        """The first position from `start` on whose event's command counts a different
        number of events than name it (asked only when the totals differ)."""
        if not self.keeps_commands():
            return None
        return self._first_position(
            f"SELECT min(first) FROM (SELECT min(t.position) AS first "
            f"FROM {self.chain_table} AS t JOIN {self.commands_table} AS k "
            "ON k.command_id = t.command GROUP BY t.command, k.events "
            "HAVING count(*) != k.events) WHERE first >= ?",
            start,
        )

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

    def select_raw_events(self, originator_id: UUID) -> list[tuple[int, str, bytes]]:
        """(version, topic, state) of every event of one aggregate, in version order, without
        an object per row: a cycle holds an event per account that joined it."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE originator_id = ? "
                "ORDER BY originator_version",
                (originator_id.hex,),
            )
            return c.fetchall()  # type: ignore[no-any-return]

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
        return [StoredEvent(UUID(r[0]), int(r[1]), str(r[2]), stored_bytes(r[3])) for r in rows]


class SQLiteChainedFactory(SQLiteFactory):
    application_recorder_class = SQLiteChainedRecorder

    def ledger_event_store(self, application: Application[UUID]) -> ApplicationEventStore:
        return ApplicationEventStore(application)

"""The PostgreSQL event store: eventsourcing's recorders with the audit chain.

Events are inserted in chunks of INSERT_CHUNK per statement, sent as a binary parameter, in one
plain transaction, with their chain rows, after the table lock and the check of the versions a
batch only read; tables are created under an advisory lock per schema, and under it the events'
state column is set to be stored uncompressed; bulk look-ups probe the index per id.
`PostgresChainedFactory` is what PERSISTENCE_MODULE names for a `postgresql://` URL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

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
from infrastructure.eventstore.postgres_tables import LockedCreation
from infrastructure.eventstore.store import (
    ATTRIBUTION,
    COMMANDS,
    READ_HEAD,
    READ_VERSIONS,
    ApplicationEventStore,
)
from infrastructure.tools import faults

# events per INSERT statement of one save (a settlement's save is hundreds of thousands)
INSERT_CHUNK = 10_000
RANGE_PAGE = 50_000  # log positions a window of a log range read


def one(curs: Cursor[Any]) -> Any:
    """The single value of a one-row, one-column result."""
    row = curs.fetchone()
    return None if row is None else row[0]


class PostgresLockedAggregateRecorder(LockedCreation, PostgresAggregateRecorder):
    """The snapshots' recorder, its table created under the store's lock."""


class PostgresChainedRecorder(LockedCreation, PostgresApplicationRecorder):
    # a settlement's chunk events are about a megabyte each (docs/storage.md)
    uncompressed_columns = ("state",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chain_table = f"{self.events_table_name}_chain"
        self.commands_table = f"{self.events_table_name}_commands"
        schema = Identifier(self.datastore.schema)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} "
                "(position bigint PRIMARY KEY, chain_hash bytea NOT NULL, command text)"
            ).format(schema=schema, table=Identifier(self.chain_table)),
            SQL("CREATE TABLE IF NOT EXISTS {schema}.{table} ({columns})").format(
                schema=schema,
                table=Identifier(self.commands_table),
                columns=SQL(COMMANDS_COLUMNS),
            ),
        ]
        # The library's statement with its parameter sent in binary (%b for %s): its text form
        # hex-escapes every state and the server parses it back, 3.6 s of CPU for a settlement's
        # 100 chunks of 1 MB against 0.9 s in binary (docs/storage.md).
        self.insert_events_statement = SQL(
            "INSERT INTO {events} AS t (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state "
            "FROM unnest(%b::{schema}.{event_type}[]) RETURNING notification_id"
        ).format(
            events=self._events(),
            schema=Identifier(self.datastore.schema),
            event_type=Identifier(self.stored_event_type_name),
        )

    def _chain(self) -> Any:
        return SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.chain_table)
        )

    def create_table(self) -> None:
        """The tables; a chain table made before events named their command gains the
        column, read from the catalog first so that an open of a current store takes no
        lock (an ALTER would queue every reader behind it). Its rows keep NULL: written
        before attribution."""
        super().create_table()
        with self.datastore.get_connection() as conn:
            found = conn.execute(
                "SELECT 1 FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s AND column_name = 'command'",
                (self.datastore.schema, self.chain_table),
            ).fetchone()
            if found is None:
                with conn.transaction():
                    conn.execute(
                        SQL("ALTER TABLE {chain} ADD COLUMN IF NOT EXISTS command text").format(
                            chain=self._chain()
                        )
                    )

    def _commands(self) -> Any:
        return SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.commands_table)
        )

    def keeps_commands(self) -> bool:
        """Whether the store's tables hold command rows: a store made before them and opened
        without creating tables (the read-only commands) has neither the commands table nor
        the chain's command column, and reads as written before events named a command.
        Known once true; asked again while false (another process may add them)."""
        if not self._keeps_commands:
            with self.datastore.get_connection() as conn:
                found = conn.execute(
                    "SELECT count(*) AS n FROM information_schema.columns "
                    "WHERE table_schema = %s AND ((table_name = %s AND column_name = 'command') "
                    "OR (table_name = %s AND column_name = 'command_id'))",
                    (self.datastore.schema, self.chain_table, self.commands_table),
                ).fetchone()
            self._keeps_commands = found is not None and int(found["n"]) == 2
        return self._keeps_commands

    _keeps_commands = False

    def command_hashes(self, command_ids: Sequence[str]) -> dict[str, str]:
        """The content hash of each of these commands that is stored: one query a batch."""
        if not self.keeps_commands():
            return {}
        statement = SQL(
            "SELECT command_id, content_hash FROM {commands} WHERE command_id = ANY(%s)"
        ).format(commands=self._commands())
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(command_ids),))
            return {str(row["command_id"]): str(row["content_hash"]) for row in curs.fetchall()}

    def accepted_commands(self) -> dict[str, int]:
        """Every accepted command's id and the number of events it produced."""
        if not self.keeps_commands():
            return {}
        statement = SQL("SELECT command_id, events FROM {commands}").format(
            commands=self._commands()
        )
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement)
            return {str(row[0]): int(row[1]) for row in curs.fetchall()}

    def first_miscounted(self, start: int) -> int | None:
        """The first position from `start` on whose event's command counts a different
        number of events than name it (asked only when the totals differ)."""
        if not self.keeps_commands():
            return None
        statement = SQL(
            "SELECT min(first) FROM (SELECT min(t.position) AS first "
            "FROM {chain} AS t JOIN {commands} AS k ON k.command_id = t.command "
            "GROUP BY t.command, k.events HAVING count(*) != k.events) AS m WHERE first >= %s"
        ).format(chain=self._chain(), commands=self._commands())
        return self._first_position(statement, start)

    def _first_position(self, statement: Any, start: int) -> int | None:
        """The one value, a log position or NULL, of a query given the position to start at."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, (start,))
            found = one(curs)
        return None if found is None else int(found)

    def written_before_commands(self) -> bool:
        """Whether the store's first event names no command: it was written (at least in
        part) before command rows, and may hold a `CommandRecord` aggregate per command."""
        if not self.keeps_commands():
            return True
        statement = SQL("SELECT command FROM {chain} ORDER BY position LIMIT 1").format(
            chain=self._chain()
        )
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement)
            row = curs.fetchone()
        return row is not None and row[0] is None

    def attribution_counts(self, start: int) -> AttributionCounts:
        """What `verify` checks of the chain rows' commands from position `start` on: one
        pass over the chain table, and the sum of the commands' counts."""
        if not self.keeps_commands():
            return AttributionCounts(None, None, 0, 0)
        chain, commands = self._chain(), self._commands()
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(
                SQL("SELECT min(position) FROM {chain} WHERE command IS NOT NULL").format(
                    chain=chain
                )
            )
            first = one(curs)
            if first is None:
                return AttributionCounts(None, None, 0, 0)
            curs.execute(
                SQL(
                    "SELECT min(position) FILTER (WHERE command IS NULL AND position >= %s "
                    "AND position > %s), count(command) FROM {chain}"
                ).format(chain=chain),
                (start, first),
            )
            row = curs.fetchone()
            unattributed, events = (None, 0) if row is None else (row[0], int(row[1]))
            curs.execute(
                SQL("SELECT coalesce(sum(events), 0) FROM {commands}").format(commands=commands)
            )
            counted = int(one(curs) or 0)
        return AttributionCounts(int(first), unattributed, events, counted)

    def first_unknown_command(self, start: int) -> int | None:
        """The first position from `start` on whose event names a command that has no row
        (asked only when the totals differ: a probe of the commands for every event)."""
        if not self.keeps_commands():
            return None
        statement = SQL(
            "SELECT min(t.position) FROM {chain} AS t WHERE t.position >= %s "
            "AND t.command IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM {commands} AS k WHERE k.command_id = t.command)"
        ).format(chain=self._chain(), commands=self._commands())
        return self._first_position(statement, start)

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
        head = kwargs.get(READ_HEAD)
        if not read and head is None:
            return
        self._lock_table(curs)
        if head is not None:
            curs.execute(
                SQL("SELECT max(notification_id) AS n FROM {events}").format(events=self._events())
            )
            row = curs.fetchone()
            require_head_as_read(head, None if row is None else row["n"])
        for key, version in read.items():
            curs.execute(
                SQL(
                    "SELECT max(originator_version) AS v FROM {events} WHERE originator_id = %s"
                ).format(events=self._events()),
                (key,),
            )
            row = curs.fetchone()
            require_as_read(key, version, None if row is None else row["v"])

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
        self,
        curs: Cursor[DictRow],
        positions: Sequence[int],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
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
        named = attributed(stored_events, kwargs.get(ATTRIBUTION))
        for position, event, command in zip(positions, stored_events, named, strict=True):
            previous = link(previous, position, event)
            links.append((position, previous, command))
        if self.keeps_commands():
            curs.executemany(
                SQL(
                    "INSERT INTO {chain} (position, chain_hash, command) VALUES (%s, %s, %s)"
                ).format(chain=self._chain()),
                links,
            )
        else:  # tables made before the command column, opened without creating tables
            curs.executemany(
                SQL("INSERT INTO {chain} (position, chain_hash) VALUES (%s, %s)").format(
                    chain=self._chain()
                ),
                [link_row[:2] for link_row in links],
            )
        commands = kwargs.get(COMMANDS) or ()
        if commands:  # a command id stored meanwhile by another writer: IntegrityError, retried
            curs.executemany(
                SQL("INSERT INTO {commands} ({columns}) VALUES (%s, %s, %s, %s, %s)").format(
                    commands=self._commands(),
                    columns=SQL(COMMANDS_INSERT),
                ),
                commands,
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
        self.keeps_commands()  # known before the insert's transaction, which it reads then
        if stored_events or kwargs.get(COMMANDS):  # a command may be accepted with no event
            with (
                self.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor() as curs,
            ):
                self._insert_events(curs, stored_events, **kwargs)
                positions = self._insert_in_chunks(curs, stored_events, **kwargs)
                self._write_chain(curs, positions, stored_events, **kwargs)
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
                        stored_bytes(row["state"]),
                    )
                chain_hash = row["chain_hash"]
                yield ChainedRow(
                    int(row["position"]), event, None if chain_hash is None else bytes(chain_hash)
                )
            if len(rows) < PAGE:
                return
            after = int(rows[-1]["position"])

    def chain_page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """The rows chained_rows(after + 1) yields first, at most `limit`, as raw tuples:
        (position, originator_id as its 32 hex digits, originator_version, topic, state,
        chain_hash), None in the columns of an event or a chain row that is not there.

        The events after `after` joined with their chain rows, and a count of the chain rows
        in the page's range: when it shows a chain row without its event, the union that
        chained_rows() reads instead (which sorts every position after `after`). In one
        snapshot, read in binary: the states arrive as they are stored, not hex-escaped. The
        join's chain rows are bounded too: planned as a merge join, the chain's index scan
        would otherwise start at its first row for every page."""
        events = SQL(
            "SELECT e.notification_id, encode(uuid_send(e.originator_id), 'hex'), "
            "e.originator_version, e.topic, e.state, c.chain_hash FROM {events} AS e "
            "LEFT JOIN {chain} AS c ON c.position = e.notification_id AND c.position > %s "
            "WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
        ).format(events=self._events(), chain=self._chain())
        count = SQL("SELECT count(*) FROM {chain} WHERE position > %s AND position <= %s").format(
            chain=self._chain()
        )
        union = SQL(
            "SELECT p.position, encode(uuid_send(e.originator_id), 'hex'), "
            "e.originator_version, e.topic, e.state, c.chain_hash FROM ("
            "  SELECT notification_id AS position FROM {events} WHERE notification_id > %s "
            "  UNION SELECT position FROM {chain} WHERE position > %s"
            ") AS p "
            "LEFT JOIN {events} AS e ON e.notification_id = p.position "
            "LEFT JOIN {chain} AS c ON c.position = p.position "
            "ORDER BY p.position LIMIT %s"
        ).format(events=self._events(), chain=self._chain())
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            curs.execute(events, (after, after, limit))
            rows: list[tuple[Any, ...]] = curs.fetchall()
            last = rows[-1][0] if len(rows) == limit else (1 << 63) - 1  # the largest bigint
            curs.execute(count, (after, last))
            counted = curs.fetchone()
            if counted is not None and counted[0] == len(rows) - [r[5] for r in rows].count(None):
                return rows
            curs.execute(union, (after, after, limit))
            union_rows: list[tuple[Any, ...]] = curs.fetchall()
            return union_rows

    def log_range(
        self, first: int, last: int | None, topics: Sequence[str]
    ) -> Iterator[tuple[str, str, bytes]]:
        """The events of the given topics from log position `first` to `last` (the end of
        the log as it stands when the read begins, if None), both included, as raw rows in
        log order (the aggregate id in hex).

        Read a window of RANGE_PAGE positions at a time, with no LIMIT: each query is a range
        of the notification_id index bounded on both sides. A LIMIT over the rest of the log
        leaves the planner to guess how many rows the topics keep, and a plan that reads
        every later position and sorts them, for every page, is then within its choices. Read
        in binary as plain tuples, as `chain_page` reads: the states arrive as they are
        stored, not hex-escaped, and no dict is made a row."""
        statement = SQL(
            "SELECT encode(uuid_send(originator_id), 'hex'), topic, state FROM {events} "
            "WHERE notification_id >= %s AND notification_id <= %s AND topic = ANY(%s) "
            "ORDER BY notification_id"
        ).format(events=self._events())
        end = last if last is not None else int(self.max_notification_id() or 0)
        start = first
        while start <= end:
            stop = min(end, start + RANGE_PAGE - 1)
            with (
                self.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row, binary=True) as curs,
            ):
                curs.execute(statement, (start, stop, list(topics)))
                rows: list[tuple[Any, ...]] = curs.fetchall()
            for row in rows:
                yield row[0], row[1], stored_bytes(row[2])
            start = stop + 1

    def position_of(self, event: tuple[UUID, int]) -> int | None:
        """The log position of an event (aggregate id, version), if it is stored."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT notification_id FROM {events} "
                    "WHERE originator_id = %s AND originator_version = %s"
                ).format(events=self._events()),
                event,
            )
            row = curs.fetchone()
        return None if row is None else int(row["notification_id"])

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

    def select_raw_events(self, originator_id: UUID) -> list[tuple[int, str, bytes]]:
        """(version, topic, state) of every event of one aggregate, in version order, without
        an object per row: a cycle holds an event per account that joined it."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(
                SQL(
                    "SELECT originator_version, topic, state FROM {events} "
                    "WHERE originator_id = %s ORDER BY originator_version"
                ).format(events=self._events()),
                (originator_id,),
            )
            return [(int(v), str(t), stored_bytes(s)) for v, t, s in curs.fetchall()]

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
                stored_bytes(row["state"]),
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

"""The read-model runner: follows the event log and keeps the SQL tables of the read models.

It reads the notification log with `recorder.select_notifications` (eventsourcing's
ProjectionRunner does not run on SQLite) and writes each batch of events together with its
tracking position in one transaction, guarded so that two runners never apply an event twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.pool import NullPool

from domain.core.errors import ensure
from domain.core.ids import event_ref
from domain.core.money import ZERO
from domain.core.postings import cash_account, margin_account
from domain.core.settlement_rows import (
    S_ACCOUNT,
    S_CONTRACT,
    S_PROFIT,
    S_RANK,
    S_SHARE,
    decode_amount,
    row_ref,
)
from domain.ledger import LossLedger
from infrastructure.eventstore.database_url import (
    CONNECT_SECONDS,
    Database,
    create_store_place,
    db_url,
    existing_ledger,
    parse_database,
)
from infrastructure.eventstore.postgres_tables import creation_lock_key
from infrastructure.readmodels.bulk import BulkRows
from infrastructure.readmodels.json_text import balance_positions, reading_positions
from infrastructure.readmodels.log import LoggedEvent, LogReader
from infrastructure.readmodels.reading import (
    StateReader,
    class_topic,
    collector_paused,
    is_unread,
)
from infrastructure.readmodels.tables import (
    READ_MODELS,
    balances,
    cycles,
    fund_flows,
    insurance_fund_history,
    ledger_balances,
    metadata,
    participants,
    tracking,
)
from infrastructure.tools import faults
from projections.fold import (
    ACCOUNT_TOPIC,
    CYCLE_TOPIC,
    FUND_TOPIC,
    add_postings,
    chunk_accounts,
    event_name,
    fold_account,
    fund_row,
)
from projections.rows import (
    BALANCE_COLUMNS,
    FLOW_COLUMNS,
    AccountView,
    BalanceRow,
    FlowEntry,
    plain,
    sortable_time,
)

PROJECTION = "read_models"
LEDGER_NAMES = (cash_account, margin_account)  # an account's own ledger accounts
BATCH_EVENTS = 2_000  # the first batch of a catch-up
# Each batch of a catch-up that is full holds twice as many events as the one before, up to
# this many: a catch-up that has little to do commits soon, a long one commits an eighth as
# often (a commit writes every page the batch changed, and the pages it shares with the next
# one are written again).
BATCH_EVENTS_MOST = 16_000
# A batch also ends once its events' stored states reach this many bytes (it holds one event
# at least): a settlement's chunk event carries up to 10,000 accounts' rows, about a megabyte,
# and a batch of 2,000 of them would hold every account's balance view of a settlement at once.
BATCH_BYTES = 8 << 20
VIEW_COLUMNS = ("account", "account_id", "cash", "positions", "at")  # what a view is made from
PARTICIPANT_COLUMNS = ("cycle", "rank", "account", "contract", "profit", "share")


# The page cache of a SQLite connection of the read models, in KiB (SQLite's own is 2 MiB): a
# catch-up's batches update rows all over the balance, ledger and fund-flow indexes, and at 2.4
# million events (a store of 2.7 GB) they read their pages from the file again and again. It is
# filled only as pages are read: a query of `history` takes what it reads.
SQLITE_PAGE_CACHE_KIB = 64 << 10


def _with_page_cache(connection: Any, _record: Any) -> None:
    connection.execute(f"PRAGMA cache_size = -{SQLITE_PAGE_CACHE_KIB}")
    # In WAL mode a commit of the read models is not synced to the disk (docs/read-models.md:
    # a batch lost to a power cut is read and applied again); a checkpoint still is.
    mode = connection.execute("PRAGMA journal_mode").fetchone()
    if mode is not None and str(mode[0]).lower() == "wal":
        connection.execute("PRAGMA synchronous = NORMAL")


class ConcurrentCatchUpError(Exception):
    """Raised inside a batch when another runner advanced the tracking position first."""


def make_engine(database: Database) -> Engine:
    if database.backend == "sqlite":
        engine = create_engine(
            database.sqlalchemy_url, connect_args={"timeout": 30}, poolclass=NullPool
        )
        event.listen(engine, "connect", _with_page_cache)
        return engine
    engine = create_engine(
        database.sqlalchemy_url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_SECONDS},
    )
    if database.schema:
        engine = engine.execution_options(schema_translate_map={None: database.schema})
    return engine


def create_tables(engine: Engine, database: Database) -> None:
    """The read-model tables and the tracking row, made once however many processes open a
    fresh store at the same instant: looked for and created in one transaction that first takes
    the store's write lock, so that the others wait, then find them all. SQLite: BEGIN IMMEDIATE
    (it waits out the busy timeout; a deferred transaction or a lone statement can be turned
    away at once). PostgreSQL: the advisory lock the event store creates its tables under."""
    with engine.connect() as connection:
        if database.backend == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            key = creation_lock_key(database.schema or "public")  # the event store's schema
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        metadata.create_all(connection)
        if connection.execute(select(tracking.c.position)).first() is None:
            connection.execute(insert(tracking).values(projection=PROJECTION, position=0))
        connection.commit()


class ReadModels:
    """The read models of one ledger database."""

    def __init__(self, ledger: LossLedger, database: Database) -> None:
        self.ledger = ledger
        self.database = database
        self.engine = make_engine(database)
        self.first_batch_events = BATCH_EVENTS  # events read, decoded and written together
        self.batch_events_most = BATCH_EVENTS_MOST  # as the batches of a catch-up grow
        self.batch_bytes = BATCH_BYTES  # and the most of their stored states a batch holds
        self.reader = StateReader(ledger.mapper)
        self.log = LogReader(ledger.recorder, database.backend)
        self.decode = self.reader.mapper.to_domain_event  # how it decodes the others
        schema = database.schema if database.backend == "postgresql" else None
        # a balance row's positions encoded as json.dumps encodes them, in a third of its time,
        # and read back as the column reads them
        positions = (balances.name, balances.c.positions.name)
        self.bulk = BulkRows(
            self.engine.dialect,
            schema,
            encoders={positions: balance_positions},
            decoders={positions: reading_positions},
        )
        create_tables(self.engine, database)

    @property
    def batch_events(self) -> int:
        """The events of a catch-up's first batch."""
        return self.first_batch_events

    @batch_events.setter
    def batch_events(self, size: int) -> None:
        """Every batch of that many events at most (a fixed size: none grows)."""
        self.first_batch_events = self.batch_events_most = size

    def position(self, connection: Connection | None = None) -> int:
        """The last event applied (read on `connection` when given, in a transaction of its
        own that ends here)."""
        if connection is None:
            with self.engine.connect() as connection:
                return self.position(connection)
        statement = select(tracking.c.position).where(tracking.c.projection == PROJECTION)
        try:
            return int(connection.execute(statement).scalar_one())
        finally:
            connection.rollback()  # nothing held while the batch is read from the log

    def log_position(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Apply every event not yet applied; the number of events applied by this call.

        Every batch of the call is written on one connection, a transaction a batch: SQLite's
        page cache is the connection's, and the pages of the tables' indexes a batch reads
        and writes are most of the next one's (on a fresh connection a batch read them all
        from the file again, and the commit of a store of 2.4 million events took a fifth of
        its catch-up)."""
        applied = 0
        size = self.first_batch_events
        with self.engine.connect() as connection:
            for _ in range(1_000_000):  # bounded: each round applies a batch or stops
                with collector_paused():
                    read = self._apply_next_batch(connection, size)
                if read is None:
                    return applied
                applied += read
                if read == size:  # a full batch: the log holds more, perhaps much more
                    size = min(2 * size, max(self.batch_events_most, self.first_batch_events))
                if read and progress is not None:
                    progress(read)
        return applied

    def _apply_next_batch(self, connection: Connection, size: int) -> int | None:
        """Read, apply and commit the batch after the tracking position: its number of events
        (0 when another runner applied it first), or None at the end of the log."""
        start, notifications = self._read_batch(connection, size)
        if not notifications:
            return None
        notifications = within_bytes(notifications, self.batch_bytes)
        try:
            with connection.begin():
                # Claim the batch first: the row lock (PostgreSQL) or the write lock (SQLite)
                # makes a second runner wait here, then find the position moved and stop.
                moved = connection.execute(
                    update(tracking)
                    .where(tracking.c.projection == PROJECTION, tracking.c.position == start)
                    .values(position=notifications[-1].id)
                ).rowcount
                if moved != 1:
                    raise ConcurrentCatchUpError
                batch = Batch(connection, self.bulk, self.reader)
                batch.prefetch(notifications)
                for notification in notifications:  # read one at a time: they die young
                    if not is_unread(notification.topic):
                        batch.apply(notification)
                batch.write()
                faults.reached("projection_write")
        except ConcurrentCatchUpError:
            return 0  # another runner applied this batch; read on from where it stopped
        faults.reached("projection_commit")
        return len(notifications)

    def _read_batch(self, connection: Connection, size: int) -> tuple[int, Sequence[LoggedEvent]]:
        """The tracking position and the `size` events after it (fewer at the end of the
        log), read in a transaction of their own that ends here: nothing is held while they
        are applied."""
        statement = select(tracking.c.position).where(tracking.c.projection == PROJECTION)
        try:
            start = int(connection.execute(statement).scalar_one())
            return start, self.log.after(connection, start, size)
        finally:
            connection.rollback()

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Drop every read model and rebuild it from the whole log."""
        metadata.drop_all(self.engine, tables=READ_MODELS)
        create_tables(self.engine, self.database)
        return self.catch_up(progress)

    def dispose(self) -> None:
        self.engine.dispose()


def within_bytes(notifications: Sequence[LoggedEvent], limit: int) -> Sequence[LoggedEvent]:
    """The first notifications whose stored states add up to at most `limit` bytes (one at
    least): the batch they make ends where its rows would outgrow it."""
    total = 0
    for index, notification in enumerate(notifications):
        total += len(notification.state)
        if total > limit and index > 0:
            return notifications[:index]
    return notifications


class Batch:
    """The changes of one batch of events, loaded lazily, written at once."""

    def __init__(self, connection: Connection, bulk: BulkRows, reader: StateReader) -> None:
        self.connection, self.bulk, self.reader = connection, bulk, reader
        self.accounts: dict[str, AccountView] = {}
        self.account_ids: dict[str, str] = {}  # the accounts the batch opens, by key
        self.keys: dict[str, str] = {}  # each loaded or opened account's key (aggregate id)
        self.new_accounts: set[str] = set()
        self.account_changed: dict[str, int] = {}  # the last notification that changed each
        self.cycles: dict[str, dict[str, Any]] = {}
        self.new_cycles: set[str] = set()
        self.flows: list[FlowEntry] = []
        self.fund_rows: list[dict[str, Any]] = []
        self.participant_rows: list[tuple[Any, ...]] = []
        self.ledger: dict[str, Decimal] = {}

    def prefetch(self, notifications: Sequence[LoggedEvent]) -> None:
        """Load the balance rows of every account the batch changes, a few queries in all; not
        those of the accounts it opens, which have none (an account's key, its aggregate id as
        text, is read as text from the log: `LogReader`)."""
        opened, changed = set(), set()
        for n in notifications:
            if class_topic(n.topic).startswith(ACCOUNT_TOPIC):
                if n.originator_version == 1:
                    opened.add(n.key)
                else:
                    changed.add(n.key)
        keys = sorted(changed - opened)
        self._load(balances.c.account_id.name, keys)

    def _load(self, key: str, keys: Sequence[str]) -> None:
        """Load the views of the stored balance rows whose `key` (account_id or account) is
        one of `keys`."""
        for account, account_key, cash, positions, at in self.bulk.by_keys(
            self.connection, balances, key, keys, VIEW_COLUMNS
        ):
            self.accounts[account_key] = AccountView.from_row(account, cash, positions, at)
            self.keys[account] = account_key

    def apply(self, notification: LoggedEvent) -> None:
        """Fold one event: an Account event from its state (StateReader), any other as the
        ledger's mapper decodes it."""
        topic = class_topic(notification.topic)
        if topic.startswith(ACCOUNT_TOPIC):
            self._account(notification, self.reader.state(notification))
            return
        event = self.reader.mapper.to_domain_event(notification.stored())
        if topic.startswith(CYCLE_TOPIC):
            self._cycle(notification.id, event, event_name(topic))
            return  # a chunk event's postings are added to the trial balance by _chunk
        add_postings(self.ledger, getattr(event, "postings", []) or [])
        if topic.startswith(FUND_TOPIC) and event_name(topic) != "Created":
            self.fund_rows.append(fund_row(event, notification.id))

    def _account(self, notification: LoggedEvent, state: dict[str, Any]) -> None:
        key = notification.key
        if notification.originator_version == 1:
            view = AccountView(state["account"], at=sortable_time(state["at"]))
            self.new_accounts.add(key)
            self.account_ids[key] = state["account"]
            self.keys[view.account] = key
        else:
            view = self._load_account(key)
        add_postings(self.ledger, state.get("postings") or ())
        reference = f"{key}:{notification.originator_version}"
        view, entries = fold_account(view, state, notification.id, reference)
        self.accounts[key] = view
        self.account_changed[key] = notification.id  # its row is made once, when written
        self.flows += entries

    def _chunk(self, notification_id: int, event: Any, cycle: str) -> None:
        """A cycle's chunk of rows: each account's balance and fund-flow entries, the
        balances of the chunk's accounts read by name in a few queries (each row names its
        account, and its balance row its aggregate id: none computed), and its participants."""
        names = {row[0] for row in event.rows}
        self._load(balances.c.account.name, sorted(names - self.keys.keys()))
        missing = sorted(names - self.keys.keys())
        ensure(not missing, f"every account of a chunk has a balance row: not {missing[:3]}")
        reference = event_ref(event)
        entry = 0
        view_of = lambda account: self.accounts[self.keys[account]]  # noqa: E731
        for account, index, state in chunk_accounts(event, cycle, view_of):
            key = self.keys[account]
            add_postings(self.ledger, state["postings"])
            view, entries = fold_account(
                self.accounts[key], state, notification_id, row_ref(reference, index), entry
            )
            entry += len(state["postings"])
            self.accounts[key] = view
            self.account_changed[key] = notification_id
            self.flows += entries
        if event_name(type(event).__qualname__) != "LossShared":
            return
        quantum = event.quantum or ZERO  # None in a participant of a store before chunks
        for share in event.rows:
            self.participant_rows.append(
                (
                    cycle,
                    share[S_RANK],
                    share[S_ACCOUNT],
                    share[S_CONTRACT],
                    plain(decode_amount(share[S_PROFIT], quantum)),
                    plain(decode_amount(share[S_SHARE], quantum)),
                )
            )

    def _load_account(self, key: str) -> AccountView:
        if key not in self.accounts:
            self._load(balances.c.account_id.name, [key])
            ensure(key in self.accounts, f"the account {key} of an event has a balance row")
        return self.accounts[key]

    def _cycle(self, notification_id: int, event: Any, name: str) -> None:
        key = str(event.originator_id)
        if name == "Opened":
            self.new_cycles.add(key)
            self.cycles[key] = {
                "cycle": event.cycle,
                "cycle_id": key,
                "status": "open",
                "policy_version": event.policy_version,
                "opened_at": sortable_time(event.at),
                "settled_at": None,
                "deficit": plain(Decimal(0)),
                "takeovers": 0,
                "refunded": plain(Decimal(0)),
                "summary": None,
            }
        elif key not in self.cycles:
            stored = self.connection.execute(select(cycles).where(cycles.c.cycle_id == key))
            self.cycles[key] = dict(stored.mappings().one())
        row = self.cycles[key]
        row["notification_id"] = notification_id
        if name == "TakeoverExecuted":
            row["deficit"] = plain(event.deficit_after)
            row["takeovers"] += 1
        elif name in ("PositionsSettled", "OpeningBooked", "LossShared"):
            self._chunk(notification_id, event, row["cycle"])
            return  # its postings are the accounts' rows', added to the trial balance there
        elif name == "Refunded":
            row["refunded"] = plain(event.refunded_after)
        elif name == "Settled":
            row["status"] = "settled"
            row["settled_at"] = sortable_time(event.at)
            row["summary"] = {
                key_: plain(value) if isinstance(value, Decimal) else value
                for key_, value in event.summary.items()
            }
        add_postings(self.ledger, getattr(event, "postings", []) or [])

    def write(self) -> None:
        connection, bulk = self.connection, self.bulk
        new: list[BalanceRow] = []
        changed: list[BalanceRow] = []
        for key, notification_id in self.account_changed.items():
            balance = self.accounts[key].row(key, notification_id)
            (new if key in self.new_accounts else changed).append(balance)
        bulk.insert_values(connection, balances, BALANCE_COLUMNS, new)
        bulk.replace_values(connection, balances, BALANCE_COLUMNS, "account_id", changed)
        bulk.insert_values(connection, fund_flows, FLOW_COLUMNS, self.flows)
        bulk.insert(connection, insurance_fund_history, self.fund_rows)
        for key, row in self.cycles.items():
            if key in self.new_cycles:
                connection.execute(insert(cycles).values(**row))
            else:
                connection.execute(update(cycles).where(cycles.c.cycle_id == key).values(**row))
        bulk.insert_values(connection, participants, PARTICIPANT_COLUMNS, self.participant_rows)
        self._write_ledger()

    def _write_ledger(self) -> None:
        if not self.ledger:
            return
        current: dict[str, Decimal] = {}
        names = sorted(self.ledger)
        # an account opened in this batch has no ledger rows yet (were one stored, inserting
        # it would break the table's key and fail the batch, never write another figure)
        fresh = {f(account) for account in self.account_ids.values() for f in LEDGER_NAMES}
        stored = [name for name in names if name not in fresh]
        columns = ("ledger_account", "balance")
        for name, balance in self.bulk.by_keys(
            self.connection, ledger_balances, "ledger_account", stored, columns
        ):
            current[name] = Decimal(balance)
        changed = [
            (name, plain(current[name] + self.ledger[name])) for name in names if name in current
        ]
        added = [(name, plain(self.ledger[name])) for name in names if name not in current]
        self.bulk.replace_values(
            self.connection, ledger_balances, columns, "ledger_account", changed
        )
        self.bulk.insert_values(self.connection, ledger_balances, columns, added)


def open_with_read_models(url: str | None = None) -> tuple[LossLedger, ReadModels]:
    """The ledger at a database URL, and its read models in the same database."""
    database = parse_database(db_url(url))
    create_store_place(database)
    ledger = LossLedger(env=database.env)
    return ledger, ReadModels(ledger, database)


def open_existing_with_read_models(url: str | None = None) -> tuple[LossLedger, ReadModels]:
    """The ledger stored at a database URL and its read models, which are created if missing
    (they derive from the log); NoLedgerError, having created nothing, if no ledger is stored."""
    database = parse_database(db_url(url))
    ledger = existing_ledger(database)
    return ledger, ReadModels(ledger, database)


def follow(models: ReadModels, interval: float, max_seconds: float | None = None) -> int:
    """Catch up, then poll every `interval` seconds until `max_seconds` or an interrupt."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    applied = 0
    try:
        while deadline is None or time.monotonic() < deadline:
            applied += models.catch_up()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    return applied

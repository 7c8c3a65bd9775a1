"""Large events: a settlement's chunk events of about a megabyte each (docs/storage.md).

On both backends twelve events of 1.3 MB, saved at once, complete within a bound (in a process of
their own, killed at the bound: eventsourcing's pipelined PostgreSQL insert hangs on such a save
for good), read back byte for byte and verify. On PostgreSQL the events' state column is stored
uncompressed (storage EXTERNAL) on a fresh store and on one created before the setting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate, event

from infrastructure.audit.verify import verify
from infrastructure.eventstore.database_url import Database, postgres_connection
from tests.support.databases import OnPostgreSQL, OnSQLite, database_closers, fresh_database
from tests.support.ledgers import SpecLedger, open_test_ledger

EVENTS = 12
ROWS = 11_600  # settlement-like rows an event: 1.3 MB of JSON
EVENT_BYTES = 1_300_000
# the save takes about a second here; the bound only has to tell a slow machine from a hang
SAVE_BOUND_SECONDS = 120
REPOSITORY = Path(__file__).resolve().parents[2]
LARGE_NAMESPACE = UUID("0b6f6f0e-3c1d-5e52-9d8b-6a2f1c4e7d90")


class LargeRecord(Aggregate):
    """A test aggregate whose one event carries a chunk's worth of rows."""

    @staticmethod
    def create_id(number: int) -> UUID:
        return uuid5(LARGE_NAMESPACE, f"large-record:{number}")

    @event("Recorded")
    def __init__(self, number: int, rows: list[list[str]]) -> None:
        self.number = number
        self.rows = rows


def rows_of(number: int) -> list[list[str]]:
    """The same rows for the same number: account, contract, a digest, an amount."""
    return [
        [
            f"acct-{number:02d}-{index:06d}",
            "BTCUSDT",
            hashlib.sha256(f"{number}:{index}".encode()).hexdigest(),
            f"{index * 7919 % 100_000}.{index:08d}",
        ]
        for index in range(ROWS)
    ]


def save_large_records(env: dict[str, str], report: Path) -> None:
    """In a process of its own: the twelve records in one save; what was stored, to a file."""
    ledger = open_test_ledger(env)
    try:
        started = time.perf_counter()
        recordings = ledger.save(*(LargeRecord(n, rows_of(n)) for n in range(EVENTS)))
        seconds = time.perf_counter() - started
    finally:
        ledger.close()
    stored = {
        str(r.notification.originator_id): hashlib.sha256(r.notification.state).hexdigest()
        for r in recordings
    }
    positions = [r.notification.id for r in recordings]
    report.write_text(json.dumps({"seconds": seconds, "positions": positions, "sha256": stored}))


SAVE = (
    "import json, pathlib, sys\n"
    "from tests.specs.test_large_events_spec import save_large_records\n"
    "save_large_records(json.loads(sys.argv[1]), pathlib.Path(sys.argv[2]))\n"
)


@dataclass(frozen=True)
class LargeSave:
    """The save's time, positions and stored digests, and a ledger opened on the store after."""

    ledger: SpecLedger
    seconds: float
    positions: list[int]
    sha256: dict[str, str]


def opened(database: Database) -> SpecLedger:
    """A ledger on the test's database, closed before the database is removed."""
    ledger = open_test_ledger(database.env)
    database_closers.setdefault(database.url, []).append(ledger.close)
    return ledger


@pytest.fixture(scope="class")
def large_save(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LargeSave]:
    """The twelve records saved in a child process, killed if it outlives the bound."""
    report = tmp_path_factory.mktemp("large") / "saved.json"
    with fresh_database(str(request.cls.backend)) as database:
        opened(database)  # tables created here, so that the child's time is its save
        try:
            subprocess.run(
                [sys.executable, "-c", SAVE, json.dumps(database.env), str(report)],
                cwd=REPOSITORY,
                check=True,
                capture_output=True,
                timeout=SAVE_BOUND_SECONDS,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"a save of {EVENTS} events of 1.3 MB did not end in {SAVE_BOUND_SECONDS} s"
            )
        except subprocess.CalledProcessError as error:
            pytest.fail(f"the save failed: {error.stderr.decode()[-2000:]}")
        saved = json.loads(report.read_text())
        yield LargeSave(opened(database), saved["seconds"], saved["positions"], saved["sha256"])


class LargeEventsSpec:
    def test_twelve_events_of_one_point_three_megabytes_save_at_once_within_the_bound(
        self, large_save: LargeSave
    ) -> None:
        assert large_save.positions == list(range(1, EVENTS + 1))  # one save, numbered as one
        assert large_save.seconds < SAVE_BOUND_SECONDS

    def test_each_large_event_reads_back_byte_for_byte(self, large_save: LargeSave) -> None:
        ledger = large_save.ledger
        for number in range(EVENTS):
            key = LargeRecord.create_id(number)
            (stored,) = ledger.recorder.select_events(key)
            assert len(stored.state) >= EVENT_BYTES
            assert hashlib.sha256(stored.state).hexdigest() == large_save.sha256[str(key)]

    def test_each_large_event_rebuilds_its_aggregate(self, large_save: LargeSave) -> None:
        ledger = large_save.ledger
        for number in range(EVENTS):
            record: LargeRecord = ledger.repository.get(LargeRecord.create_id(number))
            assert isinstance(record, LargeRecord)
            assert record.rows == rows_of(number)

    def test_the_audit_chain_verifies_over_the_large_events(self, large_save: LargeSave) -> None:
        result = verify(large_save.ledger.recorder)  # type: ignore[arg-type]
        assert (result.ok, result.events) == (True, EVENTS)


class TestLargeEventsOnSQLite(LargeEventsSpec, OnSQLite):
    pass


class TestLargeEventsOnPostgreSQL(LargeEventsSpec, OnPostgreSQL):
    pass


# --- PostgreSQL: the state column stored uncompressed ----------------------------------------

EVENTS_TABLE = "lossledger_events"
SNAPSHOTS_TABLE = "lossledger_snapshots"


def storage(database: Database, table: str) -> str:
    """pg_attribute.attstorage of the table's state column: 'e' EXTERNAL, 'x' EXTENDED."""
    with postgres_connection(database) as connection:
        row = connection.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attname = 'state'",
            (f'"{database.schema}".{table}',),
        ).fetchone()
    return str(row[0])


def sql(database: Database, statement: str) -> list[tuple[Any, ...]]:
    with postgres_connection(database, search_path=database.schema) as connection:
        cursor = connection.execute(statement.encode())
        return cursor.fetchall() if cursor.description else []


def compression_of(database: Database, number: int) -> tuple[str | None, int, int]:
    """How a record's event is stored: its compression, stored size and size."""
    ((method, stored, size),) = sql(
        database,
        "SELECT pg_column_compression(state), pg_column_size(state), octet_length(state) "
        f"FROM {EVENTS_TABLE} WHERE originator_id = '{LargeRecord.create_id(number)}'",
    )
    return method, stored, size


def reopened(database: Database) -> None:
    """The ledger opens the store, as any process or command does, and closes it."""
    open_test_ledger(database.env).close()


def created_without_the_setting(database: Database) -> SpecLedger:
    """A store as a ledger without the setting left it (the column at PostgreSQL's default),
    and a ledger that opened it before: it saves into the column as it is."""
    ledger = opened(database)
    sql(database, f"ALTER TABLE {EVENTS_TABLE} ALTER COLUMN state SET STORAGE EXTENDED")
    return ledger


class TestStateStorageOnPostgreSQL(OnPostgreSQL):
    def test_a_fresh_store_stores_event_state_uncompressed(self, database: Database) -> None:
        reopened(database)
        assert storage(database, EVENTS_TABLE) == "e"

    def test_a_store_created_before_the_setting_gets_it_when_the_ledger_next_opens_it(
        self, database: Database
    ) -> None:
        created_without_the_setting(database)
        assert storage(database, EVENTS_TABLE) == "x"
        reopened(database)
        assert storage(database, EVENTS_TABLE) == "e"

    def test_a_large_event_is_stored_out_of_line_and_uncompressed(self, database: Database) -> None:
        opened(database).save(LargeRecord(1, rows_of(1)))
        method, stored, size = compression_of(database, 1)
        assert method is None
        assert stored >= size >= EVENT_BYTES

    def test_values_stored_before_the_setting_stay_as_they_were_stored(
        self, database: Database
    ) -> None:
        created_without_the_setting(database).save(LargeRecord(1, rows_of(1)))
        ((file_before,),) = sql(database, f"SELECT pg_relation_filenode('{EVENTS_TABLE}')")
        opened(database).save(LargeRecord(2, rows_of(2)))
        assert compression_of(database, 1)[0] == "pglz"  # not rewritten
        assert compression_of(database, 2)[0] is None
        assert sql(database, f"SELECT pg_relation_filenode('{EVENTS_TABLE}')") == [(file_before,)]

    def test_an_open_does_not_wait_for_a_busy_events_table_to_set_it(
        self, database: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        created_without_the_setting(database)
        opening = threading.Thread(target=reopened, args=(database,))
        with postgres_connection(database, search_path=database.schema) as reader:
            with reader.transaction():
                reader.execute(f"SELECT count(*) FROM {EVENTS_TABLE}".encode())  # holds its lock
                with caplog.at_level(logging.WARNING, logger="lossledger.eventstore"):
                    opening.start()
                    opening.join(timeout=30)
                    opened_while_busy = not opening.is_alive()
            opening.join(timeout=30)  # the lock released: an open that waited ends
        assert opened_while_busy
        assert storage(database, EVENTS_TABLE) == "x"
        assert "stays compressed until the ledger opens it again" in caplog.text
        reopened(database)
        assert storage(database, EVENTS_TABLE) == "e"

    def test_snapshots_keep_the_default_storage_their_values_are_small(
        self, database: Database
    ) -> None:
        reopened(database)
        assert storage(database, SNAPSHOTS_TABLE) == "x"

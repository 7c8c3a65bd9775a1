"""A settlement's chunk events on PostgreSQL, the state column compressed or not.

For each storage of the events' state column, in a fresh schema each time (dropped after), the
ledger's own PostgreSQL recorder (infrastructure/eventstore/postgres.py) inserts 100 chunk
events of 10,000 settlement rows each (about 1 MB of JSON apiece) in one `insert_events`, as a
settlement's save does, and reads them back:

- `EXTENDED`: PostgreSQL's default, large values compressed with pglz;
- `EXTENDED lz4`: the same with `SET COMPRESSION lz4`;
- `EXTERNAL`: out of line, uncompressed (what the ledger sets);
- `EXTERNAL, text parameters`: the same with the recorder's statement as eventsourcing writes it
  (`%s`: the states sent as hex text) instead of the recorder's binary parameter (`%b`);
- `binary COPY, EXTERNAL`: the same rows by raw binary COPY, no recorder: the floor.

Medians over the repeats of: wall seconds, client CPU seconds (`time.process_time`), server CPU
seconds (utime + stime, from /proc, of the server backends of this run's connections, found by
their application_name: the server runs on this machine), the table's size on disk, and the
read-back's wall and server CPU.

    python benchmarks/pg_large_values.py --repeats 3

With `--library-insert SECONDS` it saves instead twelve events of 1.3 MB at once with
eventsourcing's own PostgreSQL recorder (its pipelined insert) in a child process, and says
whether the save returned within SECONDS, and where the server's backend waits if not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL

from infrastructure.eventstore.database_url import (
    Database,
    open_ledger,
    parse_database,
    postgres_admin,
    postgres_connection,
)

CHUNKS = 100
ROWS = 10_000
CONTRACTS = ("BTCUSDT", "ETHUSDT", "XRPUSDT", "BNBUSDT", "SOLUSDT", "DOGEUSDT")
TOPIC = "benchmarks.pg_large_values:Chunk"
TICKS = os.sysconf("SC_CLK_TCK")
EVENTS = "lossledger_events"


def chunk_state(rng: random.Random, chunk: int, count: int = ROWS) -> bytes:
    """One chunk's rows as JSON: account, contract, size, entry, mark, profit, share, cash."""
    rows = []
    for index in range(count):
        position = chunk * count + index
        entry = rng.randint(20_000_000, 70_000_000)
        mark = entry + rng.randint(-5_000_000, 5_000_000)
        size = rng.randint(1, 5_000_000)
        rows.append(
            [
                f"b7-t{position // 2:08d}",
                CONTRACTS[position % len(CONTRACTS)],
                str(size),
                str(entry),
                str(mark),
                str((mark - entry) * size // 1000),
                str(rng.randint(0, 10**9)),
                str(rng.randint(0, 10**12)),
            ]
        )
    return json.dumps({"chunk": chunk, "rows": rows}, separators=(",", ":")).encode()


def server_cpu(connection: psycopg.Connection[Any], application: str) -> float:
    """CPU seconds so far of the server backends of this run's connections."""
    pids = [
        row[0]
        for row in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)
        )
    ]
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def set_storage(database: Database, storage: str) -> None:
    events = f'"{database.schema}".{EVENTS}'
    statements = {
        "EXTENDED": [f"ALTER TABLE {events} ALTER COLUMN state SET STORAGE EXTENDED"],
        "EXTENDED lz4": [
            f"ALTER TABLE {events} ALTER COLUMN state SET STORAGE EXTENDED",
            f"ALTER TABLE {events} ALTER COLUMN state SET COMPRESSION lz4",
        ],
        "EXTERNAL": [],  # the ledger's own setting
    }[storage]
    for statement in statements:
        postgres_admin(database, statement)


def table_bytes(database: Database) -> int:
    with postgres_connection(database) as connection:
        row = connection.execute(
            "SELECT pg_total_relation_size(%s::regclass)", (f'"{database.schema}".{EVENTS}',)
        ).fetchone()
    return int(row[0])


def timed(probe: psycopg.Connection[Any], application: str, work: Callable[[], Any]) -> list[float]:
    """Wall, client CPU and server CPU seconds of `work`."""
    wall, client, server = time.perf_counter(), time.process_time(), server_cpu(probe, application)
    work()
    return [
        time.perf_counter() - wall,
        time.process_time() - client,
        server_cpu(probe, application) - server,
    ]


def through_recorder(url: str, variant: str, events: Sequence[StoredEvent]) -> list[float]:
    """The recorder's insert and read-back, in a fresh schema: wall, client, server, bytes,
    read wall, read server."""
    storage, _, parameters = variant.partition(", ")
    application = f"large_values_{uuid.uuid4().hex[:8]}"
    os.environ["PGAPPNAME"] = application  # libpq names every connection the ledger opens
    database = parse_database(f"{url}?schema={application}")
    ledger = open_ledger(database.url)
    try:
        set_storage(database, storage)
        recorder: Any = ledger.recorder
        if parameters == "text parameters":
            statement = recorder.insert_events_statement.as_string()
            recorder.insert_events_statement = SQL(statement.replace("%b::", "%s::"))
        with psycopg.connect(url, autocommit=True, application_name="probe") as probe:
            saved = timed(probe, application, lambda: recorder.insert_events(events))
            read = timed(
                probe, application, lambda: recorder.select_notifications(start=1, limit=CHUNKS)
            )
        return [*saved, table_bytes(database), read[0], read[2]]
    finally:
        ledger.close()
        postgres_admin(database, f'DROP SCHEMA IF EXISTS "{application}" CASCADE')


def by_binary_copy(url: str, events: Sequence[StoredEvent]) -> list[float]:
    """The same rows by binary COPY into the ledger's EXTERNAL events table (no chain rows)."""
    application = f"large_values_{uuid.uuid4().hex[:8]}"
    os.environ["PGAPPNAME"] = application
    database = parse_database(f"{url}?schema={application}")
    open_ledger(database.url).close()  # the tables, as the ledger creates them
    statement = (
        f'COPY "{application}".{EVENTS} (originator_id, originator_version, topic, state) '
        "FROM STDIN (FORMAT BINARY)"
    )

    def copy() -> None:
        with (
            connection.transaction(),
            connection.cursor() as cursor,
            cursor.copy(statement.encode()) as writer,
        ):
            writer.set_types(["uuid", "int8", "text", "bytea"])
            for event in events:
                writer.write_row(
                    (event.originator_id, event.originator_version, event.topic, event.state)
                )

    try:
        with postgres_connection(database) as connection:
            saved = timed(connection, application, copy)
        return [*saved, table_bytes(database), float("nan"), float("nan")]
    finally:
        postgres_admin(database, f'DROP SCHEMA IF EXISTS "{application}" CASCADE')


COLUMNS = (
    "wall s",
    "client CPU s",
    "server CPU s",
    "table MB",
    "read wall s",
    "read server CPU s",
)


def row_text(method: str, runs: list[list[float]]) -> str:
    medians = [statistics.median(run[i] for run in runs) for i in range(len(COLUMNS))]
    medians[3] /= 1_000_000
    cells = ["" if value != value else f"{value:.2f}" for value in medians]  # nan: not measured
    return f"| {method} | " + " | ".join(cells) + " |"


LARGE_EVENTS = 12
LARGE_ROWS = 13_100  # 1.3 MB of JSON an event


def library_insert_child(url: str, schema: str) -> None:
    """In the child: the twelve events in one insert of eventsourcing's own recorder."""
    from eventsourcing.postgres import PostgresFactory
    from eventsourcing.utils import Environment

    database = parse_database(f"{url}?schema={schema}")
    recorder = PostgresFactory(Environment("lossledger", database.env)).application_recorder()
    rng = random.Random(7)
    events = [
        StoredEvent(uuid.uuid4(), 1, TOPIC, chunk_state(rng, n, LARGE_ROWS))
        for n in range(LARGE_EVENTS)
    ]
    started = time.perf_counter()
    recorder.insert_events(events)
    print(f"eventsourcing's insert returned in {time.perf_counter() - started:.2f} s")


def library_insert(url: str, seconds: float) -> None:
    schema = f"large_values_{uuid.uuid4().hex[:8]}"
    os.environ["PGAPPNAME"] = schema
    database = parse_database(f"{url}?schema={schema}")
    postgres_admin(database, f'CREATE SCHEMA "{schema}"')
    child = [sys.executable, __file__, "--url", url, "--library-insert-child", schema]
    process = subprocess.Popen(child)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with postgres_connection(database) as connection:
            waits = connection.execute(
                "SELECT state, wait_event, left(query, 40) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid() AND state = 'active'",
                (schema,),
            ).fetchall()
        print(f"eventsourcing's insert had not returned after {seconds} s: {waits}")
    finally:
        process.kill()
        process.wait()
        postgres_admin(database, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--library-insert", type=float, metavar="SECONDS")
    parser.add_argument("--library-insert-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.library_insert_child:
        library_insert_child(args.url, args.library_insert_child)
        return
    if args.library_insert:
        library_insert(args.url, args.library_insert)
        return
    rng = random.Random(7)
    events = [StoredEvent(uuid.uuid4(), 1, TOPIC, chunk_state(rng, n)) for n in range(CHUNKS)]
    megabytes = sum(len(event.state) for event in events) / 1_000_000
    print(f"{CHUNKS} events of {ROWS:,} rows, {megabytes:.1f} MB of JSON, {args.repeats} repeats")
    storages = ("EXTENDED", "EXTENDED lz4", "EXTERNAL", "EXTERNAL, text parameters")
    runs: dict[str, list[list[float]]] = {name: [] for name in (*storages, "COPY")}
    for _ in range(args.repeats):  # interleaved, so that the machine's load falls on every row
        for storage in storages:
            runs[storage].append(through_recorder(args.url, storage, events))
        runs["COPY"].append(by_binary_copy(args.url, events))
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for storage in storages:
        print(row_text(f"recorder, {storage}", runs[storage]))
    print(row_text("binary COPY, EXTERNAL (floor)", runs["COPY"]))


if __name__ == "__main__":
    main()

"""The replay's bulk read on a large PostgreSQL events table that has no statistics.

Builds, in a schema of its own (dropped afterwards), the ledger's events table through the
ledger's own recorder, fills it with SQL (default: 700,000 accounts of 5 events and 2,900,000
aggregates of one, 6.4 million events of about 260 bytes, the shape of a 1M-position store),
never analyzes it, then times, on the same chunks of 500 accounts side by side:

- the plain read, `WHERE originator_id = ANY(ids) ORDER BY originator_id, originator_version`
  (printed as `old`);
- the recorder's read (`events_of_statement`: one index range per id, printed as `new`);

each with JIT on and off, at each `effective_cache_size` given, planned afresh each time
(`prepare=False`). The plain read's plan turns into a parallel sequential scan and sort once the
table is larger than that setting. Last, twelve executions of the plain read on a fresh
connection, sent as a recorder would send it: psycopg prepares a statement on its sixth
execution on a connection, and PostgreSQL may then keep a generic plan (docs/storage.md).

    python benchmarks/bulk_read_plan.py --cache 4GB --cache 2GB
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.sql import SQL

from infrastructure.eventstore.database_url import open_ledger, parse_database, postgres_admin

CHUNK = 500


def account(n: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"acct{n}".encode()).hexdigest())


def build(conn: psycopg.Connection, events: str, accounts: int, singles: int) -> None:
    conn.execute(
        f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
        "SELECT md5('acct' || a)::uuid, v, 'bench:Account', "
        "convert_to(repeat(md5(a::text || v::text), 8), 'UTF8') "
        "FROM generate_series(1, %s) AS a, generate_series(1, 5) AS v ORDER BY a, v",
        (accounts,),
    )
    conn.execute(
        f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
        "SELECT md5('single' || a)::uuid, 1, 'bench:Position', "
        "convert_to(repeat(md5(a::text), 8), 'UTF8') FROM generate_series(1, %s) AS a",
        (singles,),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--accounts", type=int, default=700_000)
    parser.add_argument("--singles", type=int, default=2_900_000)
    parser.add_argument("--chunks", type=int, default=9, help="chunks of 500 accounts timed")
    parser.add_argument("--cache", action="append", help="effective_cache_size values")
    args = parser.parse_args()
    schema = f"bulk_read_plan_{uuid.uuid4().hex[:8]}"
    database = parse_database(f"{args.url}?schema={schema}")
    ledger = open_ledger(database.url)
    recorder = ledger.recorder
    events = f'"{schema}".{recorder.events_table_name}'  # type: ignore[attr-defined]
    new = recorder.events_of_statement()  # type: ignore[attr-defined]
    old = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {events} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(events=recorder._events())  # type: ignore[attr-defined]
    try:
        with psycopg.connect(args.url, autocommit=True) as conn:
            started = time.perf_counter()
            build(conn, events, args.accounts, args.singles)
            size, tuples = conn.execute(
                f"SELECT pg_size_pretty(pg_relation_size('{events}')), reltuples "
                f"FROM pg_class WHERE oid = '{events}'::regclass"
            ).fetchone() or ("?", "?")
            total = 5 * args.accounts + args.singles
            print(
                f"table: {total:,} events, {size}, reltuples {tuples} (never analyzed), "
                f"built in {time.perf_counter() - started:.0f} s"
            )
            for cache in args.cache or ["4GB", "2GB"]:
                conn.execute(f"SET effective_cache_size = '{cache}'")
                timings: dict[str, list[float]] = {}
                for c in range(args.chunks):
                    first = 1 + (c * 7919 * CHUNK) % max(1, args.accounts - CHUNK)
                    ids = [account(n) for n in range(first, first + CHUNK)]
                    for name, statement in (("old", old), ("new", new)):
                        for jit in ("on", "off"):
                            conn.execute(f"SET jit = {jit}")
                            began = time.perf_counter()
                            rows = conn.execute(statement, (ids,), prepare=False).fetchall()
                            timings.setdefault(f"{name}, jit {jit}", []).append(
                                time.perf_counter() - began
                            )
                            assert len(rows) == 5 * CHUNK, len(rows)
                            assert rows == sorted(rows, key=lambda r: (r[0], r[1]))
                conn.execute("SET jit = on")
                plan = conn.execute(SQL("EXPLAIN ") + old, (ids,)).fetchone()
                for name, values in timings.items():
                    print(
                        f"effective_cache_size {cache}: {name}: median "
                        f"{1000 * statistics.median(values):.1f} ms of {len(values)}"
                    )
                print(f"effective_cache_size {cache}: old plan: {plan[0] if plan else '?'}")
                # sent as a recorder would send it: psycopg prepares a statement on its sixth
                # execution on a connection, and PostgreSQL may then settle on a generic plan
                with psycopg.connect(args.url, autocommit=True) as fresh:
                    fresh.execute(f"SET effective_cache_size = '{cache}'")
                    series = []
                    for c in range(12):
                        ids = [account(n) for n in range(1 + c * CHUNK, 1 + (c + 1) * CHUNK)]
                        began = time.perf_counter()
                        fresh.execute(old, (ids,)).fetchall()
                        series.append(f"{1000 * (time.perf_counter() - began):.0f}")
                print(f"effective_cache_size {cache}: old, auto-prepared, ms: {' '.join(series)}")
    finally:
        ledger.close()
        postgres_admin(database, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()

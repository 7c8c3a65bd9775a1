"""What one settlement's insert costs SQLite per row, as the events table grows tenfold.

A settlement inserts one event per account and per participant (890,000 at a million
positions) into the events table, in one transaction. The table is the library's: rows in
rowid order, and an index on (originator_id, originator_version) whose keys are random
(UUIDs), so each new row lands on a random leaf page of that index. This script builds the
table at the bench's sizes (6.4 events a position, about 520 bytes each, keys as the ledger
stores them), then times one transaction inserting the next version of 0.89 events a position
(the settlement's share), in random key order, with SQLite's page cache at its default (2,000
KiB) and at the sizes given, and prints the seconds per row and the tenfold step.

    .venv/bin/python benchmarks/sqlite_index_growth.py --positions 100000 --positions 1000000 \
        --cache-mib 64 --cache-mib 512

Nothing of the ledger runs here: only sqlite3, in a temporary directory.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

EVENTS_PER_POSITION = 6.4  # the bench writes 6,425,002 events for 1,000,000 positions
SETTLED_PER_POSITION = 0.89  # the settlement's events: 681,667 accounts + 209,304 participants
STATE_BYTES = 519  # the ledger's mean stored event at 1M (benchmarks/results/7bfd682)
SCHEMA = (
    "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
    "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
)
INSERT = "INSERT INTO stored_events VALUES (?, ?, ?, ?)"


def build(path: Path, positions: int, seed: int) -> list[tuple[str, int]]:
    """The table as the bench leaves it before the settlement; the aggregates' last versions."""
    rng = random.Random(seed)
    events = round(positions * EVENTS_PER_POSITION)
    aggregates = max(1, events // 7)  # about seven events an aggregate
    ids = [rng.randbytes(16).hex() for _ in range(aggregates)]
    versions = dict.fromkeys(ids, 0)
    state = os.urandom(STATE_BYTES)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA cache_size=-1048576")  # building only: 1 GiB, so it is quick
    connection.execute(SCHEMA)
    for start in range(0, events, 100_000):
        rows = []
        for _ in range(min(100_000, events - start)):
            key = ids[rng.randrange(aggregates)]
            versions[key] += 1
            rows.append((key, versions[key], "domain.accounts:Account.Event", state))
        connection.execute("BEGIN")
        connection.executemany(INSERT, rows)
        connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return [(key, version) for key, version in versions.items() if version]


def settle_once(built: Path, last: list[tuple[str, int]], rows: int, cache_kib: int) -> float:
    """Seconds for one transaction of `rows` next-version inserts (random order), on a copy."""
    path = built.with_suffix(".copy")
    shutil.copyfile(built, path)
    rng = random.Random(rows)
    chosen = rng.sample(last, min(rows, len(last)))
    state = os.urandom(STATE_BYTES)
    batch = [(key, version + 1, "domain.accounts:Account.Event", state) for key, version in chosen]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(f"PRAGMA cache_size=-{cache_kib}")
    connection.execute("SELECT count(*) FROM stored_events WHERE rowid < 10").fetchone()
    started = time.perf_counter()
    connection.execute("BEGIN")
    for start in range(0, len(batch), 10_000):  # the ledger inserts 10,000 rows a statement
        connection.executemany(INSERT, batch[start : start + 10_000])
    connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, action="append", required=True)
    parser.add_argument("--cache-mib", type=int, action="append", default=[])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    caches = [2000] + [mib * 1024 for mib in arguments.cache_mib]  # KiB; 2000 is the default
    per_row: dict[tuple[int, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="sqlite-index-growth-") as name:
        for positions in sorted(arguments.positions):
            path = Path(name) / f"events{positions}.db"
            started = time.perf_counter()
            last = build(path, positions, arguments.seed)
            rows = round(positions * SETTLED_PER_POSITION)
            size = path.stat().st_size / 2**20
            print(
                f"{positions:,} positions: {len(last):,} aggregates, {size:,.0f} MiB table, "
                f"built in {time.perf_counter() - started:.0f} s; inserting {rows:,} rows",
                flush=True,
            )
            for cache in caches:
                runs = [settle_once(path, last, rows, cache) for _ in range(arguments.repeats)]
                seconds = statistics.median(runs)
                per_row[positions, cache] = seconds / rows
                print(
                    f"  page cache {cache / 1024:>6.0f} MiB: {seconds:7.2f} s median of "
                    f"{' '.join(f'{run:.2f}' for run in runs)}, {seconds / rows * 1e6:.1f} us/row",
                    flush=True,
                )
            path.unlink()
    sizes = sorted(arguments.positions)
    for small, large in itertools.pairwise(sizes):
        for cache in caches:
            step = (per_row[large, cache] * large) / (per_row[small, cache] * small)
            print(
                f"{small:,} -> {large:,} positions, page cache {cache / 1024:.0f} MiB: "
                f"the insert takes {step:.1f}x the time for {large / small:.0f}x the rows"
            )


if __name__ == "__main__":
    main()

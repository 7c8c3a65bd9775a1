"""How fast the read models fold the log: `ReadModels.rebuild()` over a store of the bench market.

The store is built once (`write_bench_market`, seed 7, N positions: the load file then the settle
file, applied as `lossledger apply` does) and kept at the path given, so that runs of this script
on different checkouts time the same log. Each run drops and rebuilds every read model, K times,
each in a process of its own; the figures are the medians: wall and CPU seconds (CPU: that
process only, PostgreSQL's own is not in it), events a wall second, seconds in the garbage
collector, and the peak RSS.

    .venv/bin/python benchmarks/projection_rate.py --store /tmp/projrate/ledger.db
    .venv/bin/python benchmarks/projection_rate.py \
        --db 'postgresql://postgres@127.0.0.1:5432/test?schema=projrate_x' --keep
    # before and after in one run, interleaved: the baseline is another checkout's code
    git archive ba380b6 | tar -x -C /tmp/projrate/before
    .venv/bin/python benchmarks/projection_rate.py --store /tmp/projrate/ledger.db \
        --baseline /tmp/projrate/before

`--profile FILE` writes a cProfile of one more rebuild (read it with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from domain.ledger import LossLedger
from infrastructure.apply.runner import apply_file
from infrastructure.eventstore.database_url import (
    create_store_place,
    ledger_exists,
    parse_database,
    postgres_admin,
)
from infrastructure.readmodels.runner import ReadModels
from infrastructure.tools.bench import CACHE_FLOOR, GarbageClock
from infrastructure.tools.market import write_bench_market

SEED = 7
BUILT = "projrate_built"  # a marker table: the store holds the whole market


def say(message: str) -> None:
    print(f"projection_rate: {message}", file=sys.stderr, flush=True)


def url_of(arguments: argparse.Namespace) -> str:
    if arguments.db:
        return str(arguments.db)
    store = Path(arguments.store).expanduser().resolve()
    store.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store}"


def build(url: str, positions: int) -> None:
    """The bench market applied to the store unless it holds it already: the load file, then
    the settle file, with the bench's warm aggregate cache. An interrupted build is resumed
    (commands already applied are skipped by their ids)."""
    database = parse_database(url)
    if ledger_exists(database):
        found = built_positions(url)
        if found == positions:
            return
        if found is not None:
            raise SystemExit(f"{url} holds the market of {found:,} positions, not {positions:,}")
    create_store_place(database)
    with tempfile.TemporaryDirectory(prefix="projrate-") as directory:
        load, settle = Path(directory) / "load.jsonl", Path(directory) / "settle.jsonl"
        say(f"writing the bench market of {positions:,} positions (seed {SEED})")
        counts = write_bench_market(positions, SEED, load, settle)
        cache = max(CACHE_FLOOR, counts["accounts"] + counts["accounts"] // 10)
        ledger = LossLedger(env={**database.env, "AGGREGATE_CACHE_MAXSIZE": str(cache)})
        try:
            for path in (load, settle):
                say(f"applying {path.name}")
                result = apply_file(ledger, path)
                if not result.ok:
                    raise SystemExit(f"refused at line {result.refused_line}: {result.reason}")
        finally:
            ledger.close()
    mark_built(url, positions)


def built_positions(url: str) -> int | None:
    """The positions of the market the store holds whole, None while it holds none whole."""
    database = parse_database(url)
    engine = create_engine(database.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(BUILT, schema=database.schema):
                return None
            table = f'"{database.schema}".{BUILT}' if database.schema else BUILT
            found = connection.execute(text(f"SELECT positions FROM {table}")).scalar()
            return None if found is None else int(found)
    finally:
        engine.dispose()


def mark_built(url: str, positions: int) -> None:
    database = parse_database(url)
    engine = create_engine(database.sqlalchemy_url)
    table = f'"{database.schema}".{BUILT}' if database.schema else BUILT
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {table} (positions BIGINT NOT NULL)"))
        connection.execute(text(f"INSERT INTO {table} VALUES ({positions})"))
    engine.dispose()


def rebuild_once(url: str, profile: Path | None = None) -> dict[str, Any]:
    """One rebuild of every read model from the whole log, on a fresh ledger object."""
    database = parse_database(url)
    ledger = LossLedger(env=database.env)
    models = ReadModels(ledger, database)
    profiler = cProfile.Profile() if profile is not None else None
    try:
        with GarbageClock().running() as garbage:
            wall, cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            events = models.rebuild()
            if profiler is not None:
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        models.dispose()
        ledger.close()
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    return {
        "events": events,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "gc_seconds": round(sum(garbage.seconds), 3),
        "events_per_second": round(events / wall),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def rebuild_apart(url: str, checkout: Path | None = None) -> dict[str, Any]:
    """One rebuild in a process of its own, by this code or by another source tree's (this
    interpreter and its packages, with the tree first on the import path), on the same store."""
    environment = dict(os.environ)
    if checkout is not None:
        environment["PYTHONPATH"] = str(checkout.resolve())
    finished = subprocess.run(
        [sys.executable, __file__, "--url", url, "--once"],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: statistics.median(run[key] for run in runs) if key != "events" else runs[0][key]
        for key in runs[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, default=100_000)
    parser.add_argument("--store", default="/tmp/projrate/ledger.db")
    parser.add_argument("--db", help="a PostgreSQL URL with ?schema=..., instead of --store")
    parser.add_argument("--repeat", type=int, default=3, help="rebuilds timed (0: build only)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument(
        "--baseline", type=Path, help="a source tree of other code to time, interleaved"
    )
    parser.add_argument("--profile", type=Path, help="cProfile one more rebuild into FILE")
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.once:  # one timed rebuild, in the process rebuild_apart starts
        print(json.dumps(rebuild_once(arguments.url)))
        return
    url = url_of(arguments)
    build(url, arguments.positions)
    figures: dict[str, Any] = {"positions": arguments.positions, "url": url}
    current: list[dict[str, Any]] = []
    before: list[dict[str, Any]] = []
    try:
        for run in range(arguments.repeat):  # each in a fresh process, interleaved
            if arguments.baseline is not None:
                before.append(rebuild_apart(url, arguments.baseline))
                say(f"baseline run {run + 1}: {before[-1]}")
            current.append(rebuild_apart(url))
            say(f"run {run + 1}: {current[-1]}")
        if current:  # --repeat 0: the store is built, nothing timed
            figures["current"] = median(current)
        if before:
            figures["baseline"] = {"checkout": str(arguments.baseline), **median(before)}
        if arguments.profile is not None:
            rebuild_once(url, arguments.profile)
            say(f"profile written to {arguments.profile}")
    finally:
        database = parse_database(url)
        if database.backend == "postgresql" and not arguments.keep:
            postgres_admin(database, f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE')
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

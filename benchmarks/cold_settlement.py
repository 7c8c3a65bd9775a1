"""A settlement and a replay in a fresh process, on a copy of a store holding a loaded market.

`lossledger bench` settles in the process that applied the market: the settlement reads the
book that process kept while it wrote the position events. An operator who restarts the
writer before settling, and an auditor, start cold: the cycle aggregate is loaded and the
whole cycle's book is read from the log. This measures that path, and the step from one size
to the next, without loading the market again for every run:

    .venv/bin/python benchmarks/cold_settlement.py build --positions 1000000 --dir /tmp/s1m
    .venv/bin/python benchmarks/cold_settlement.py settle --dir /tmp/s1m [--repeat 3]
    .venv/bin/python benchmarks/cold_settlement.py settle --dir /tmp/s10m --in-place

`build` writes the bench market (seed 7) and applies its load file to DIR/load.db once (about
a quarter of an hour at 1M); `settle` copies that store (with `--in-place`, settles the built
store itself, once), then, in this process with an empty cache, times the cycle's load, the
settlement and a replay by a second ledger, and prints one JSON line a run with the digest,
the peak RSS and the medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.core.ids import cycle_id
from domain.cycles import Cycle
from domain.ledger import LossLedger
from domain.queries.cycle_report import cycle_document
from domain.queries.replay import replay_cycle
from infrastructure.apply.runner import apply_file
from infrastructure.eventstore.database_url import create_store_place, parse_database
from infrastructure.tools.market import write_bench_market

CYCLE = "b7-cycle-1"
CACHE = "200000"  # the ledger's default


def build(positions: int, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    load, settle = directory / "load.jsonl", directory / "settle.jsonl"
    print(json.dumps(write_bench_market(positions, 7, load, settle)), flush=True)
    database = parse_database(f"sqlite:///{directory / 'load.db'}")
    create_store_place(database)
    ledger = LossLedger(env={**database.env, "AGGREGATE_CACHE_MAXSIZE": CACHE})
    started = time.perf_counter()
    result = apply_file(ledger, load)
    ledger.close()
    with sqlite3.connect(directory / "load.db") as connection:  # the copy needs no WAL file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(json.dumps({"loaded": result.ok, "seconds": round(time.perf_counter() - started, 1)}))


def timed(step: str, figures: dict[str, float], work: Any) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    figures[f"{step}_seconds"] = -wall
    figures[f"{step}_cpu_seconds"] = -cpu
    work()
    figures[f"{step}_seconds"] = round(figures[f"{step}_seconds"] + time.perf_counter(), 3)
    figures[f"{step}_cpu_seconds"] = round(figures[f"{step}_cpu_seconds"] + time.process_time(), 3)


def settle_once(directory: Path, scratch: Path, in_place: bool = False) -> dict[str, object]:
    if in_place:  # the built store itself, settled once (a 10M store is ~25 GB to copy)
        scratch = directory
    else:
        scratch.mkdir(parents=True, exist_ok=True)
        for old in scratch.glob("load.db*"):
            old.unlink()
        shutil.copy(directory / "load.db", scratch / "load.db")
    database = parse_database(f"sqlite:///{scratch / 'load.db'}")
    env = {**database.env, "AGGREGATE_CACHE_MAXSIZE": CACHE}
    figures: dict[str, float] = {}
    ledger = LossLedger(env=env)
    timed("cycle_load", figures, lambda: ledger.unit.find(cycle_id(CYCLE), Cycle))
    outcome: list[object] = []
    timed("settle", figures, lambda: outcome.append(apply_file(ledger, directory / "settle.jsonl")))
    ledger.close()
    auditor = LossLedger(env=env)
    replays: list[object] = []
    timed("replay", figures, lambda: replays.append(replay_cycle(auditor, CYCLE)))
    replay: Any = replays[0]
    return {
        **figures,
        "settled": getattr(outcome[0], "ok", False),
        "differences": len(replay.differences),
        "digest": cycle_document(auditor, CYCLE)["digest"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["build", "settle"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--positions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--in-place", action="store_true", help="settle the built store itself, once, no copy"
    )
    arguments = parser.parse_args()
    if arguments.mode == "build":
        build(arguments.positions, arguments.dir)
        return
    if arguments.in_place:
        arguments.repeat = 1
    runs = [
        settle_once(arguments.dir, arguments.dir / "run", arguments.in_place)
        for _ in range(arguments.repeat)
    ]
    for run in runs:
        print(json.dumps(run), flush=True)
    keys = [key for key, value in runs[0].items() if key.endswith("seconds")]
    print(json.dumps({"medians": {key: statistics.median(r[key] for r in runs) for key in keys}}))


if __name__ == "__main__":
    main()

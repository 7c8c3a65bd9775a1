"""How fast the audit chain is checked: `lossledger verify` beside the standalone verifier
(docs/audit/verify_chain.py) on the same store, in one run.

The store is the one given, or, where there is none yet, the bench market built there once
(`write_bench_market`, seed 7, N positions: the load file then the settle file, applied as
`lossledger apply` does). Each round runs, in fresh processes and in this order:

- `lossledger verify --db URL`, and the baseline's (`--baseline DIR`: another source tree's
  code on the import path, this interpreter and its packages), timed from outside: what a
  person waits for, the interpreter's start and the imports included;
- `python docs/audit/verify_chain.py URL`, timed the same way;
- verify() alone, in a process of its own: the call timed, without the start, the imports and
  the opening of the ledger, with that process's peak RSS;
- `lossledger --help`: the command line's start alone (interpreter and imports).

Each figure has its CPU seconds beside the wall seconds: those of the verifying process alone
(PostgreSQL's own are not in them), the figure to compare on a machine that runs other work.
Every verifier must print the same line (the same events, head and position). Printed: one
JSON object, each figure the median of the rounds, events per second = events / wall seconds.

    .venv/bin/python benchmarks/verify_rate.py --store /tmp/verifyrate/ledger.db
    .venv/bin/python benchmarks/verify_rate.py \\
        --db 'postgresql://postgres@127.0.0.1:5432/test?schema=verifyrate_x'
    git archive 0cd64f8 | tar -x -C /tmp/verifyrate/before     # the row-by-row verify
    .venv/bin/python benchmarks/verify_rate.py --store /tmp/verifyrate/ledger.db \\
        --baseline /tmp/verifyrate/before

A PostgreSQL schema this script built is dropped afterwards unless `--keep`; a store it was
given is never changed.
"""

from __future__ import annotations

import argparse
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

from domain.ledger import LossLedger
from infrastructure.apply.runner import apply_file
from infrastructure.eventstore.database_url import (
    create_store_place,
    ledger_exists,
    parse_database,
    postgres_admin,
)
from infrastructure.tools.bench import CACHE_FLOOR, code_version, machine
from infrastructure.tools.market import write_bench_market

SEED = 7
ROOT = Path(__file__).resolve().parents[1]
LOSSLEDGER = Path(sys.executable).with_name("lossledger")
STANDALONE = ROOT / "docs" / "audit" / "verify_chain.py"


def say(message: str) -> None:
    print(f"verify_rate: {message}", file=sys.stderr, flush=True)


def build(url: str, positions: int) -> bool:
    """The bench market applied to a store that holds no ledger yet; False (and nothing
    done) when the URL holds one already."""
    database = parse_database(url)
    if ledger_exists(database):
        return False
    create_store_place(database)
    with tempfile.TemporaryDirectory(prefix="verifyrate-") as directory:
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
    return True


def environment(checkout: Path | None) -> dict[str, str]:
    variables = dict(os.environ)
    if checkout is not None:
        variables["PYTHONPATH"] = str(checkout.resolve())
    return variables


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(command: list[str], checkout: Path | None = None) -> dict[str, Any]:
    """One run of a command from outside: wall seconds, its CPU seconds (the process's own:
    PostgreSQL's are not in them), the line it printed."""
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment(checkout), check=False
    )
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return {"seconds": seconds, "cpu_seconds": cpu, "line": done.stdout.strip()}


def verify_apart(url: str, checkout: Path | None = None) -> dict[str, Any]:
    """verify() in a process of its own (this script with --once), timed around the call."""
    done = subprocess.run(
        [sys.executable, __file__, "--url", url, "--once"],
        capture_output=True,
        text=True,
        env=environment(checkout),
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def verify_once(url: str) -> dict[str, Any]:
    from infrastructure.audit.verify import verify
    from infrastructure.eventstore.database_url import open_existing_ledger

    ledger = open_existing_ledger(url)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        result = verify(ledger.recorder)  # type: ignore[arg-type]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        ledger.close()
    if not result.ok:
        raise SystemExit(f"position {result.first_bad_position}: {result.reason}")
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "line": f"verified {result.events} events from position {result.start}; "
        f"head {result.head_hash or '(empty log)'} at position {result.head_position}",
    }


def summary(runs: list[dict[str, Any]], events: int) -> dict[str, Any]:
    seconds = statistics.median(run["seconds"] for run in runs)
    figures: dict[str, Any] = {
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds),
        "runs_seconds": [round(run["seconds"], 3) for run in runs],
    }
    for key in ("cpu_seconds", "peak_rss_mib"):
        if key in runs[0]:
            figures[key] = round(statistics.median(run[key] for run in runs), 3)
    return figures


def events_in(line: str) -> int:
    return int(line.split()[1])  # "verified N events from position ..."


def rounds(url: str, repeat: int, baseline: Path | None) -> dict[str, Any]:
    lossledger = [str(LOSSLEDGER), "verify", "--db", url]
    runs: dict[str, list[dict[str, Any]]] = {}
    for number in range(repeat):
        ran = {"lossledger_verify": timed_command(lossledger)}
        if baseline is not None:
            ran["baseline_lossledger_verify"] = timed_command(lossledger, baseline)
        ran["standalone_verifier"] = timed_command([sys.executable, str(STANDALONE), url])
        ran["verify_in_process"] = verify_apart(url)
        if baseline is not None:
            ran["baseline_verify_in_process"] = verify_apart(url, baseline)
        lines = {name: run["line"] for name, run in ran.items()}
        if len(set(lines.values())) != 1:
            raise SystemExit(f"the verifiers disagree: {json.dumps(lines, indent=2)}")
        ran["lossledger_start"] = timed_command([str(LOSSLEDGER), "--help"])
        say(
            f"round {number + 1}: " + ", ".join(f"{k} {v['seconds']:.2f} s" for k, v in ran.items())
        )
        for name, run in ran.items():
            runs.setdefault(name, []).append(run)
    events = events_in(runs["lossledger_verify"][0]["line"])
    figures: dict[str, Any] = {"events": events, "line": runs["lossledger_verify"][0]["line"]}
    for name, measured in runs.items():
        figures[name] = summary(measured, events)
    start = figures["lossledger_start"]
    figures["lossledger_start"] = {"seconds": start["seconds"], "cpu_seconds": start["cpu_seconds"]}
    figures["lossledger_to_standalone"] = round(
        figures["standalone_verifier"]["seconds"] / figures["lossledger_verify"]["seconds"], 2
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, default=100_000, help="of a store to build")
    parser.add_argument("--store", default="/tmp/verifyrate/ledger.db", help="a SQLite file")
    parser.add_argument("--db", help="a database URL instead of --store (PostgreSQL: ?schema=)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds timed")
    parser.add_argument("--keep", action="store_true", help="keep a PostgreSQL schema built")
    parser.add_argument("--baseline", type=Path, help="a source tree of other code to time")
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.once:  # one timed verify(), in the process verify_apart starts
        print(json.dumps(verify_once(arguments.url)))
        return
    if arguments.db:
        url = str(arguments.db)
    else:
        store = Path(arguments.store).expanduser().resolve()
        url = f"sqlite:///{store}"
    built = build(url, arguments.positions)
    load_before = os.getloadavg()[0]
    try:
        figures: dict[str, Any] = {
            "url": url,
            "built_positions": arguments.positions if built else None,
            **rounds(url, arguments.repeat, arguments.baseline),
            "baseline": str(arguments.baseline) if arguments.baseline else None,
            "code": code_version(),
            "machine": machine(load_before),
        }
    finally:
        database = parse_database(url)
        if built and database.backend == "postgresql" and not arguments.keep:
            postgres_admin(database, f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE')
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

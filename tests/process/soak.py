"""`make soak`: the long campaigns of docs/reliability.md, with their figures.

Kills: on each backend, `lossledger apply` (and projection catch-ups) are killed again and again,
at injected points with a random occurrence and at random moments, each kill followed by the
checks of tests/support/crashing.py (`lossledger verify` and `lossledger reconcile` exit 0, the
books balance, every command and every settlement wholly stored or not at all), and every store
applied again to the end and compared with a clean run.

Races: on each backend, two `lossledger apply` processes released together on one store, with
overlapping files, two settlements of one cycle under two ids, and a retry bound of 1; each round
ends compared with one process applying the file.

    .venv/bin/python -m tests.process.soak [--kills 100] [--races 20] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from infrastructure.apply import runner
from infrastructure.eventstore.database_url import Database
from infrastructure.tools.faults import POINTS
from tests.support.crashing import (
    GAVE_UP,
    KILLED,
    SETTLED,
    LedgerState,
    MarketFile,
    check_complete,
    check_in_process,
    check_survived,
    clean_run,
    finish,
    read_state,
    release,
    run,
    start,
    write_market,
)
from tests.support.databases import fresh_database

ACCOUNTS = (300, 40)  # the crash specs' market as it was measured: a batch, two settlements
RETRIED = "applying from this line again"
RETRIED_CONFLICT = "another writer saved changes to the same aggregates first"
# How many times each point is reached in one apply of a fresh store, at most; a kill at a
# later occurrence than the work left lets the run finish, which the campaign counts too.
OCCURRENCES = {
    "insert": 4,
    "settle_insert": 2,
    "insert_committed": 4,
    "batch": 1,
    "projection_write": 2,
    "projection_commit": 2,
}


@dataclass
class Figures:
    kills: Counter[str] = field(default_factory=Counter)
    survived: int = 0
    finished_first: int = 0
    stores: int = 0
    stores_complete: int = 0
    rounds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: Counter[int] = field(default_factory=Counter)
    retry_causes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _kill_once(
    rng: random.Random, market: MarketFile, database: Database, longest: float, *, first: bool
) -> tuple[str, bool]:
    """One `apply` killed at an injected point (a random occurrence on a fresh store, the first
    one on a store a kill left behind) or at a random moment after its start: (what, killed)."""
    file = str(market.path)
    if rng.random() < 0.5:
        point = rng.choice(POINTS)
        nth = rng.randint(1, OCCURRENCES[point]) if first else 1
        done = run("apply", file, "-q", db=database.url, env={"LOSSLEDGER_FAULT": f"{point}:{nth}"})
        return point, done.returncode == KILLED
    process = start("apply", file, "-q", db=database.url)
    try:
        process.wait(timeout=rng.uniform(0, longest if first else longest / 2))
    except subprocess.TimeoutExpired:
        process.kill()
    process.communicate(timeout=300)
    return "random moment", process.returncode == KILLED


def _kill_rebuild(rng: random.Random, database: Database) -> tuple[str, bool]:
    """A rebuild of the read models killed inside or just after one of its batches."""
    point = rng.choice(["projection_write", "projection_commit"])
    fault = f"{point}:{rng.randint(1, OCCURRENCES[point])}"
    done = run("projections", "rebuild", db=database.url, env={"LOSSLEDGER_FAULT": fault})
    return f"{point} (rebuild)", done.returncode == KILLED


def _one_store(
    rng: random.Random,
    market: MarketFile,
    database: Database,
    reference: LedgerState,
    longest: float,
    figures: Figures,
) -> None:
    """A fresh store killed once, maybe again while applied again, maybe in a rebuild; then
    applied to the end and compared with the clean run."""
    moves = ["first"] + (["again"] if rng.random() < 0.5 else [])
    for move in moves:
        what, killed = _kill_once(rng, market, database, longest, first=move == "first")
        if not killed:
            figures.finished_first += 1
            continue
        figures.kills[what] += 1
        check_survived(database, market, reference, by_cli=True)
        figures.survived += 1
    again = run("apply", str(market.path), "-q", db=database.url)
    assert again.returncode == 0, again.stderr
    if rng.random() < 0.25:
        what, killed = _kill_rebuild(rng, database)
        if killed:
            figures.kills[what] += 1
            check_survived(database, market, reference, by_cli=True)
            figures.survived += 1
    check_complete(read_state(database, market.cycles), reference)
    figures.stores_complete += 1


def kill_campaign(
    backend: str, kills: int, market: MarketFile, reference: LedgerState, figures: Figures
) -> None:
    rng = random.Random(f"soak-kills-{backend}")  # reproducible campaign
    with fresh_database(backend) as timing:
        longest = 1.2 * clean_run(market, timing)  # a random moment within a whole run
    while sum(figures.kills.values()) < kills:
        figures.stores += 1
        with fresh_database(backend) as database:
            try:
                _one_store(rng, market, database, reference, longest, figures)
            except AssertionError as error:
                figures.failures.append(f"{backend} store {figures.stores}: {str(error)[:500]}")
        if figures.stores % 10 == 0:
            _progress(backend, figures, kills)


def _progress(backend: str, figures: Figures, kills: int) -> None:
    done = sum(figures.kills.values())
    print(f"  {backend}: {done}/{kills} kills, {len(figures.failures)} failures", flush=True)


def _race_files(rng: random.Random, market: MarketFile, folder: Path) -> tuple[str, list[Path]]:
    whole = market.path
    settle = market.settle_line(market.cycles[0])
    kind = rng.choice(["same file", "prefix and whole", "two settle ids", "attempts 1"])
    if kind == "prefix and whole":
        prefix = market.write_lines(folder / "prefix.jsonl", market.commands[:settle])
        return kind, rng.sample([prefix, whole], 2)
    if kind == "two settle ids":
        return kind, [
            market.write_lines(
                folder / f"{who}.jsonl",
                [*market.commands[: settle - 1], {**market.commands[settle - 1], "id": who}],
            )
            for who in ("settle-a", "settle-b")
        ]
    return kind, [whole, whole]


def race_campaign(
    backend: str, rounds: int, market: MarketFile, reference: LedgerState, figures: Figures
) -> None:
    rng = random.Random(f"soak-races-{backend}")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        for number in range(rounds):
            kind, files = _race_files(rng, market, folder)
            figures.rounds[kind] += 1
            with fresh_database(backend) as database:
                try:
                    barrier = folder / f"go-{number}"
                    _race_round(database, market, reference, kind, files, barrier, figures)
                except AssertionError as error:
                    figures.failures.append(f"{backend} race {number} ({kind}): {str(error)[:500]}")
            if (number + 1) % 5 == 0:
                print(f"  {backend}: {number + 1}/{rounds} races", flush=True)


def _race_round(
    database: Database,
    market: MarketFile,
    reference: LedgerState,
    kind: str,
    files: list[Path],
    barrier: Path,
    figures: Figures,
) -> None:
    env = {runner.ATTEMPTS_ENV: "1"} if kind == "attempts 1" else None
    processes = [
        start("apply", str(f), "-q", db=database.url, env=env, barrier=barrier) for f in files
    ]
    release(barrier, processes)
    outcomes = [finish(process) for process in processes]
    for status, output in outcomes:
        retried = output.count(RETRIED)
        conflicts = output.count(RETRIED_CONFLICT)
        figures.retries[retried] += 1
        figures.retry_causes["conflict"] += conflicts
        figures.retry_causes["database is locked"] += retried - conflicts
        final = output[output.rfind("error:") :] if status else ""  # the line apply stopped with
        if status == 0:
            figures.outcomes["applied"] += 1
        elif "in a row" in final and GAVE_UP in final:
            figures.outcomes["refused after the retry bound (conflict)"] += 1
        elif "in a row" in final and "the database turned the batch away" in final:
            figures.outcomes["refused after the retry bound (database is locked)"] += 1
        elif "is already settled" in final and kind == "two settle ids":
            figures.outcomes["refused: cycle already settled"] += 1
        else:
            raise AssertionError(f"unexpected outcome {status}: {output[-300:]}")
    if kind == "two settle ids":
        assert sorted(status for status, _ in outcomes) == [0, 1], outcomes
        state = read_state(database, market.cycles)
        assert sum(1 for topic, _ in state.events.values() if topic == SETTLED) == 1
        cycle = market.cycles[0]
        assert state.documents[cycle] == reference.documents[cycle]
    else:
        for (status, _), file in zip(outcomes, files, strict=True):
            if status:
                assert run("apply", str(file), "-q", db=database.url).returncode == 0
        check_complete(read_state(database, market.cycles), reference)
    check_in_process(database, market.accounts)


def report(figures: dict[str, Figures], arguments: argparse.Namespace) -> None:
    print()
    print(
        f"soak: seed market {ACCOUNTS[0]} + {ACCOUNTS[1]} accounts, {arguments.kills} kills "
        f"and {arguments.races} races per backend"
    )
    for backend, f in figures.items():
        total = sum(f.kills.values())
        print(f"\n{backend} ({f.seconds:.0f} s)")
        print(
            f"  kills: {total}, survived every check: {f.survived}; runs that finished before "
            f"their kill: {f.finished_first}; stores applied to the end and equal to the clean "
            f"run: {f.stores_complete} of {f.stores}"
        )
        for what, count in sorted(f.kills.items()):
            print(f"    {what:32} {count}")
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(f.rounds.items()))
        print(f"  races: {sum(f.rounds.values())} ({kinds})")
        for what, count in sorted(f.outcomes.items()):
            print(f"    {what:52} {count}")
        retried = ", ".join(f"{n} retries: {c}" for n, c in sorted(f.retries.items()))
        print(f"  processes by retries seen: {retried}")
        causes = ", ".join(f"{cause} {count}" for cause, count in sorted(f.retry_causes.items()))
        print(f"  retries by cause: {causes}")
        print(f"  failures: {len(f.failures)}")
        for failure in f.failures:
            print(f"    {failure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=100, help="kills per backend")
    parser.add_argument("--races", type=int, default=20, help="races per backend")
    parser.add_argument("--backends", default="sqlite,postgresql")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        market = write_market(Path(directory) / "market.jsonl", ACCOUNTS)
        with fresh_database("sqlite") as clean:
            clean_run(market, clean)
            reference = read_state(clean, market.cycles)
        figures: dict[str, Figures] = {}
        for backend in arguments.backends.split(","):
            began = time.monotonic()
            figures[backend] = Figures()
            print(f"{backend}: killing", flush=True)
            kill_campaign(backend, arguments.kills, market, reference, figures[backend])
            print(f"{backend}: racing", flush=True)
            race_campaign(backend, arguments.races, market, reference, figures[backend])
            figures[backend].seconds = time.monotonic() - began
    report(figures, arguments)
    return 1 if any(f.failures for f in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

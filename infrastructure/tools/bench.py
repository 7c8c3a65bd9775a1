"""`lossledger bench`: a market of N positions through apply, settlement, replay and projections.

Everything runs in one process on a fresh store (a SQLite file in a temporary directory, or a
fresh schema of the given PostgreSQL database, dropped afterwards), and two reference figures
are measured in the same run on the same machine: the eventsourcing library's own batched
`Application.save` of as many plain events of the same size, and a raw SQLite `executemany` of
as many rows of the same size. docs/performance.md explains every figure.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from importlib import metadata
from itertools import zip_longest
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from sqlalchemy import create_engine, text

from domain.core.errors import LedgerError
from domain.ledger import LossLedger
from domain.queries.cycle_report import cycle_document
from domain.queries.replay import replay_cycle
from infrastructure.apply.runner import BATCH_COMMANDS, apply_file
from infrastructure.audit.verify import verify
from infrastructure.eventstore.chain import COMMANDS_COLUMNS, COMMANDS_INSERT
from infrastructure.eventstore.database_url import (
    Database,
    create_store_place,
    ensure_schema,
    parse_database,
    postgres_admin,
    postgres_connection,
)
from infrastructure.readmodels.runner import ReadModels
from infrastructure.tools.market import write_bench_market

Phase = Callable[[str], None]
CACHE_FLOOR = 200_000  # the ledger's default AGGREGATE_CACHE_MAXSIZE


@contextmanager
def profiled(directory: Path | None, phase: str) -> Iterator[None]:
    """Profile a phase with pyinstrument into DIRECTORY/PHASE.txt and .html, when asked."""
    if directory is None:
        yield
        return
    try:
        from pyinstrument import Profiler
    except ImportError:  # pragma: no cover - installed with the dev and bench extras
        raise LedgerError("--profile needs pyinstrument: pip install -e '.[bench]'") from None
    profiler = Profiler()
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{phase}.txt").write_text(
            profiler.output_text(unicode=False, color=False), encoding="utf-8"
        )
        (directory / f"{phase}.html").write_text(profiler.output_html(), encoding="utf-8")


def peak_rss_mib() -> float:
    """The process's peak resident set so far: Linux's VmHWM, the high-water mark of this
    address space. `getrusage`'s ru_maxrss survives `execve`, so a reader spawned by a writer
    of 1.6 GiB would report the writer's peak as its own; where there is no /proc, that."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def bench_database(db: str | None, directory: Path, keep: bool) -> Iterator[Database]:
    """A store nobody used: a new SQLite file, or a new schema in the PostgreSQL database."""
    if db is None:
        yield parse_database(f"sqlite:///{directory / 'bench.db'}")
        return
    database = parse_database(db)
    if database.backend == "sqlite":
        path = Path(database.env["SQLITE_DBNAME"])
        if path.exists() and path.stat().st_size > 0:
            raise LedgerError(f"bench needs a store of its own: {path} already exists")
        create_store_place(database)
        yield database
        return
    base = db.split("?", 1)[0]
    database = parse_database(f"{base}?schema=lossledger_bench_{uuid.uuid4().hex[:8]}")
    ensure_schema(database)
    try:
        yield database
    finally:
        if not keep:
            postgres_admin(database, f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE')


def _generate(positions: int, seed: int, load: Path, settle: Path) -> dict[str, int]:
    """The market, written by a child process: its memory is not the ledger's peak RSS."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        counts: dict[str, int] = pool.apply(write_bench_market, (positions, seed, load, settle))
    return counts


def _silent(_: str) -> None:
    """A phase log that says nothing."""


def _announced(message: str) -> None:
    """A child process's phase log, as the command's own: `bench: ...` on stderr."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _child_phases(
    work: Callable[..., Any],
    arguments: tuple[Any, ...],
    profile: Path | None,
    announce: bool,
) -> tuple[dict[str, float], Any]:
    """Run in a child process: the phases of `work`, their figures, and its result."""
    times: dict[str, float] = {}
    result = work(*arguments, times, profile, _announced if announce else _silent)
    return times, result


def _in_child(
    work: Callable[..., Any],
    arguments: tuple[Any, ...],
    times: dict[str, float],
    profile: Path | None,
    announce: bool,
) -> Any:
    """A reading phase in a process of its own, as `lossledger cycle replay`, `projections
    rebuild`, `apply` and `verify` run: its peak RSS is its process's, not that of the writer's
    heap or another phase's beside it; its figures are added to `times`."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        figures, result = pool.apply(_child_phases, (work, arguments, profile, announce))
    times.update(figures)
    return result


def _applied(ledger: LossLedger, path: Path) -> int:
    result = apply_file(ledger, path)
    if not result.ok:
        raise LedgerError(
            f"bench market refused at line {result.refused_line} ({result.refused_id}): "
            f"{result.reason}"
        )
    return result.events_written


class GarbageClock:
    """Seconds spent in, and passes of, Python's cyclic garbage collector, by generation.

    A profiler does not show them (a collection is charged to whatever allocation set it
    off), yet a full collection walks every tracked object: the figure that says whether a
    phase grows faster than its work because the heap it runs beside is larger.
    """

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.passes = [0, 0, 0]
        self._started = 0.0

    def __call__(self, moment: str, info: dict[str, int]) -> None:
        if moment == "start":
            self._started = time.perf_counter()
        else:
            generation = info["generation"]
            self.seconds[generation] += time.perf_counter() - self._started
            self.passes[generation] += 1

    @contextmanager
    def running(self) -> Iterator[GarbageClock]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


@contextmanager
def timed(
    times: dict[str, float], phase: str, profile: Path | None, say: Phase | None = None
) -> Iterator[None]:
    """Wall and CPU seconds of a phase (CPU: this process only; PostgreSQL's is not in it),
    the part of them the garbage collector took, and its profile when asked. The phase starts
    from a collected heap: a full pass owed by the phases before (whose objects this process
    still holds, as a process of its own would not) is not charged to it."""
    gc.collect()
    with profiled(profile, phase), GarbageClock().running() as garbage:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        times[f"{phase}_seconds"] = round(time.perf_counter() - wall, 3)
        times[f"{phase}_cpu_seconds"] = round(time.process_time() - cpu, 3)
        times[f"{phase}_gc_seconds"] = round(sum(garbage.seconds), 3)
        times[f"{phase}_gc_full_seconds"] = round(garbage.seconds[2], 3)
        times[f"{phase}_gc_full_passes"] = garbage.passes[2]
        # the peak so far: the first phase whose figure reaches the final peak is where it is
        times[f"{phase}_peak_rss_mib"] = round(peak_rss_mib(), 1)
    if say is not None:  # a long run's figures are not lost if it is stopped before the end
        say(
            f"{phase}: {times[f'{phase}_seconds']} s ({times[f'{phase}_cpu_seconds']} s CPU, "
            f"{times[f'{phase}_gc_seconds']} s in the garbage collector, "
            f"{times[f'{phase}_gc_full_passes']} full passes taking "
            f"{times[f'{phase}_gc_full_seconds']} s; peak RSS {times[f'{phase}_peak_rss_mib']} MiB)"
        )


def _event_sizes(database: Database, table: str) -> tuple[float, float]:
    """Mean stored state size and topic length of the ledger's events (bytes)."""
    engine = create_engine(database.sqlalchemy_url)
    qualified = f'"{database.schema}".{table}' if database.schema else table
    with engine.connect() as connection:
        row = connection.execute(
            text(f"SELECT avg(length(state)), avg(length(topic)) FROM {qualified}")  # noqa: S608
        ).one()
    engine.dispose()
    return float(row[0]), float(row[1])


class Plain(Aggregate):
    """A plain aggregate for the library's reference figure: one event with a payload."""

    @event("Noted")
    def __init__(self, payload: str) -> None:
        self.payload = payload


def bare_library_rate(
    database: Database, directory: Path, events: int, state_bytes: int, per_save: int
) -> float:
    """Events per second of the library's batched `Application.save` (save time only)."""
    if database.backend == "sqlite":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
        env["SQLITE_DBNAME"] = str(directory / "bare.db")
    else:
        env = {**database.env, "PERSISTENCE_MODULE": "eventsourcing.postgres"}
        env["POSTGRES_SCHEMA"] = f"{database.schema}_bare"
        postgres_admin(database, f'CREATE SCHEMA IF NOT EXISTS "{env["POSTGRES_SCHEMA"]}"')
    # the payload makes the stored state as large as the ledger's events (about 90 bytes of
    # the state are the library's own fields)
    payload = "x" * max(1, state_bytes - 90)
    application: Application[Any] = Application(env=env)
    saving = 0.0
    try:
        written = 0
        while written < events:
            batch = [Plain(payload) for _ in range(min(per_save, events - written))]
            started = time.perf_counter()
            application.save(*batch)
            saving += time.perf_counter() - started
            written += len(batch)
    finally:
        application.close()
        if database.backend == "postgresql":
            postgres_admin(database, f'DROP SCHEMA IF EXISTS "{env["POSTGRES_SCHEMA"]}" CASCADE')
    return events / saving


def raw_sqlite_rate(
    directory: Path, rows: int, state_bytes: int, topic_bytes: int, per_batch: int
) -> float:
    """Rows per second of a plain `executemany` into a fresh SQLite file, the same table shape
    and journal mode as the event store's, one transaction per batch."""
    path = directory / "raw.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    state = os.urandom(state_bytes)
    topic = "t" * topic_bytes
    elapsed = 0.0
    written = 0
    while written < rows:
        count = min(per_batch, rows - written)
        batch = [(uuid.uuid4().hex, 1, topic, state) for _ in range(count)]
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", batch)
        connection.execute("COMMIT")
        elapsed += time.perf_counter() - started
        written += count
    connection.close()
    return rows / elapsed


FLOOR_TABLE = "lossledger_bench_floor"
# seconds: the floor is rounded to the microsecond (a settlement of a few chunk events writes
# them in well under a millisecond)
FLOOR_RESOLUTION = 0.000001


def settlement_floor(database: Database, table: str, after: int) -> tuple[int, int, float]:
    """The floor of the settlement's write, in the same run: the rows it stored (log positions
    after `after`) written again, as they are, into a scratch table of the events table's shape
    in the same database, in one transaction: `sqlite3.executemany` on SQLite, binary COPY on
    PostgreSQL. (rows, their bytes, seconds). The ledger also writes a chain row per event and
    the events table holds the whole log: the floor is below what any design can reach."""
    if database.backend == "sqlite":
        return _sqlite_floor(Path(database.env["SQLITE_DBNAME"]), table, after)
    return _postgres_floor(database, table, after)


COMMANDS_FLOOR_TABLE = "lossledger_bench_commands_floor"


def load_floor(database: Database, table: str, last: int, per_save: int) -> float:
    """The floor of the load's writes, in the same run: the events it stored (log positions 1
    to `last`) and the accepted commands' rows, written again as they are into scratch tables
    of their tables' shapes in the same database, in as many transactions as the load's
    saves (`per_save` events and BATCH_COMMANDS command rows each): `sqlite3.executemany` on
    SQLite, binary COPY on PostgreSQL. Seconds. No chain rows, no parsing, no checks."""
    if database.backend == "sqlite":
        return _sqlite_load_floor(Path(database.env["SQLITE_DBNAME"]), table, last, per_save)
    return _postgres_load_floor(database, table, last, per_save)


def _sqlite_floor_table(connection: sqlite3.Connection) -> None:
    """A scratch table of the events table's shape."""
    connection.execute(
        f"CREATE TABLE {FLOOR_TABLE} (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )


def _postgres_floor_table(connection: Any, kind: str) -> None:
    """A scratch table of the events table's shape, its state stored as the ledger's is
    (`kind` "UNLOGGED " or "")."""
    connection.execute(
        f"CREATE {kind}TABLE {FLOOR_TABLE} (originator_id uuid, originator_version bigint, "
        "topic text, state bytea, PRIMARY KEY (originator_id, originator_version))"
    )
    connection.execute(f"ALTER TABLE {FLOOR_TABLE} ALTER COLUMN state SET STORAGE EXTERNAL")


def _copy_events(cursor: Any, rows: list[Any]) -> None:
    """Rows of the events table's shape into the scratch table, by binary COPY."""
    columns = "(originator_id, originator_version, topic, state)"
    with cursor.copy(f"COPY {FLOOR_TABLE} {columns} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["uuid", "int8", "text", "bytea"])
        for row in rows:
            copy.write_row(row)


def _batches(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), max(1, size)):
        yield rows[start : start + size]


def _sqlite_load_floor(file: Path, table: str, last: int, per_save: int) -> float:
    with closing(sqlite3.connect(file, isolation_level=None)) as connection:
        events = connection.execute(
            "SELECT originator_id, originator_version, topic, state "  # noqa: S608 - constants
            f"FROM {table} WHERE rowid <= ? ORDER BY rowid",
            (last,),
        ).fetchall()
        commands = connection.execute(f"SELECT * FROM {table}_commands").fetchall()  # noqa: S608
        _sqlite_floor_table(connection)
        connection.execute(f"CREATE TABLE {COMMANDS_FLOOR_TABLE} ({COMMANDS_COLUMNS})")
        try:
            started = time.perf_counter()
            batches: Iterator[tuple[list[Any], list[Any]]] = zip_longest(
                _batches(events, per_save), _batches(commands, BATCH_COMMANDS), fillvalue=[]
            )
            for written, accepted in batches:
                connection.execute("BEGIN")
                connection.executemany(f"INSERT INTO {FLOOR_TABLE} VALUES (?, ?, ?, ?)", written)  # noqa: S608
                connection.executemany(
                    f"INSERT INTO {COMMANDS_FLOOR_TABLE} VALUES (?, ?, ?, ?, ?)",  # noqa: S608
                    accepted,
                )
                connection.execute("COMMIT")
            return time.perf_counter() - started
        finally:
            connection.execute(f"DROP TABLE {FLOOR_TABLE}")
            connection.execute(f"DROP TABLE {COMMANDS_FLOOR_TABLE}")


def _postgres_load_floor(database: Database, table: str, last: int, per_save: int) -> float:
    with postgres_connection(database, database.schema or "public") as connection:
        events = connection.execute(
            "SELECT originator_id, originator_version, topic, state "  # noqa: S608 - constants
            f"FROM {table} WHERE notification_id <= %s ORDER BY notification_id",
            (last,),
        ).fetchall()
        commands = connection.execute(
            f"SELECT {COMMANDS_INSERT} FROM {table}_commands"  # noqa: S608
        ).fetchall()
        _postgres_floor_table(connection, "")
        connection.execute(f"CREATE TABLE {COMMANDS_FLOOR_TABLE} ({COMMANDS_COLUMNS})")
        try:
            started = time.perf_counter()
            batches: Iterator[tuple[list[Any], list[Any]]] = zip_longest(
                _batches(events, per_save), _batches(commands, BATCH_COMMANDS), fillvalue=[]
            )
            for written, accepted in batches:
                with connection.transaction(), connection.cursor() as cursor:
                    _copy_events(cursor, written)
                    into = f"COPY {COMMANDS_FLOOR_TABLE} ({COMMANDS_INSERT})"
                    with cursor.copy(f"{into} FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(["text", "text", "text", "text", "int4"])
                        for row in accepted:
                            copy.write_row(row)
            return time.perf_counter() - started
        finally:
            connection.execute(f"DROP TABLE {FLOOR_TABLE}")
            connection.execute(f"DROP TABLE {COMMANDS_FLOOR_TABLE}")


def _sqlite_floor(file: Path, table: str, after: int) -> tuple[int, int, float]:
    with closing(sqlite3.connect(file, isolation_level=None)) as connection:
        rows = connection.execute(
            "SELECT originator_id, originator_version, topic, state "  # noqa: S608 - constants
            f"FROM {table} WHERE rowid > ? ORDER BY rowid",
            (after,),
        ).fetchall()
        _sqlite_floor_table(connection)
        try:
            started = time.perf_counter()
            connection.execute("BEGIN")
            connection.executemany(f"INSERT INTO {FLOOR_TABLE} VALUES (?, ?, ?, ?)", rows)  # noqa: S608
            connection.execute("COMMIT")
            elapsed = time.perf_counter() - started
        finally:
            connection.execute(f"DROP TABLE {FLOOR_TABLE}")
    return len(rows), sum(len(row[3]) for row in rows), elapsed


def _postgres_floor(database: Database, table: str, after: int) -> tuple[int, int, float]:
    search_path = database.schema or "public"
    with postgres_connection(database, search_path) as connection:
        rows = connection.execute(
            "SELECT originator_id, originator_version, topic, state "  # noqa: S608 - constants
            f"FROM {table} WHERE notification_id > %s ORDER BY notification_id",
            (after,),
        ).fetchall()
        _postgres_floor_table(connection, "UNLOGGED ")
        try:
            started = time.perf_counter()
            with connection.transaction(), connection.cursor() as cursor:
                _copy_events(cursor, rows)
            elapsed = time.perf_counter() - started
        finally:
            connection.execute(f"DROP TABLE {FLOOR_TABLE}")
    return len(rows), sum(len(bytes(row[3])) for row in rows), elapsed


def run_bench(
    positions: int,
    seed: int = 7,
    db: str | None = None,
    keep: bool = False,
    phase: Phase | None = None,
    repeats: int = 1,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Build a market of `positions` positions, then apply, settle, replay and project it
    `repeats` times, each on a fresh store; every figure is the median of the runs."""
    say = phase or _silent
    if repeats > 1 and db is not None and db.startswith("sqlite"):
        raise LedgerError("--repeats needs a store per run: leave --db out for SQLite")
    if repeats > 1 and profile is not None:
        raise LedgerError("--profile profiles one run: leave --repeats out")
    load_before = os.getloadavg()[0]
    code = code_version()  # the commit the run starts on: the tree may move during an hour's run
    with tempfile.TemporaryDirectory(prefix="lossledger-bench-") as name:
        directory = Path(name)
        load_file, settle_file = directory / "load.jsonl", directory / "settle.jsonl"
        say(f"generating a market of {positions:,} positions (seed {seed})")
        counts = _generate(positions, seed, load_file, settle_file)
        runs = []
        for run in range(1, repeats + 1):
            if repeats > 1:
                say(f"run {run} of {repeats}")
            workdir = directory / f"run{run}"
            workdir.mkdir()
            with bench_database(db, workdir, keep) as database:
                say(f"store: {database.url}")
                runs.append(
                    _measure(
                        database, workdir, seed, counts, (load_file, settle_file), say, profile
                    )
                )
        figures = _medians(runs)
        figures.update(positions=counts["positions"], seed=seed, repeats=repeats)
        figures.update(machine=machine(load_before), code=code)
        return figures


def machine(load_before: float) -> dict[str, Any]:
    """What else the machine was doing: on a shared machine the wall times depend on it."""
    return {
        "cpus": os.cpu_count(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def code_version() -> str:
    """The commit the run measured ("+changes" when the tree differs from it), or the package
    version outside a git checkout."""
    git = shutil.which("git")
    root = str(Path(__file__).resolve().parent.parent)

    def ask(*arguments: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed arguments, git found on PATH
            [str(git), "-C", root, *arguments],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    if git is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            head = ask("rev-parse", "--short=12", "HEAD")
            dirty = ask("status", "--porcelain", "--untracked-files=no")
            return f"{head}+changes" if dirty else head
    return f"lossledger {metadata.version('lossledger')}"


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the median of the runs (the same for counts); anything else the first's."""
    figures: dict[str, Any] = {}
    for key, value in runs[0].items():
        values = [run[key] for run in runs]
        if isinstance(value, bool) or not isinstance(value, int | float):
            figures[key] = value
        else:
            middle = statistics.median(values)
            # each figure was rounded where it was measured (the floor to the microsecond)
            figures[key] = type(value)(round(middle, 6) if isinstance(value, float) else middle)
    return figures


def _write(
    env: dict[str, str],
    files: tuple[Path, Path],
    times: dict[str, float],
    profile: Path | None,
    say: Phase,
) -> tuple[int, int, float, str]:
    """The load and settle phases: events of each, seconds in saves, the events table."""
    load_file, settle_file = files
    with closing(LossLedger(env=env)) as ledger:
        with timed(times, "load", profile, say):
            load_events = _applied(ledger, load_file)
        say("settling the cycle")
        with timed(times, "settle", profile, say):
            settle_events = _applied(ledger, settle_file)
        table = ledger.recorder.events_table_name  # type: ignore[attr-defined]
        return load_events, settle_events, ledger.store.save_seconds, table


def _replay(
    env: dict[str, str],
    cycle: str,
    times: dict[str, float],
    profile: Path | None,
    say: Phase,
) -> dict[str, Any]:
    """The replay phase, on a fresh process's view (its cache starts empty): the cycle's
    document."""
    say("replaying the cycle from its events (a fresh process's view)")
    with closing(LossLedger(env=env)) as auditor:
        with timed(times, "replay", profile, say):
            replay = replay_cycle(auditor, cycle)
        if replay.differences:
            raise LedgerError(f"bench replay differs: {replay.differences[0]}")
        return cycle_document(auditor, cycle)


def _project(
    env: dict[str, str],
    database: Database,
    times: dict[str, float],
    profile: Path | None,
    say: Phase,
) -> int:
    """The projection phase, from empty: the events projected."""
    say("catching the projections up")
    with closing(LossLedger(env=env)) as auditor:
        models = ReadModels(auditor, database)
        with timed(times, "projection", profile, say):
            projected = models.catch_up()
        models.dispose()
        return projected


def _reapply(
    env: dict[str, str],
    load_file: Path,
    times: dict[str, float],
    profile: Path | None,
    say: Phase,
) -> None:
    """The re-apply phase: the load file applied again by a fresh ledger; every line is
    already applied, and nothing may be written."""
    say("applying the load file again (every line already applied)")
    with closing(LossLedger(env=env)) as again:
        with timed(times, "reapply", profile, say):
            result = apply_file(again, load_file)
        if not result.ok or result.applied or result.events_written:
            raise LedgerError(
                f"bench re-apply wrote {result.events_written} events for {result.applied} "
                f"commands: {result.reason or 'every line should be applied already'}"
            )


def _verify(
    env: dict[str, str],
    times: dict[str, float],
    profile: Path | None,
    say: Phase,
) -> int:
    """The verify phase: the whole chain verified, with every event's command; the events
    verified."""
    say("verifying the chain and every event's command")
    with closing(LossLedger(env=env)) as auditor:
        with timed(times, "verify", profile, say):
            verification = verify(auditor.recorder)  # type: ignore[arg-type]
        if not verification.ok:
            raise LedgerError(
                f"bench store does not verify at position {verification.first_bad_position}: "
                f"{verification.reason}"
            )
        return verification.events


def _measure(
    database: Database,
    directory: Path,
    seed: int,
    counts: dict[str, int],
    files: tuple[Path, Path],
    say: Phase,
    profile: Path | None,
) -> dict[str, Any]:
    # the ledger's own cache: a settlement reads its book from the rows the writer kept and the
    # log, never from cached accounts (docs/performance.md)
    cache = CACHE_FLOOR
    env = {**database.env, "AGGREGATE_CACHE_MAXSIZE": str(cache)}
    times: dict[str, float] = {}
    say(f"applying {counts['commands'] - 1:,} commands")
    load_events, settle_events, save_seconds, table = _write(env, files, times, profile, say)
    announce = say is not _silent
    document = _in_child(_replay, (env, f"b{seed}-cycle-1"), times, profile, announce)
    projected = _in_child(_project, (env, database), times, profile, announce)
    _in_child(_reapply, (env, files[0]), times, profile, announce)
    verified = _in_child(_verify, (env,), times, profile, announce)
    # the phases' peaks, each its own process's: the writer's (load, settle), each reader's
    peak = max(value for key, value in times.items() if key.endswith("_peak_rss_mib"))
    say(f"measuring the floor: the settlement's {settle_events:,} rows written raw")
    floor_rows, floor_bytes, floor_seconds = settlement_floor(database, table, load_events)
    events = load_events + settle_events
    state_bytes, topic_bytes = _event_sizes(database, table)
    per_save = max(1, round(load_events / max(1, counts["commands"] / BATCH_COMMANDS)))
    say(f"measuring the load's floor: its {load_events:,} events and command rows written raw")
    load_floor_seconds = load_floor(database, table, load_events, per_save)
    say(f"measuring the library's own save of {events:,} plain events")
    bare = bare_library_rate(database, directory, events, round(state_bytes), per_save)
    say(f"measuring raw SQLite executemany of {events:,} rows")
    raw = raw_sqlite_rate(directory, events, round(state_bytes), round(topic_bytes), per_save)
    append = events / save_seconds
    loaded = counts["commands"] - 1  # the load file: every command but the settlement
    return {
        "backend": database.backend,
        "schema": database.schema,  # PostgreSQL: dropped after the run unless --keep
        "aggregate_cache_size": cache,
        "accounts": counts["accounts"],
        "commands": counts["commands"],
        "liquidations": counts["liquidations"],
        "participants": len(document["participants"]),
        "deficit": document["deficit"],
        "digest": document["digest"],
        "events_written": events,
        "events_projected": projected,
        "mean_event_bytes": round(state_bytes, 1),
        **times,
        "save_seconds": round(save_seconds, 3),
        "peak_rss_mib": round(peak, 1),
        "load_commands_per_second": round(loaded / times["load_seconds"]),
        "load_floor_seconds": round(load_floor_seconds, 3),
        "load_to_floor_ratio": round(
            times["load_seconds"] / max(round(load_floor_seconds, 3), 0.001), 1
        ),
        "reapply_lines_per_second": round(loaded / times["reapply_seconds"]),
        "events_verified": verified,
        "verify_events_per_second": round(verified / times["verify_seconds"]),
        "append_events_per_second": round(append),
        "end_to_end_events_per_second": round(
            events / (times["load_seconds"] + times["settle_seconds"])
        ),
        "bare_library_events_per_second": round(bare),
        "raw_sqlite_rows_per_second": round(raw),
        "append_to_raw_ratio": round(append / raw, 3),
        "settle_events_written": settle_events,
        "settle_floor_rows": floor_rows,
        "settle_floor_bytes": floor_bytes,
        "settle_floor_seconds": round(floor_seconds, 6),
        # of the rounded figures, so that the JSON's own numbers give the ratio
        "settle_to_floor_ratio": round(
            times["settle_seconds"] / max(round(floor_seconds, 6), FLOOR_RESOLUTION), 1
        ),
    }

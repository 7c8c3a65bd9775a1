"""Profile each phase of `lossledger bench` from outside the process, with py-spy.

pyinstrument (`bench --profile`) runs inside the process and doubles a phase's time at 100k
positions (the settlement: 17.2 s alone, 33.5 s under it, on one machine), which is too slow to
profile a million positions and distorts what it measures. py-spy samples the process from
outside, without pausing it (`--nonblocking`: pausing it for each sample took the same
settlement to 26.7 s), so the phases run at about their own speed (18.6 to 20.0 s). This
script starts `lossledger bench`, reads its phase log, and records each phase into
DIR/<phase>.txt (collapsed stacks: `frame;frame;... samples`; `--compare` reads them gzipped
too, as benchmarks/results keeps them), with the bench's JSON in DIR/bench.json and its log in
DIR/bench.log.

    .venv/bin/python benchmarks/phase_profiles.py --out /tmp/p100k -- --positions 100000
    .venv/bin/python benchmarks/phase_profiles.py --compare /tmp/p100k /tmp/p1m

`--compare` prints, for each phase, the functions that take at least 1% of it in either run,
their seconds in both and the ratio, so that what grows faster than the work stands out.
Needs py-spy (`pip install py-spy`) and permission to trace the child (root, or
`kernel.yama.ptrace_scope` 0).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

# the bench process waiting while a child process runs the reading phases
WAITING_FOR_CHILD = "_in_child (infrastructure/tools/bench.py"
PHASES = {  # the log line that starts a phase, and the one that ends it
    "load": ("bench: applying ", "bench: load: "),
    "settle": ("bench: settling the cycle", "bench: settle: "),
    "replay": ("bench: replaying the cycle", "bench: replay: "),
    "projection": ("bench: catching the projections up", "bench: projection: "),
}
# frames where the database does the work (sqlite3 through the library's cursor and
# connection, SQLAlchemy's execute, psycopg's execute and its wait on the server): what is
# under them is the database's time, not the ledger's Python
DATABASE_FRAMES = re.compile(
    r"^(SQLiteCursor\.(execute|executemany|fetchall|fetchone)|SQLiteConnection\.commit"
    r"|DefaultDialect\.do_execute(many)?|Connection\.commit) "
    r"|^(Cursor\.(execute|executemany|fetch\w*)|Connection\.(commit|wait)) \(psycopg/"
)
# threads other than the bench's own (psycopg's pool workers, waiting): left out of every sum
OTHER_THREAD = ("Thread._bootstrap ", "_bootstrap (threading")
RATE = 20  # samples a second: 4,000 in a 1M settlement; 100 cost no more, but five times the files


def record(out: Path, bench_arguments: list[str]) -> int:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    lossledger = str(Path(sys.executable).with_name("lossledger"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "rate").write_text(f"{RATE}\n", encoding="utf-8")
    with (
        (out / "bench.log").open("w", encoding="utf-8") as log,
        (out / "bench.json").open("w", encoding="utf-8") as stdout,
    ):
        bench = subprocess.Popen(
            [lossledger, "bench", "--json", *bench_arguments],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert bench.stderr is not None
        recording: tuple[str, subprocess.Popen[bytes]] | None = None
        for line in bench.stderr:
            log.write(line)
            log.flush()
            for phase, (start, end) in PHASES.items():
                if line.startswith(start) and recording is None:
                    spy_run = subprocess.Popen(
                        [
                            spy,
                            "record",
                            "--pid",
                            str(bench.pid),
                            "--subprocesses",  # the reading phases run in a child of their own
                            "--rate",
                            str(RATE),
                            "--idle",
                            "--nonblocking",
                            "--format",
                            "raw",
                            "--output",
                            str(out / f"{phase}.txt"),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    recording = (phase, spy_run)
                elif line.startswith(end) and recording is not None and recording[0] == phase:
                    recording[1].send_signal(signal.SIGINT)  # py-spy writes what it has
                    recording[1].wait()
                    recording = None
        return bench.wait()


def stacks(directory: Path, phase: str) -> Path | None:
    """A phase's collapsed stacks, as recorded or gzipped (benchmarks/results keeps them so)."""
    for name in (f"{phase}.txt", f"{phase}.txt.gz"):
        if (directory / name).exists():
            return directory / name
    return None


def lines(path: Path) -> list[str]:
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    return path.read_text(encoding="utf-8").splitlines()


def functions(path: Path) -> tuple[dict[str, float], float, float]:
    """Seconds under each function (inclusive, each counted once a stack), the total, and
    the seconds under a database call."""
    rate = int((path.parent / "rate").read_text(encoding="utf-8"))
    inclusive: dict[str, float] = collections.defaultdict(float)
    total = database = 0.0
    for line in lines(path):
        stack, _, count = line.rpartition(" ")
        if not stack or stack.startswith(OTHER_THREAD) or WAITING_FOR_CHILD in stack:
            continue
        seconds = int(count) / rate
        total += seconds
        frames = stack.split(";")
        if any(DATABASE_FRAMES.match(frame) for frame in frames):
            database += seconds
        # "name (file:line)" -> "name (file)": one entry a function, not a line
        for frame in {re.sub(r":\d+\)$", ")", frame) for frame in frames}:
            inclusive[frame] += seconds
    return inclusive, total, database


def compare(small: Path, large: Path, floor: float = 0.01) -> None:
    for phase in PHASES:
        a_path, b_path = stacks(small, phase), stacks(large, phase)
        if a_path is None or b_path is None:
            continue
        a, a_total, a_db = functions(a_path)
        b, b_total, b_db = functions(b_path)
        if not (a_total and b_total):
            print(f"\n{phase}: no samples in one of the runs (shorter than 1/{RATE} s?)")
            continue
        print(f"\n{phase}: {a_total:.1f} s -> {b_total:.1f} s sampled ({b_total / a_total:.1f}x)")
        print(
            f"in database calls: {a_db:.1f} s ({a_db / a_total:.0%}) -> {b_db:.1f} s "
            f"({b_db / b_total:.0%}), {b_db / max(a_db, 1e-9):.1f}x; the rest "
            f"{a_total - a_db:.1f} s -> {b_total - b_db:.1f} s, "
            f"{(b_total - b_db) / max(a_total - a_db, 1e-9):.1f}x"
        )
        print(f"{'seconds':>9} {'seconds':>9} {'ratio':>6}  function (inclusive)")
        rows = [
            (name, a.get(name, 0.0), b.get(name, 0.0))
            for name in set(a) | set(b)
            if a.get(name, 0.0) >= floor * a_total or b.get(name, 0.0) >= floor * b_total
        ]
        for name, x, y in sorted(rows, key=lambda row: -row[2]):
            ratio = f"{y / x:6.1f}" if x else "   new"
            print(f"{x:9.1f} {y:9.1f} {ratio}  {name[:110]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="directory for the profiles and the bench's JSON")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("SMALL", "LARGE"))
    parser.add_argument("--floor", type=float, default=0.01, help="share of a phase to list")
    parser.add_argument("bench", nargs="*", help="arguments for lossledger bench, after --")
    arguments = parser.parse_args()
    if arguments.compare:
        small, large = arguments.compare
        compare(small, large, floor=arguments.floor)
        return 0
    if arguments.out is None:
        parser.error("--out DIR or --compare SMALL LARGE")
    return record(arguments.out, arguments.bench)


if __name__ == "__main__":
    sys.exit(main())

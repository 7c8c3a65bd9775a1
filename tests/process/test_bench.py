"""`lossledger bench` as a user runs it: the figures it promises on both backends, its profiles,
and the schema it drops however it ends. Its pure parts: tests/unit/test_bench_tools.py."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.cli import LOSSLEDGER, lossledger
from tests.support.databases import POSTGRES_URL, SKIP_POSTGRES

REQUIRED = {
    "positions",
    "accounts",
    "participants",
    "events_written",
    "load_seconds",
    "settle_seconds",
    "replay_seconds",
    "projection_seconds",
    "peak_rss_mib",
    "append_events_per_second",
    "bare_library_events_per_second",
    "raw_sqlite_rows_per_second",
    "settle_floor_seconds",
    "settle_to_floor_ratio",
    "reapply_seconds",
    "verify_seconds",
    "load_commands_per_second",
    "reapply_lines_per_second",
    "verify_events_per_second",
    "load_floor_seconds",
    "load_to_floor_ratio",
}
PHASES = ("load", "settle", "replay", "projection", "reapply", "verify")


def bench(*arguments: str) -> subprocess.CompletedProcess[str]:
    return lossledger("bench", "--json", *arguments, timeout=300)


def check_figures(figures: dict[str, Any], positions: int, backend: str) -> None:
    """The figures of one run (infrastructure/tools/bench.py), each there and consistent with
    the others."""
    assert set(figures) >= REQUIRED, REQUIRED - set(figures)
    assert figures["positions"] == positions
    assert figures["backend"] == backend
    assert figures["repeats"] == 1  # every figure is the one run's, not a median of runs
    counts = ("accounts", "participants", "liquidations", "events_written", "events_projected")
    assert all(type(figures[key]) is int for key in counts), {key: figures[key] for key in counts}
    assert 0 < figures["accounts"] < positions  # accounts hold one to three positions
    assert 0 < figures["participants"] <= positions  # a participant is a position
    assert 0 < figures["liquidations"] < positions
    # every event written was projected, by a process that did not write them
    assert figures["events_written"] == figures["events_projected"]
    for key in REQUIRED - {"positions", "accounts", "participants", "events_written"}:
        assert is_number(figures[key]) and figures[key] > 0, (key, figures[key])
    assert str(figures["digest"]).startswith("sha256:")
    # the end-to-end rate is the events over the load and settle phases' seconds; the saves
    # are a part of those phases (the seconds are rounded to the millisecond)
    seconds = figures["load_seconds"] + figures["settle_seconds"]
    assert figures["end_to_end_events_per_second"] == round(figures["events_written"] / seconds)
    assert 0 < figures["save_seconds"] <= seconds + 0.002
    # the write path's rates: the load file's commands (all but the settlement) over the load
    # and over its re-apply, which wrote nothing; every event written was verified
    loaded = figures["commands"] - 1
    assert figures["load_commands_per_second"] == round(loaded / figures["load_seconds"])
    assert figures["reapply_lines_per_second"] == round(loaded / figures["reapply_seconds"])
    assert figures["events_verified"] == figures["events_written"]
    # the load's floor: its events and command rows written raw, in as many transactions
    load_floor = max(figures["load_floor_seconds"], 0.001)  # rounded to the millisecond
    assert figures["load_to_floor_ratio"] == round(figures["load_seconds"] / load_floor, 1)
    verified = figures["events_verified"] / figures["verify_seconds"]
    assert figures["verify_events_per_second"] == round(verified)
    # the floor beside the settlement: the very rows it stored, written raw in the same run
    assert figures["settle_floor_rows"] == figures["settle_events_written"] > 0
    assert 0 < figures["settle_events_written"] < figures["events_written"]
    assert figures["settle_floor_bytes"] > figures["settle_floor_rows"]  # each row has a state
    floor = max(figures["settle_floor_seconds"], 0.000001)  # rounded to the microsecond
    assert figures["settle_to_floor_ratio"] == round(figures["settle_seconds"] / floor, 1)
    # where the memory peaked: the writer's peak so far after the load and after the settle,
    # each reading phase's in its own process; the run's peak is the largest of them
    peaks = {phase: float(str(figures[f"{phase}_peak_rss_mib"])) for phase in PHASES}
    assert 0 < peaks["load"] <= peaks["settle"]
    assert 0 < max(peaks.values()) == float(str(figures["peak_rss_mib"]))
    # the garbage collector's part of each phase: within the phase, full passes within it
    for phase in PHASES:
        full, passes = figures[f"{phase}_gc_full_seconds"], figures[f"{phase}_gc_full_passes"]
        assert type(passes) is int and passes >= 0, (phase, passes)  # a count of passes
        assert 0 <= full <= figures[f"{phase}_gc_seconds"] <= figures[f"{phase}_seconds"], phase
        # no time is spent in full passes that were not counted
        assert passes > 0 or full == 0, (phase, passes, full)
    # what the figures depend on besides the code: the machine and what else it was doing
    context = figures["machine"]
    assert isinstance(context, dict)
    assert context["cpus"] == os.cpu_count()
    for moment in ("before", "after"):  # os.getloadavg(): a float, present and finite
        load = context[f"load_average_{moment}"]
        assert type(load) is float and math.isfinite(load) and load >= 0, (moment, load)
    assert re.fullmatch(r"[0-9a-f]{12}(\+changes)?|lossledger \S+", str(figures["code"]))


def is_number(value: object) -> bool:
    """An int or a finite float (JSON's true and false are not numbers)."""
    if type(value) is int:
        return True
    return type(value) is float and math.isfinite(value)


def test_bench_prints_every_figure_on_sqlite() -> None:
    run = bench("--positions", "300", "--seed", "3")
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    check_figures(figures, 300, "sqlite")
    # the same seed builds the same market: the settlement digest is the same, run after run
    again = json.loads(bench("--positions", "300", "--seed", "3", "--repeats", "2").stdout)
    assert again["digest"] == figures["digest"]
    assert again["repeats"] == 2
    assert again["events_written"] == figures["events_written"]


def test_bench_without_json_prints_one_figure_a_line() -> None:
    run = lossledger("bench", "--positions", "300", "--seed", "3", timeout=300)
    assert run.returncode == 0, run.stderr
    lines = dict(line.split(maxsplit=1) for line in run.stdout.splitlines())
    assert set(lines) >= REQUIRED | {"digest", "code", "machine.cpus"}
    assert lines["positions"] == "300"
    assert lines["machine.cpus"] == str(os.cpu_count())


@pytest.mark.skipif(SKIP_POSTGRES, reason="PostgreSQL skipped on request")
def test_bench_runs_in_a_fresh_postgresql_schema_and_drops_it() -> None:
    run = bench("--positions", "300", "--seed", "3", "--db", POSTGRES_URL)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    check_figures(figures, 300, "postgresql")
    sqlite_figures = json.loads(bench("--positions", "300", "--seed", "3").stdout)
    assert figures["digest"] == sqlite_figures["digest"]  # the backends agree
    assert str(figures["schema"]).startswith("lossledger_bench_")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        left = connection.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ANY(%s)",
            ([figures["schema"], f"{figures['schema']}_bare"],),
        ).fetchall()
    assert left == []
    assert sqlite_figures["schema"] is None


def test_bench_refuses_a_store_that_is_not_its_own(tmp_path: Path) -> None:
    existing = tmp_path / "ledger.db"
    existing.write_bytes(b"someone's ledger")
    run = bench("--positions", "300", "--db", f"sqlite:///{existing}")
    assert run.returncode == 1
    assert "bench needs a store of its own" in run.stderr
    assert existing.read_bytes() == b"someone's ledger"


def test_bench_profiles_each_phase_when_asked(tmp_path: Path) -> None:
    run = bench("--positions", "300", "--profile", str(tmp_path / "profile"))
    assert run.returncode == 0, run.stderr
    for phase in ("load", "settle", "replay", "projection"):
        text = (tmp_path / "profile" / f"{phase}.txt").read_text(encoding="utf-8")
        assert "Duration:" in text  # pyinstrument's own header: a real profile
        assert (tmp_path / "profile" / f"{phase}.html").stat().st_size > 0
    # the settlement's profile shows the settlement's code
    assert "settle_cycle" in (tmp_path / "profile" / "settle.txt").read_text(encoding="utf-8")


@pytest.mark.skipif(SKIP_POSTGRES, reason="PostgreSQL skipped on request")
def test_a_bench_stopped_with_sigterm_drops_its_schema() -> None:
    process = subprocess.Popen(
        [LOSSLEDGER, "bench", "--positions", "20000", "--db", POSTGRES_URL, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    schema = None
    for text in process.stderr:  # until it is applying commands to its fresh schema
        if "store:" in text:
            schema = text.rsplit("schema=", 1)[1].strip()
        if "applying" in text:
            break
    assert schema is not None and schema.startswith("lossledger_bench_")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        left = connection.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s",
            (schema,),
        ).fetchall()
    assert left == []

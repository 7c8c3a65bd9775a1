"""The parts of `lossledger bench` that are pure: the market it builds, the garbage collector's
clock, the code version it names (infrastructure/tools/bench.py, market.py)."""

from __future__ import annotations

import gc
import hashlib
import json
from importlib import metadata
from pathlib import Path

import pytest

from infrastructure.tools.bench import GarbageClock, code_version
from infrastructure.tools.market import write_bench_market


def test_the_bench_market_has_exactly_n_positions_and_about_one_percent_liquidated(
    tmp_path: Path,
) -> None:
    load, settle = tmp_path / "load.jsonl", tmp_path / "settle.jsonl"
    counts = write_bench_market(20_000, 11, load, settle)
    commands = [json.loads(text) for text in load.read_text(encoding="utf-8").splitlines()]
    opened = [c for c in commands if c["type"] == "open_position"]
    liquidated = [c for c in commands if c["type"] == "liquidate"]
    assert len(opened) == counts["positions"] == 20_000
    assert len(liquidated) == counts["liquidations"]
    assert 0.005 <= len(liquidated) / len(opened) <= 0.02
    assert len({c["id"] for c in commands}) == len(commands)
    assert [json.loads(settle.read_text(encoding="utf-8"))["type"]] == ["settle_cycle"]
    digest = hashlib.sha256(load.read_bytes()).hexdigest()
    write_bench_market(20_000, 11, load, settle)
    assert hashlib.sha256(load.read_bytes()).hexdigest() == digest


def test_outside_a_git_checkout_the_bench_names_the_package_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda _: None)  # no git to ask
    assert code_version() == f"lossledger {metadata.version('lossledger')}"


def test_the_garbage_clock_counts_each_pass_by_generation_while_running() -> None:
    clock = GarbageClock()
    with clock.running():
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        gc.collect(2)
        gc.collect(0)
    gc.collect(2)  # after: not counted
    assert clock.passes[2] == 1
    assert clock.passes[0] >= 1
    assert clock.seconds[2] > 0
    assert clock.seconds[0] > 0
    assert clock not in gc.callbacks

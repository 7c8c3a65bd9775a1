"""Crash safety: a `lossledger` process killed with SIGKILL at any moment of `apply`, of
a settlement or of a projection catch-up leaves a store that verifies, reconciles, balances and
holds every command and every settlement wholly or not at all; applying the file again completes
the work, to the clean run's result. Real processes, killed at injected points
(infrastructure/tools/faults.py) and at seeded random moments; `make soak` kills many more.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from infrastructure.apply.runner import BATCH_COMMANDS
from infrastructure.eventstore.database_url import Database
from tests.support.crashing import (
    LedgerState,
    MarketFile,
    check_applied_again,
    check_survived,
    clean_state,
    killed_after,
    killed_at,
    log_position,
    run,
    settled_cycles,
    tracking_position,
    write_market,
)
from tests.support.databases import OnPostgreSQL, OnSQLite, fresh_database

# 560 accounts make more than a batch of commands before the first settlement, and a log
# longer than one batch of the read models (2,184 events, BATCH_EVENTS 2,000); 40 more open a
# second cycle that carries the first one's positions.
CRASH_ACCOUNTS = (560, 40)


@pytest.fixture(scope="module")
def crash_market(tmp_path_factory: pytest.TempPathFactory) -> MarketFile:
    return write_market(tmp_path_factory.mktemp("crash") / "market.jsonl", CRASH_ACCOUNTS)


@pytest.fixture(scope="module")
def clean(crash_market: MarketFile) -> LedgerState:
    """The same file applied once, uninterrupted, on SQLite: what every store must end as."""
    return clean_state(crash_market)


def recorded(state: LedgerState) -> int:
    """How many commands the store holds as accepted."""
    return len(state.commands)


class CrashSpec:
    def test_a_ledger_killed_at_every_injected_point_in_turn_completes_the_work_when_applied_again(
        self, database: Database, crash_market: MarketFile, clean: LedgerState
    ) -> None:
        market, file, url = crash_market, str(crash_market.path), database.url
        first, second = market.cycles

        def survived(by_cli: bool = False) -> LedgerState:
            return check_survived(database, market, clean, by_cli=by_cli)

        # killed after the first batch committed, before the next command was read
        killed_at("batch:1", "apply", file, db=url)
        state = survived()
        assert (recorded(state), settled_cycles(state, market)) == (BATCH_COMMANDS, [])
        # killed inside the next insert, its events and chain rows written, not committed
        killed_at("insert:1", "apply", file, db=url)
        assert recorded(survived()) == BATCH_COMMANDS
        # killed inside the insert that carries the first settlement: nothing of it is stored
        killed_at("settle_insert:1", "apply", file, db=url)
        state = survived()
        assert (recorded(state), settled_cycles(state, market)) == (
            market.settle_line(first) - 1,
            [],
        )
        # killed just after the first settlement committed
        killed_at("insert_committed:1", "apply", file, db=url)
        state = survived()
        assert (recorded(state), settled_cycles(state, market)) == (
            market.settle_line(second) - 1,
            [first],
        )
        # every command saved, then killed inside the read models' batch before its commit
        projected = tracking_position(database)
        killed_at("projection_write:1", "apply", file, db=url)
        assert tracking_position(database) == projected < log_position(database)
        assert settled_cycles(survived(), market) == [first, second]
        # a rebuild of the read models killed after its first batch committed
        killed_at("projection_commit:1", "projections", "rebuild", db=url)
        assert 0 < tracking_position(database) < log_position(database)
        survived(by_cli=True)
        # applied again: nothing left to do, and the store is the clean run's
        again = check_applied_again(market, database, clean)
        assert f"0 applied, {len(market.commands)} already applied" in again.stdout

    def test_a_ledger_killed_at_a_random_moment_completes_the_work_when_applied_again(
        self, backend: str, crash_market: MarketFile, clean: LedgerState, tmp_path: Path
    ) -> None:
        rng = random.Random(f"crash-{backend}")  # reproducible moments
        file = str(crash_market.path)
        for attempt in range(4):  # a run that finished before its moment: a sooner one, afresh
            with fresh_database(backend) as database:
                delay = rng.uniform(0.05, 0.6) / 2**attempt
                barrier = tmp_path / f"go-{attempt}"
                if not killed_after(delay, barrier, "apply", file, db=database.url):
                    continue
                check_survived(database, crash_market, clean, by_cli=True)
                check_applied_again(crash_market, database, clean)
                return
        pytest.fail("every run finished before the moment it was to be killed at")


class TestCrashOnSQLite(CrashSpec, OnSQLite):
    pass


class TestCrashOnPostgreSQL(CrashSpec, OnPostgreSQL):
    pass


def test_a_fault_point_that_does_not_exist_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    done = run("verify", db=f"sqlite:///{tmp_path / 'ledger.db'}", env={"LOSSLEDGER_FAULT": "nope"})
    assert done.returncode != 0
    assert "unknown point 'nope'" in done.stderr

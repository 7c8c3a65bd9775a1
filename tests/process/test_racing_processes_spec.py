"""Concurrency through real processes: `lossledger apply` processes released together from a
barrier (tests/support/crashing.py) on one store settle each cycle once and leave every balance
as one process applying the files in turn would; a process that loses every attempt stops with
the cause and the bound; processes opening a fresh store at the same instant all open it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from domain.core.ids import cycle_id
from infrastructure.apply import runner
from infrastructure.eventstore.database_url import Database
from tests.support.crashing import (
    GAVE_UP,
    SETTLED,
    LedgerState,
    MarketFile,
    check_applied_again,
    check_complete,
    check_in_process,
    check_verify_and_reconcile,
    clean_state,
    finish,
    fund_balance_from_its_events,
    read_state,
    release,
    run,
    start,
    write_market,
)
from tests.support.databases import OnPostgreSQL, OnSQLite, fresh_database

STOPPED = (GAVE_UP, "the database turned the batch away")

# 100 accounts and a second cycle of 20: three saves each (before each settlement, and the last),
# raced by two processes.
RACE_ACCOUNTS = (100, 20)


@pytest.fixture(scope="module")
def race_market(tmp_path_factory: pytest.TempPathFactory) -> MarketFile:
    return write_market(tmp_path_factory.mktemp("race") / "market.jsonl", RACE_ACCOUNTS)


@pytest.fixture(scope="module")
def sequential(race_market: MarketFile) -> LedgerState:
    """The file applied once by one process: what every race must end as."""
    return clean_state(race_market)


def race(
    database: Database, files: list[Path], barrier: Path, env: dict[str, str] | None = None
) -> list[tuple[int, str]]:
    """`lossledger apply` of each file, all released at once; each one's status and output."""
    processes = [
        start("apply", str(f), "-q", db=database.url, env=env, barrier=barrier) for f in files
    ]
    release(barrier, processes)
    return [finish(process) for process in processes]


def settlements(state: LedgerState) -> Counter[str]:
    return Counter(key[0] for key, (topic, _) in state.events.items() if topic == SETTLED)


class RaceSpec:
    backend: str

    def test_two_processes_applying_overlapping_files_at_once_end_as_one_applying_them_in_turn(
        self, race_market: MarketFile, sequential: LedgerState, tmp_path: Path
    ) -> None:
        whole = race_market.path
        first_settlement = race_market.settle_line(race_market.cycles[0])
        prefix = race_market.write_lines(
            tmp_path / "to-the-first-settlement.jsonl", race_market.commands[:first_settlement]
        )
        for round_, files in enumerate([[whole, whole], [prefix, whole]]):
            with fresh_database(self.backend) as database:
                outcomes = race(database, files, tmp_path / f"go-{round_}")
                for (status, output), file in zip(outcomes, files, strict=True):
                    # done, or refused after the bounded retries with the message that says so
                    assert status == 0 or (status == 1 and GAVE_UP in output), output
                    if status:
                        assert run("apply", str(file), "-q", db=database.url).returncode == 0
                state = read_state(database, race_market.cycles)
                assert set(settlements(state).values()) == {1}  # one settlement per cycle
                assert len(settlements(state)) == 2
                assert fund_balance_from_its_events(state) == state.books["insurance_fund"]
                check_complete(state, sequential)  # every balance as one process would leave it
                check_in_process(database, race_market.accounts)

    def test_two_processes_settling_the_same_cycle_under_two_ids_settle_it_once(
        self, race_market: MarketFile, sequential: LedgerState, tmp_path: Path
    ) -> None:
        cycle = race_market.cycles[0]
        settle = race_market.settle_line(cycle)
        files = [
            race_market.write_lines(
                tmp_path / f"{who}.jsonl",
                [
                    *race_market.commands[: settle - 1],
                    {**race_market.commands[settle - 1], "id": who},
                ],
            )
            for who in ("settle-by-a", "settle-by-b")
        ]
        with fresh_database(self.backend) as database:
            outcomes = sorted(race(database, files, tmp_path / "go"))
            assert outcomes[0][0] == 0, outcomes[0][1]
            assert outcomes[1][0] == 1
            assert f"refused: cycle {cycle} is already settled" in outcomes[1][1]
            state = read_state(database, race_market.cycles)
            assert settlements(state) == Counter({str(cycle_id(cycle)): 1})
            assert state.documents[cycle] == sequential.documents[cycle]
            check_verify_and_reconcile(database)

    def test_a_process_that_loses_every_attempt_stops_with_the_cause_and_the_bound(
        self, race_market: MarketFile, sequential: LedgerState, tmp_path: Path
    ) -> None:
        whole = race_market.path
        for round_ in range(4):  # the race is real: a round may end without a loser
            with fresh_database(self.backend) as database:
                barrier = tmp_path / f"go-{round_}"
                env = {runner.ATTEMPTS_ENV: "1"}
                outcomes = race(database, [whole, whole], barrier, env)
                losers = [output for status, output in outcomes if status != 0]
                if not losers:
                    continue
                for output in losers:  # a conflict, or on SQLite "database is locked" too
                    assert any(f"{cause}, 1 attempt in a row (" in output for cause in STOPPED)
                    assert "nothing from this line on was saved: apply the file again" in output
                check_applied_again(race_market, database, sequential)
                return
        pytest.fail("no round of two processes racing through one file had a loser")


class TestRaceOnSQLite(RaceSpec, OnSQLite):
    pass


class TestRaceOnPostgreSQL(RaceSpec, OnPostgreSQL):
    pass


# --- opening one fresh store from several processes at the same instant ------------------------

# Imports the ledger, says it is ready, waits for the barrier file, then opens the store.
OPEN_AT_ONCE = (
    "import os, pathlib, sys, time\n"
    "from infrastructure.readmodels.runner import open_with_read_models\n"
    "barrier = pathlib.Path(sys.argv[1])\n"
    "pathlib.Path(f'{barrier}.ready.{os.getpid()}').touch()\n"
    "for _ in range(200_000):\n"
    "    if barrier.exists():\n"
    "        break\n"
    "    time.sleep(0.0005)\n"
    "ledger, models = open_with_read_models(sys.argv[2])\n"
    "models.catch_up()\n"
    "models.dispose()\n"
    "ledger.close()\n"
)


class OpeningAtOnceSpec:
    def test_processes_opening_a_fresh_store_at_the_same_instant_all_open_it(
        self, database: Database, tmp_path: Path
    ) -> None:
        barrier = tmp_path / "go"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AT_ONCE, str(barrier), database.url],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        release(barrier, processes)  # once every process has imported the ledger
        outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in processes]
        assert [code for code, _ in outcomes] == [0] * 6, [err for _, err in outcomes if err]


class TestOpeningAtOnceOnSQLite(OpeningAtOnceSpec, OnSQLite):
    pass


class TestOpeningAtOnceOnPostgreSQL(OpeningAtOnceSpec, OnPostgreSQL):
    pass

"""Real `lossledger` processes, killed and raced: what the crash and concurrency specs and
`make soak` share (docs/reliability.md).

A store is judged against a clean, uninterrupted run of the same file: every stored event must
be one the clean run wrote (same aggregate, version, topic and content, the write time and the
settlement's chain anchor aside), every command is in the store with all its events or not at all,
every cycle is settled with all its events or not at all, the books balance, and `verify` and
`reconcile` pass.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from domain.commands.models import format_time
from domain.core.ids import cycle_id
from domain.ledger import LossLedger
from domain.queries.cycle_report import cycle_document
from infrastructure.audit.verify import verify
from infrastructure.eventstore.database_url import Database, open_ledger
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import ReadModels, make_engine
from infrastructure.readmodels.tables import tracking
from infrastructure.tools.market import generate
from projections.fold import balances_from_events
from tests.support.books import check_books
from tests.support.cli import LOSSLEDGER, lossledger
from tests.support.databases import fresh_database

KILLED = -signal.SIGKILL
SETTLED = "domain.cycles:Cycle.Settled"
LOSS_SHARED = "domain.cycles:Cycle.LossShared"
FUND_DRAWN = "domain.insurance_fund:InsuranceFund.FundDrawn"
GAVE_UP = "another writer changed the same aggregates at the same time"
# `lossledger` that opens the store, says it is ready, and waits for the barrier file before it
# does its work: processes released together start their work within a millisecond of each
# other. They open the store at the same time too (the PostgreSQL recorder creates its tables
# under an advisory lock, the read models theirs under the store's write lock:
# test_racing_processes_spec.py, test_read_models_opening_spec.py).
BARRIER = (
    "import os, sys, time, pathlib\n"
    "import infrastructure.entrypoints.cli as cli\n"
    "barrier = pathlib.Path(sys.argv[1])\n"
    "open_store = cli.open_with_read_models\n"
    "def opened(db):\n"
    "    store = open_store(db)\n"
    "    pathlib.Path(f'{barrier}.ready.{os.getpid()}').touch()\n"
    "    for _ in range(600_000):\n"
    "        if barrier.exists():\n"
    "            break\n"
    "        time.sleep(0.0005)\n"
    "    return store\n"
    "cli.open_with_read_models = opened\n"
    "sys.argv = ['lossledger', *sys.argv[2:]]\n"
    "cli.main()\n"
)


@dataclass(frozen=True)
class MarketFile:
    """Two generated markets in one file: two cycles, the second carrying the first's positions."""

    path: Path
    commands: list[dict[str, Any]]
    cycles: tuple[str, str]

    @property
    def accounts(self) -> list[str]:
        return [c["account"] for c in self.commands if c["type"] == "open_account"]

    def settle_line(self, cycle: str) -> int:
        """The line number of the cycle's settle_cycle command."""
        for number, command in enumerate(self.commands, start=1):
            if command["type"] == "settle_cycle" and command["cycle"] == cycle:
                return number
        raise AssertionError(f"no settle_cycle for {cycle}")

    def write_lines(self, path: Path, commands: list[dict[str, Any]]) -> Path:
        path.write_text("".join(_line(c) for c in commands), encoding="utf-8")
        return path


def _line(command: dict[str, Any]) -> str:
    return json.dumps(command, separators=(",", ":")) + "\n"


def write_market(
    path: Path, accounts: tuple[int, int], seeds: tuple[int, int] = (1, 2)
) -> MarketFile:
    first, second = generate(accounts[0], seeds[0]), generate(accounts[1], seeds[1])
    # The second market's business times go on after the first's: every command's `at` is its own.
    later = []
    for command in second.commands:
        at = datetime.fromisoformat(command["at"]) + timedelta(seconds=len(first.commands))
        later.append({**command, "at": format_time(at)})
    commands = first.commands + later
    path.write_text("".join(_line(c) for c in commands), encoding="utf-8")
    return MarketFile(path, commands, (first.cycle, second.cycle))


# --- processes ---------------------------------------------------------------------------------


def run(
    *arguments: str, db: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`lossledger` on a store of the crash and race specs: a whole market file may take long."""
    return lossledger(*arguments, db=db, env=env, timeout=300)


def start(
    *arguments: str, db: str, env: dict[str, str] | None = None, barrier: Path | None = None
) -> subprocess.Popen[str]:
    command = [LOSSLEDGER, *arguments, "--db", db]
    if barrier is not None:
        command = [sys.executable, "-c", BARRIER, str(barrier), *arguments, "--db", db]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOSSLEDGER_FAULT": "", **(env or {})},
    )


def killed_at(point: str, *arguments: str, db: str) -> subprocess.CompletedProcess[str]:
    """Run a command that kills itself at an injected point; it must have died there."""
    done = run(*arguments, db=db, env={"LOSSLEDGER_FAULT": point})
    assert done.returncode == KILLED, (point, done.returncode, done.stdout, done.stderr)
    return done


READY_SECONDS = 60.0  # for every process to start and signal it is ready, on a loaded machine


def release(
    barrier: Path, processes: list[subprocess.Popen[str]], timeout: float = READY_SECONDS
) -> None:
    """Once every process waiting on the barrier has signalled that it is ready (touched the
    file BARRIER.ready.PID), let them all go at once. A process that exits before it is ready
    releases the others, and its status tells why; processes not all ready within `timeout`
    seconds are killed, and the test fails saying so."""
    deadline = time.monotonic() + timeout
    while (ready := len(list(barrier.parent.glob(f"{barrier.name}.ready.*")))) < len(processes):
        if any(process.poll() is not None for process in processes):
            break
        if time.monotonic() > deadline:
            for process in processes:
                process.kill()
            raise AssertionError(
                f"{ready} of {len(processes)} processes ready at {barrier} after {timeout} s"
            )
        time.sleep(0.005)
    barrier.touch()


def killed_after(delay: float, barrier: Path, *arguments: str, db: str) -> bool:
    """Run a command, SIGKILL it `delay` seconds after it began its work (the store open);
    False when it finished first."""
    process = start(*arguments, db=db, barrier=barrier)
    release(barrier, [process])
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.kill()
    process.communicate(timeout=300)
    return process.returncode == KILLED


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a process: its exit status and its output, stderr one line per message."""
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout + " ".join(stderr.split())


def clean_run(market: MarketFile, database: Database) -> float:
    """Apply the file once, uninterrupted, by the command line; the seconds it took."""
    began = time.monotonic()
    done = run("apply", str(market.path), "-q", db=database.url)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - began


def clean_state(market: MarketFile) -> LedgerState:
    """The file applied once, uninterrupted, on SQLite: what a killed or raced store must end as."""
    with fresh_database("sqlite") as database:
        clean_run(market, database)
        return read_state(database, market.cycles)


# --- what a store holds ------------------------------------------------------------------------

EventKey = tuple[str, int]


def _content(topic: str, state: bytes) -> dict[str, Any]:
    """An event's stored content without what may differ between two runs of one file: the
    write time, and the chain position a settlement anchors to (a rolled-back insert leaves a
    gap in PostgreSQL's positions)."""
    content: dict[str, Any] = json.loads(state)
    content.pop("timestamp", None)
    if topic == SETTLED:
        content["summary"].pop("chain_anchor", None)
    return content


@dataclass
class LedgerState:
    events: dict[EventKey, tuple[str, dict[str, Any]]]
    documents: dict[str, dict[str, Any]]
    books: dict[str, Decimal]
    by_at: dict[str, set[EventKey]] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)  # accepted id -> events produced

    def topics(self, keys: set[EventKey]) -> Counter[str]:
        return Counter(self.events[key][0] for key in keys if key in self.events)

    def loss_shared_rows(self, keys: set[EventKey]) -> int:
        """The participants the LossShared events among these events record (a row each)."""
        return sum(
            len(content["rows"])
            for key in keys
            if key in self.events
            for topic, content in [self.events[key]]
            if topic == LOSS_SHARED
        )


def ledger_state(ledger: LossLedger, cycles: tuple[str, ...]) -> LedgerState:
    notifications = ledger.recorder.select_notifications(start=1, limit=10**9)
    events: dict[EventKey, tuple[str, dict[str, Any]]] = {}
    by_at: dict[str, set[EventKey]] = {}
    for n in notifications:
        key = (str(n.originator_id), n.originator_version)
        assert key not in events, f"event {key} stored twice"
        events[key] = (n.topic, _content(n.topic, n.state))
        at = events[key][1].get("at")
        if isinstance(at, str):
            by_at.setdefault(at, set()).add(key)
    opened = [cycle for cycle in cycles if (str(cycle_id(cycle)), 1) in events]
    documents = {cycle: cycle_document(ledger, cycle) for cycle in opened}
    books = balances_from_events(ledger.mapper.to_domain_event(n) for n in notifications)
    commands = ledger.recorder.accepted_commands()  # type: ignore[attr-defined]
    return LedgerState(events, documents, books, by_at, commands)


def read_state(database: Database, cycles: tuple[str, ...]) -> LedgerState:
    ledger = open_ledger(database.url)
    try:
        return ledger_state(ledger, cycles)
    finally:
        ledger.close()


def tracking_position(database: Database) -> int:
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(tracking.c.position)).scalar_one())
    finally:
        engine.dispose()


def log_position(database: Database) -> int:
    ledger = open_ledger(database.url)
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


# --- the judgement -----------------------------------------------------------------------------


def check_verify_and_reconcile(database: Database) -> None:
    """`lossledger verify` and `lossledger reconcile` (which catches up first) both exit 0."""
    verified = run("verify", db=database.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    reconciled = run("reconcile", db=database.url)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert "0 discrepancies" in reconciled.stdout


def check_in_process(
    database: Database, accounts: list[str], *, verify_and_reconcile: bool = True
) -> None:
    """The books (tests/support/books.py); and, when asked, what `verify` and `reconcile` check, by
    their code in this process: the chain, then every read model caught up and reconciled."""
    ledger = open_ledger(database.url)
    models = ReadModels(ledger, database)
    try:
        if verify_and_reconcile:
            result = verify(ledger.recorder)  # type: ignore[arg-type]
            assert result.ok, (result.first_bad_position, result.reason)
            models.catch_up()
            assert reconcile(models) == []
        check_books(ledger, accounts)
    finally:
        models.dispose()
        ledger.close()


def check_against(state: LedgerState, reference: LedgerState, market: MarketFile) -> None:
    """Nothing in the store that the clean run did not write; every command and every cycle's
    settlement wholly there or wholly absent."""
    for key, event in state.events.items():
        assert reference.events.get(key) == event, f"event {key} differs from the clean run's"
    for aggregate, versions in _versions(state.events).items():
        assert versions == list(range(1, len(versions) + 1)), f"{aggregate} has gaps: {versions}"
    for command in market.commands:
        recorded = command["id"] in state.commands
        expected = reference.by_at.get(command["at"], set())
        present = expected & state.events.keys()
        assert present == (expected if recorded else set()), (
            f"command {command['id']}: {len(present)} of its {len(expected)} events stored, "
            f"its row {'stored' if recorded else 'missing'}"
        )
        if recorded:
            assert state.commands[command["id"]] == reference.commands[command["id"]]
    for cycle in market.cycles:
        settlement = reference.by_at[market.commands[market.settle_line(cycle) - 1]["at"]]
        stored = state.topics(settlement)
        assert stored in (Counter(), reference.topics(settlement)), (cycle, stored)
        if stored:
            participants = reference.documents[cycle]["participants"]
            assert (stored[SETTLED], state.loss_shared_rows(settlement), stored[FUND_DRAWN]) == (
                1,
                len(participants),
                1,
            )


def _versions(events: dict[EventKey, Any]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = {}
    for aggregate, version in sorted(events):
        versions.setdefault(aggregate, []).append(version)
    return versions


def settled_cycles(state: LedgerState, market: MarketFile) -> list[str]:
    return [
        cycle
        for cycle in market.cycles
        if any(
            topic == SETTLED and key[0] == str(cycle_id(cycle))
            for key, (topic, _) in state.events.items()
        )
    ]


def check_survived(
    database: Database, market: MarketFile, reference: LedgerState, *, by_cli: bool
) -> LedgerState:
    """After a kill: verify and reconcile pass (run as commands, or their code in this process),
    the books balance, and the store is a part of the clean run's, command by command and
    cycle by cycle."""
    if by_cli:
        check_verify_and_reconcile(database)
    check_in_process(database, market.accounts, verify_and_reconcile=not by_cli)
    state = read_state(database, market.cycles)
    check_against(state, reference, market)
    return state


def check_complete(state: LedgerState, reference: LedgerState) -> None:
    """The store holds exactly what the clean run wrote: events, cycle documents, books."""
    assert state.events.keys() == reference.events.keys()
    assert state.events == reference.events
    assert state.commands == reference.commands
    assert state.documents == reference.documents
    assert state.books == reference.books


def check_applied_again(
    market: MarketFile, database: Database, reference: LedgerState
) -> subprocess.CompletedProcess[str]:
    """`lossledger apply` of the whole file again succeeds, and leaves the store the clean run's
    (check_complete); what it printed."""
    again = run("apply", str(market.path), "-q", db=database.url)
    assert again.returncode == 0, again.stderr
    check_complete(read_state(database, market.cycles), reference)
    return again


def fund_balance_from_its_events(state: LedgerState) -> Decimal:
    """The insurance fund as deposits + surpluses - draws, from its events alone."""
    total = Decimal(0)
    for topic, content in state.events.values():
        if topic.startswith("domain.insurance_fund:") and not topic.endswith(".Created"):
            amount = Decimal(content["amount"]["_data_"])
            total += -amount if topic == FUND_DRAWN else amount
    return total

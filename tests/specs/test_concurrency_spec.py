"""Concurrency: two writers on one store, as two ledgers in this process interleaved at chosen
moments of a batch. A batch whose save conflicts with another writer's is applied again from the
last save, up to a bound, then refused with a clear message; no lost update on any balance or on
the insurance fund; the tables of a fresh store are created under the store's lock. The same
races between real processes: tests/process/test_racing_processes_spec.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eventsourcing.utils import Environment

from domain.core.ids import account_id
from domain.ledger import LossLedger
from infrastructure.apply import runner
from infrastructure.apply.lines import Line, LineSource
from infrastructure.apply.runner import ApplyResult, apply_lines, apply_source
from infrastructure.entrypoints.http.app import create_app
from infrastructure.entrypoints.http.tokens import create_token
from infrastructure.eventstore.database_url import Database, postgres_connection
from infrastructure.eventstore.postgres import PostgresChainedFactory
from infrastructure.eventstore.postgres_tables import creation_lock_key
from tests.support.books import check_books
from tests.support.crashing import GAVE_UP
from tests.support.databases import OnPostgreSQL, OnSQLite, database_closers
from tests.support.ledgers import (
    LedgerFactory,
    btc_position,
    command,
    get_account,
    line,
    market,
    stored_events,
)

RETRIED = "another writer saved changes to the same aggregates first"


def deposit(account: str, amount: int, identifier: str) -> str:
    return line(command("deposit", account=account, amount=str(amount), id=identifier))


def lines_of(
    texts: list[str],
    before: dict[int, Callable[[], object]] | None = None,
    ledger: LossLedger | None = None,
) -> LineSource:
    """A source of the lines. With `ledger`, `before[index]()` is called the first time that
    ledger is about to execute that line, and `before[len(texts)]()` the first time it is
    about to save: another writer acting at a chosen moment of this one's batch. (The moment
    is the execution, not the reading: apply reads a batch ahead to look its ids up.)"""
    if ledger is not None and before:
        at_moments(ledger, texts, before)

    def source(position: int, _number: int) -> Iterator[Line]:
        for index in range(position, len(texts)):
            yield Line(index + 1, texts[index], index, index + 1)

    return source


def at_moments(
    ledger: LossLedger, texts: list[str], before: dict[int, Callable[[], object]]
) -> None:
    pending = dict(before)
    index_of = {text: index for index, text in enumerate(texts)}
    execute_line, flush = ledger.execute_line, ledger.flush

    def executing(text: str | bytes) -> str:
        act = pending.pop(index_of.get(str(text), -1), None)
        if act is not None:
            act()
        return execute_line(text)

    def saving() -> int:
        act = pending.pop(len(texts), None)
        if act is not None:
            act()
        return flush()

    ledger.execute_line = executing  # type: ignore[method-assign,assignment]
    ledger.flush = saving  # type: ignore[method-assign]


def cash(open_ledger: LedgerFactory, account: str) -> Decimal:
    return get_account(open_ledger(), account).cash


class InterleavedSpec:
    """Two ledgers on one store, as two processes; the second acts while the first's batch is
    in memory, not yet saved."""

    def test_a_batch_that_lost_the_race_is_applied_again_and_finds_the_winners_commands_applied(
        self, open_ledger: LedgerFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        this, other = open_ledger(), open_ledger()
        texts = [line(d) for d in market(["alice", "bob"], deposit="100")]
        # the other writer saves the first two commands after this one executed them all
        source = lines_of(texts, {len(texts): lambda: other.execute_batch(texts[:2])}, this)
        result = apply_source(this, source, None, ApplyResult(outcomes=[]))
        assert (result.conflicts, result.applied, result.already_applied) == (1, 2, 2)
        assert result.outcomes == ["already applied", "already applied", "applied", "applied"]
        assert [r.getMessage() for r in caplog.records] == [
            f"line 1: {RETRIED}; applying from this line again (attempt 2 of 5)"
        ]
        assert (cash(open_ledger, "alice"), cash(open_ledger, "bob")) == (
            Decimal(100),
            Decimal(100),
        )

    def test_a_batch_that_keeps_losing_is_refused_after_the_attempt_bound_and_nothing_is_lost(
        self, open_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(runner.ATTEMPTS_ENV, "3")
        this, other = open_ledger(), open_ledger()
        other.execute_batch([line(d) for d in market(["alice"], deposit="100")])
        texts = [deposit("alice", 1, "mine-1"), deposit("alice", 2, "mine-2")]
        rounds = iter(range(1, 100))

        flush = this.flush

        def other_deposits_then_save() -> int:  # on every pass, just before this one saves
            other.execute_batch([deposit("alice", 10, f"theirs-{next(rounds)}")])
            return flush()

        this.flush = other_deposits_then_save  # type: ignore[method-assign]
        result = apply_source(this, lines_of(texts))
        assert (result.conflicts, result.refused_line, result.refused_id) == (3, 1, "mine-1")
        assert (result.gave_up or "").startswith(f"{GAVE_UP}, 3 attempts in a row (")
        assert (result.reason or "").startswith(result.gave_up or "-")
        assert "nothing from this line on was saved: apply the file again" in (result.reason or "")
        assert cash(open_ledger, "alice") == 100 + 3 * 10  # theirs, all of them; none of mine

    def test_the_attempt_bound_is_per_batch_not_per_file(
        self, open_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(runner.ATTEMPTS_ENV, "2")
        monkeypatch.setattr(runner, "BATCH_COMMANDS", 2)
        this, other = open_ledger(), open_ledger()
        other.execute_batch([line(d) for d in market(["alice"], deposit="100")])
        texts = [deposit("alice", n, f"mine-{n}") for n in range(1, 7)]

        def theirs(n: int) -> Callable[[], object]:  # another process each time, afresh
            return lambda: open_ledger().execute_batch([deposit("alice", 1000, f"theirs-{n}")])

        # the other writer slips in before the second command of each of the three batches
        moments = {1: theirs(1), 3: theirs(3), 5: theirs(5)}
        result = apply_source(this, lines_of(texts, moments, this))
        assert (result.ok, result.conflicts, result.applied) == (True, 3, 6)
        assert cash(open_ledger, "alice") == 100 + sum(range(1, 7)) + 3 * 1000

    def test_a_refusal_on_an_outdated_view_is_looked_at_again_before_it_is_reported(
        self, open_ledger: LedgerFactory
    ) -> None:
        this, other = open_ledger(), open_ledger()
        apply_lines(this, [line(d) for d in market(["alice"], deposit="100")])  # cached: 100
        other.execute_batch([deposit("alice", 50, "theirs")])
        withdrawal = line(command("withdraw", account="alice", amount="120", id="w-120"))
        result = apply_lines(this, [withdrawal])
        assert (result.ok, result.applied) == (True, 1)
        assert cash(open_ledger, "alice") == 30

    def test_commands_met_already_applied_make_the_writer_read_every_aggregate_afresh(
        self, open_ledger: LedgerFactory
    ) -> None:
        this, other = open_ledger(), open_ledger()
        other.execute_batch(
            [
                line(d)
                for d in [
                    *market(["alice", "carol"], deposit="1000"),
                    command("open_cycle", cycle="c1", marks={"BTCUSDT": "100"}),
                    btc_position("carol", "long", "1", "10"),
                    command(
                        "close_position", account="carol", contract="BTCUSDT", size="1", price="100"
                    ),
                ]
            ]
        )
        # this writer caches the registry and cycle c1 (carol in it), not carol's account
        apply_lines(this, [line(btc_position("alice", "long", "1", "10"))])
        later = [
            line(command("settle_cycle", cycle="c1", marks={"BTCUSDT": "100"}, id="settle-c1")),
            line(command("open_cycle", cycle="c2", marks={"BTCUSDT": "100"}, id="open-c2")),
        ]
        open_ledger().execute_batch(later)  # another writer settles c1 and opens c2
        # Nothing this writer saves would conflict: only a fresh read puts carol's position in c2.
        result = apply_lines(this, [*later, line(btc_position("carol", "long", "1", "10"))])
        assert (result.ok, result.already_applied, result.applied) == (True, 2, 1)
        reader = open_ledger()
        opened = [e for e in stored_events(reader) if type(e).__name__ == "PositionOpened"]
        assert [(e.originator_id, e.cycle) for e in opened][-1:] == [(account_id("carol"), "c2")]
        check_books(reader, ["alice", "carol"])

    def test_a_posted_batch_that_keeps_losing_is_answered_409_after_the_bound(
        self, database: Database, open_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(runner.ATTEMPTS_ENV, "2")
        open_ledger().execute_batch([line(d) for d in market(["alice"], deposit="100")])
        api = create_app(database.url, follow_interval=None)
        server = api.state.models.ledger
        database_closers.setdefault(database.url, []).append(server.close)
        flush, rounds = server.flush, iter(range(1, 100))

        def other_deposits_then_save() -> int:  # on every attempt, just before the server saves
            open_ledger().execute_batch([deposit("alice", 10, f"theirs-{next(rounds)}")])
            return int(flush())

        server.flush = other_deposits_then_save
        token = create_token(api.state.models.engine, "operator", None)

        async def post() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=api), base_url="http://ledger"
            ) as client:
                return await client.post(
                    "/commands",
                    content=deposit("alice", 1, "mine-1"),
                    headers={"Authorization": f"Bearer {token}"},
                )

        answer = asyncio.run(post())
        assert answer.status_code == 409
        problem = answer.json()
        assert (problem["index"], problem["id"], problem["applied"]) == (0, "mine-1", [])
        assert problem["detail"].startswith(f"{GAVE_UP}, 2 attempts in a row (")
        assert problem["detail"].endswith(
            "nothing from this command on was saved: post them again "
            "(commands already applied are idempotent)"
        )
        assert cash(open_ledger, "alice") == 100 + 2 * 10  # theirs, both; not mine


class TestInterleavedOnSQLite(InterleavedSpec, OnSQLite):
    pass


class TestInterleavedOnPostgreSQL(InterleavedSpec, OnPostgreSQL):
    pass


# --- creating the tables of a fresh store from several ledgers at once ------------------------


class TestTableCreationOnPostgreSQL(OnPostgreSQL):
    def test_every_recorder_creates_its_tables_under_the_stores_lock(
        self, database: Database
    ) -> None:
        factory = PostgresChainedFactory(Environment("lossledger", database.env))
        recorders: list[Any] = [
            factory.application_recorder(),
            factory.aggregate_recorder("snapshots"),
        ]
        with postgres_connection(database) as holder:
            key = creation_lock_key(str(database.schema))
            holder.execute("SELECT pg_advisory_lock(%s)", (key,))
            creating = [threading.Thread(target=r.create_table) for r in recorders]
            for thread in creating:
                thread.start()
            time.sleep(1.0)
            assert [thread.is_alive() for thread in creating] == [True, True]  # both wait
            holder.execute("SELECT pg_advisory_unlock_all()")
            for thread in creating:
                thread.join(timeout=60)
        assert [thread.is_alive() for thread in creating] == [False, False]
        with postgres_connection(database, search_path=database.schema) as reader:
            tables = {
                row[0]
                for row in reader.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (database.schema,),
                )
            }
        assert {"lossledger_events", "lossledger_snapshots"} <= tables
        for recorder in recorders:
            recorder.datastore.close()

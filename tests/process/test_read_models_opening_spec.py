"""Processes opening the read models of a fresh store at the same instant all open them: the
tables are created once, under the store's write lock (infrastructure/readmodels/runner.py),
not by whoever checks first while the others collide with it on CREATE TABLE."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from infrastructure.eventstore.database_url import Database, open_ledger
from infrastructure.readmodels.runner import ReadModels
from infrastructure.readmodels.tables import READ_MODELS
from tests.support.databases import OnPostgreSQL, OnSQLite, fresh_database
from tests.support.tampering import Store

ROUNDS = 20  # a race: the same processes, each round on a fresh store
# For each store URL it reads, opens the ledger there, says "ready", waits for a line, opens
# the read models and says how that went: the parent sends that line to every process once all
# are ready, so that they open the read models at the same instant.
OPENER = (
    "import sys\n"
    "from domain.ledger import LossLedger\n"
    "from infrastructure.eventstore.database_url import parse_database\n"
    "from infrastructure.readmodels.runner import ReadModels\n"
    "for url in iter(sys.stdin.readline, ''):\n"
    "    database = parse_database(url.strip())\n"
    "    ledger = LossLedger(env=database.env)\n"
    "    print('ready', flush=True)\n"
    "    sys.stdin.readline()\n"
    "    try:\n"
    "        ReadModels(ledger, database).dispose()\n"
    "        print('opened', flush=True)\n"
    "    except Exception as error:\n"
    "        print(' '.join(f'failed: {error}'.split())[:300], flush=True)\n"
    "    ledger.close()\n"
)


@contextmanager
def openers(count: int) -> Iterator[list[subprocess.Popen[str]]]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.communicate(timeout=120)  # stdin closed: the process ends


def say(processes: list[subprocess.Popen[str]], text: str) -> list[str]:
    """Send a line to every process, then read one line back from each."""
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(text + "\n")
        process.stdin.flush()
    replies = []
    for process in processes:
        assert process.stdout is not None
        replies.append(process.stdout.readline().strip())
    return replies


def check_read_models(database: Database) -> None:
    store = Store(database)
    assert store.sql("SELECT projection, position FROM ll_tracking") == [("read_models", 0)]
    for table in READ_MODELS:
        store.sql(f"SELECT count(*) FROM {table.name}")  # every table is there


class ReadModelsOpeningSpec:
    backend: str
    processes: int

    def test_processes_opening_a_fresh_stores_read_models_at_once_all_open_them(self) -> None:
        with openers(self.processes) as processes, ExitStack() as stores:
            for _ in range(ROUNDS):
                # Given a store with no read models yet, and every process holding its ledger
                database = stores.enter_context(fresh_database(self.backend))
                open_ledger(database.url).close()
                assert say(processes, database.url) == ["ready"] * self.processes
                # When they all open its read models at the same instant
                outcomes = say(processes, "go")
                # Then every one opened them, and there is one set of tables with one tracking row
                assert outcomes == ["opened"] * self.processes
                check_read_models(database)

    def test_the_read_models_open_again_on_a_store_that_has_them(self, database: Database) -> None:
        ledger = open_ledger(database.url)
        try:
            for _ in range(2):
                ReadModels(ledger, database).dispose()
        finally:
            ledger.close()
        check_read_models(database)


class TestReadModelsOpeningOnSQLite(ReadModelsOpeningSpec, OnSQLite):
    processes = 8


class TestReadModelsOpeningOnPostgreSQL(ReadModelsOpeningSpec, OnPostgreSQL):
    processes = 4  # each holds a pool of connections: the server's clients are bounded

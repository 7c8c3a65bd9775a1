from __future__ import annotations

import decimal
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from infrastructure.eventstore.database_url import Database
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import ReadModels
from tests.support.databases import SKIP_POSTGRES, database_closers, fresh_database
from tests.support.hostile import PreparedStores
from tests.support.ledgers import LedgerFactory, SpecLedger, open_test_ledger


def pytest_report_header() -> str:
    if SKIP_POSTGRES:
        return "PostgreSQL specs SKIPPED on request (LOSSLEDGER_SKIP_POSTGRES=1)"
    return "PostgreSQL specs run against the server (LOSSLEDGER_SKIP_POSTGRES=1 skips them)"


@pytest.fixture(autouse=True)
def _trap_floats() -> Iterator[None]:
    """SPEC 3: a float that slips into a Decimal is an error in every test."""
    with decimal.localcontext() as context:
        context.traps[decimal.FloatOperation] = True
        yield


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend of the spec's subclass (OnSQLite, OnPostgreSQL); SQLite for plain tests."""
    return str(getattr(request.cls, "backend", "sqlite"))


@pytest.fixture
def database(backend: str) -> Iterator[Database]:
    with fresh_database(backend) as fresh:
        yield fresh


@pytest.fixture
def database_env(database: Database) -> dict[str, str]:
    return database.env


@pytest.fixture
def open_ledger(database: Database, request: pytest.FixtureRequest) -> Iterator[LedgerFactory]:
    """Opens the ledger on the test database; call again for a fresh process's view of it.

    After the test, the read models are caught up and reconciled: every scenario must leave
    them in agreement with the aggregates (tests marked `tampers` break them on purpose).
    """
    opened: list[SpecLedger] = []

    def open_one() -> SpecLedger:
        ledger = open_test_ledger(database.env)
        database_closers.setdefault(database.url, []).append(ledger.close)
        opened.append(ledger)
        return ledger

    yield open_one
    if opened and request.node.get_closest_marker("tampers") is None:
        models = ReadModels(open_one(), database)
        try:
            models.catch_up()
            assert reconcile(models) == []
        finally:
            models.dispose()


@pytest.fixture
def ledger(open_ledger: LedgerFactory) -> SpecLedger:
    return open_ledger()


@pytest.fixture(scope="class")
def prepared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PreparedStores]:
    """The hostile corpus's stores on the backend of the spec's class, kept for the class."""
    backend = str(request.cls.backend)
    with ExitStack() as stack:
        yield PreparedStores(backend, stack, tmp_path_factory.mktemp("prepared"))

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import SpecLedger, open_test_ledger

LedgerFactory = Callable[[], SpecLedger]


@pytest.fixture(autouse=True)
def _trap_floats() -> Iterator[None]:
    """SPEC 3: a float that slips into a Decimal is an error in every test."""
    with decimal.localcontext() as context:
        context.traps[decimal.FloatOperation] = True
        yield


@pytest.fixture
def database_env(tmp_path: Path) -> dict[str, str]:
    """A fresh SQLite file: the embedded default backend."""
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "l.db")}


@pytest.fixture
def open_ledger(database_env: dict[str, str]) -> LedgerFactory:
    """Opens the ledger on the test database; call again to read it from a new process view."""
    return lambda: open_test_ledger(database_env)


@pytest.fixture
def ledger(open_ledger: LedgerFactory) -> SpecLedger:
    return open_ledger()

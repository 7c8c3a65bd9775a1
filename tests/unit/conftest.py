"""The unit tier is pure: a test here that asks for a database, opens a SQLite file or a socket,
or starts a process fails at once, saying which tier it belongs to."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from typing import Any, NoReturn

import pytest


def _refused(what: str, tier: str) -> Any:
    def refuse(*_arguments: Any, **_keywords: Any) -> NoReturn:
        raise AssertionError(f"a unit test {what}: its place is {tier}")

    return refuse


@pytest.fixture
def database() -> NoReturn:
    pytest.fail("a unit test has no database: its place is tests/specs")


@pytest.fixture(autouse=True)
def _pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "connect", _refused("opens a SQLite file", "tests/specs"))
    monkeypatch.setattr(
        socket.socket, "connect", _refused("opens a socket", "tests/specs or tests/process")
    )
    monkeypatch.setattr(subprocess.Popen, "__init__", _refused("starts a process", "tests/process"))

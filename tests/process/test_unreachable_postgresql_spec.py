"""A PostgreSQL URL whose server is down or whose database does not exist fails fast: within
5 seconds, one line naming the host or the database, exit 2; whether the command reads a
ledger or would create one."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.support.crashing import run
from tests.support.databases import POSTGRES_URL, SKIP_POSTGRES
from tests.support.ledgers import line, market

DEADLINE_SECONDS = 5.0
# a port nothing listens on: the server is down
SERVER_DOWN = "postgresql://postgres@127.0.0.1:1/test"


def commands(tmp_path: Path) -> dict[str, list[str]]:
    file = tmp_path / "commands.jsonl"
    file.write_text("".join(line(d) + "\n" for d in market(["alice"])), encoding="utf-8")
    return {"verify": ["verify"], "apply": ["apply", str(file)]}


def fails_fast(arguments: list[str], url: str) -> str:
    """Run the command on the URL: exit 2 within the deadline, one line on stderr; that line."""
    began = time.monotonic()
    done = run(*arguments, db=url)
    took = time.monotonic() - began
    assert took < DEADLINE_SECONDS, f"took {took:.1f} s: {done.stderr[-300:]}"
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["verify", "apply"])
def test_a_server_that_is_down_is_named_in_one_line_within_5_seconds(
    command: str, tmp_path: Path
) -> None:
    for url in (SERVER_DOWN, f"{SERVER_DOWN}?schema=t_down"):
        message = fails_fast(commands(tmp_path)[command], url)
        assert message.startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1"), message


@pytest.mark.parametrize("command", ["verify", "apply"])
def test_a_database_that_does_not_exist_is_named_in_one_line_within_5_seconds(
    command: str, tmp_path: Path
) -> None:
    if SKIP_POSTGRES:
        pytest.skip("PostgreSQL skipped on request: LOSSLEDGER_SKIP_POSTGRES=1")
    name = f"t_missing_{uuid.uuid4().hex[:12]}"
    missing = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    for url in (missing, f"{missing}?schema=t_x"):
        message = fails_fast(commands(tmp_path)[command], url)
        assert f'no PostgreSQL database "{name}" at 127.0.0.1:5432' in message, message

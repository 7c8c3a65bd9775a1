"""The `lossledger` console script of this environment, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from infrastructure.eventstore.database_url import sqlite_url
from tests.support.ledgers import Document, write_commands

LOSSLEDGER = str(Path(sys.executable).parent / "lossledger")


def lossledger(
    *arguments: str,
    db: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the console script and wait for it: its status and output, as text. `db` (a SQLite
    file, or a database URL) is passed as `--db`; `env` adds to this process's environment."""
    command = [LOSSLEDGER, *arguments]
    if db is not None:
        # a URL handed on as a Path is refused here, not made into a directory named 'postgresql:'
        command += ["--db", db if isinstance(db, str) else sqlite_url(db)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def applied_by_cli(documents: Iterable[Document], directory: Path, db: Path | str) -> Path:
    """Write the commands to DIRECTORY/commands.jsonl and apply them with `lossledger apply`,
    which must succeed; the command file."""
    commands = write_commands(directory / "commands.jsonl", documents)
    done = lossledger("apply", str(commands), db=db)
    assert done.returncode == 0, done.stderr
    return commands

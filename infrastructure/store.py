"""Where the ledger lives: a database URL turned into the event store's settings."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from domain.errors import LedgerError
from domain.ledger import LossLedger

DEFAULT_DB_URL = "sqlite:///lossledger.db"
DB_ENV = "LOSSLEDGER_DB"


class DatabaseUrlError(LedgerError):
    """Raised when a database URL names a backend or a place the ledger cannot use."""


def db_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DB_ENV) or DEFAULT_DB_URL


def persistence_env(url: str) -> dict[str, str]:
    """The eventsourcing settings for a database URL."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy writes them.
        path = url.removeprefix("sqlite:///")
        if not path or path == url:
            raise DatabaseUrlError(f"a SQLite URL names a file: sqlite:///lossledger.db, not {url}")
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(Path(path).expanduser()),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    raise DatabaseUrlError(
        f"unsupported database URL {url!r}: use sqlite:///FILE (PostgreSQL arrives with issue 3)"
    )


def open_ledger(url: str | None = None) -> LossLedger:
    return LossLedger(env=persistence_env(db_url(url)))

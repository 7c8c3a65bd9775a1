"""Where the ledger lives: a database URL turned into the event store's settings.

`sqlite:///FILE` is the embedded default; `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?schema=S]`
is the production backend (eventsourcing.postgres, chosen by measurement: docs/storage.md).
The read-model tables live in the same database (and schema).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from domain.core.errors import LedgerError
from domain.ledger import LossLedger

DEFAULT_DB_URL = "sqlite:///lossledger.db"
DB_ENV = "LOSSLEDGER_DB"
SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseUrlError(LedgerError):
    """Raised when a database URL names a backend or a place the ledger cannot use."""


def db_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DB_ENV) or DEFAULT_DB_URL


@dataclass(frozen=True)
class Database:
    """A parsed database URL: the event store's settings and the read models' SQLAlchemy URL."""

    url: str
    backend: str  # "sqlite" or "postgresql"
    env: dict[str, str]
    sqlalchemy_url: str
    schema: str | None = None


def parse_database(url: str) -> Database:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy writes them.
        path = url.removeprefix("sqlite:///")
        if not path or path == url:
            raise DatabaseUrlError(f"a SQLite URL names a file: sqlite:///lossledger.db, not {url}")
        file = Path(path).expanduser()
        file.resolve().parent.mkdir(parents=True, exist_ok=True)
        env = {
            "PERSISTENCE_MODULE": "infrastructure.eventstore.sqlite:SQLiteChainedFactory",
            "SQLITE_DBNAME": str(file),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
        return Database(url, "sqlite", env, f"sqlite:///{file}")
    if parsed.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _postgres(url)
    raise DatabaseUrlError(
        f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://USER@HOST/DB"
    )


def _postgres(url: str) -> Database:
    parsed = urlparse(url)
    dbname = parsed.path.lstrip("/")
    if not dbname or not parsed.hostname:
        raise DatabaseUrlError(f"a PostgreSQL URL names a host and a database: {url!r}")
    schema = parse_qs(parsed.query).get("schema", [None])[0]
    if schema is not None and not SCHEMA_PATTERN.match(schema):
        raise DatabaseUrlError(f"schema must be a lower-case SQL identifier, got {schema!r}")
    env = {
        "PERSISTENCE_MODULE": "infrastructure.eventstore.postgres:PostgresChainedFactory",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parsed.hostname,
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
        # the chain is written after the insert's ids are fetched, which the database-function
        # insert path skips: pinned off, whatever the environment says
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        # a settlement's save is one transaction in which Python builds and hashes every row
        # between statements: eventsourcing's default of 5 s idle-in-transaction killed a
        # 100k-position settlement on a loaded machine (docs/storage.md)
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "300",
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    credentials = unquote(parsed.username or "postgres")
    if parsed.password:
        credentials += f":{parsed.password}"
    sqlalchemy_url = (
        f"postgresql+psycopg://{credentials}@{parsed.hostname}:{parsed.port or 5432}/{dbname}"
    )
    return Database(url, "postgresql", env, sqlalchemy_url, schema)


def postgres_connection(database: Database, search_path: str | None = None) -> Any:
    """An autocommit psycopg connection to the database a PostgreSQL URL names."""
    import psycopg

    env = database.env
    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        autocommit=True,
        options=f"-c search_path={search_path}" if search_path else None,
    )


def postgres_admin(database: Database, statement: str) -> None:
    """Run one administrative statement (a schema's creation or removal) on PostgreSQL."""
    with postgres_connection(database) as connection:
        connection.execute(statement.encode())


def ensure_schema(database: Database) -> None:
    """Create the PostgreSQL schema named in the URL, if any (the event store does not)."""
    if database.backend == "postgresql" and database.schema:
        # the schema name was checked against SCHEMA_PATTERN: a plain SQL identifier
        postgres_admin(database, f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"')


def open_ledger(url: str | None = None) -> LossLedger:
    database = parse_database(db_url(url))
    ensure_schema(database)
    return LossLedger(env=database.env)

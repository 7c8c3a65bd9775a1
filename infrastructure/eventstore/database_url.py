"""Where the ledger lives: a database URL turned into the event store's settings.

`sqlite:///FILE` is the embedded default; `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?schema=S]`
is the production backend (eventsourcing.postgres, chosen by measurement: docs/storage.md).
The read-model tables live in the same database (and schema): a URL is accepted only when the
event store and the read models read it as the same database. Reading a URL has no side
effects; a store's directory or schema is created only where a store is created.

A ledger is stored at a URL when its events table is there: for SQLite, the file exists and is
a database holding `stored_events`; for PostgreSQL, the server answers, the database exists and
its schema (`public` when the URL names none) holds `lossledger_events`. Only `open_ledger`
creates a ledger (`apply`, `demo`, `token create` and the library open with it); every other
command opens with `open_existing_ledger`, which on a URL without a ledger raises NoLedgerError
("no ledger at URL") having created nothing, and opens the event store without creating its
tables. The read models derive from the log: a command may create and catch up the read-model
tables of a ledger that is stored.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from sqlalchemy.engine import URL

from domain.core.errors import LedgerError
from domain.ledger import LossLedger

DEFAULT_DB_URL = "sqlite:///lossledger.db"
DB_ENV = "LOSSLEDGER_DB"
SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# the events table of each backend, as eventsourcing names it: the SQLite recorder's default,
# the PostgreSQL factory's application name + "_events"
SQLITE_EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS_TABLE = f"{LossLedger.name}_events"
CONNECT_SECONDS = 5  # a PostgreSQL server that has not answered by then is reported unreachable


class DatabaseUrlError(LedgerError):
    """Raised when a database URL names a backend or a place the ledger cannot use."""


class DatabaseUnreachableError(LedgerError):
    """Raised when the PostgreSQL server of a URL does not answer or has no such database."""


class NoLedgerError(LedgerError):
    """Raised when a command that creates no ledger is given a URL where none is stored."""


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
    """The settings a URL names; nothing is opened or created (see `open_ledger`)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return _sqlite(url)
    if parsed.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _postgres(url)
    raise DatabaseUrlError(
        f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://USER@HOST/DB"
    )


def sqlite_url(file: Path) -> str:
    """The URL of a SQLite file; refused like the URL would be (a URL made into a Path, say)."""
    return parse_database(f"sqlite:///{file}").url


def _sqlite(url: str) -> Database:
    # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy writes them.
    path = url.removeprefix("sqlite:///")
    if not path or path == url:
        raise DatabaseUrlError(f"a SQLite URL names a file: sqlite:///lossledger.db, not {url}")
    _check_sqlite_path(path, url)
    file = str(Path(path).expanduser())
    env = {
        "PERSISTENCE_MODULE": "infrastructure.eventstore.sqlite:SQLiteChainedFactory",
        "SQLITE_DBNAME": file,
        "SQLITE_LOCK_TIMEOUT": "30",
    }
    # built, not written as text: SQLAlchemy would decode a '%' that the event store keeps
    sqlalchemy_url = URL.create("sqlite", database=file).render_as_string()
    return Database(url, "sqlite", env, sqlalchemy_url)


def _check_sqlite_path(path: str, url: str) -> None:
    """The event store (sqlite3 with URIs on) and the read models (SQLAlchemy) read a SQLite
    path alike only when it is a plain file name: refuse what either would read otherwise."""
    if "?" in path:
        # SQLAlchemy drops a query string, the event store keeps it in the file name
        raise DatabaseUrlError(f"a SQLite path cannot contain '?' (a query string): {url}")
    if "://" in path:
        raise DatabaseUrlError(f"a SQLite path cannot contain '://' (a URL in a URL): {url}")
    scheme = URL_SCHEME.match(path)
    if scheme:  # 'file:' opens a URI for the event store; 'postgresql:/' is a URL made a path
        raise DatabaseUrlError(
            f"a SQLite path cannot begin with a URL scheme ('{scheme.group(0)}'): {url}"
        )
    if ":memory:" in path or "mode=memory" in path:
        raise DatabaseUrlError(
            f"an in-memory SQLite database would be two databases, one for the event store "
            f"and one for the read models: name a file, not {url}"
        )


def _postgres(url: str) -> Database:
    parsed = urlparse(url)
    dbname = unquote(parsed.path.removeprefix("/"))
    if not dbname or not parsed.hostname:
        raise DatabaseUrlError(f"a PostgreSQL URL names a host and a database: {url!r}")
    if "/" in dbname:
        raise DatabaseUrlError(f"a PostgreSQL URL names one database after the host: {url!r}")
    try:
        port = parsed.port or 5432
    except ValueError:
        raise DatabaseUrlError(f"a PostgreSQL URL's port is a number: {url!r}") from None
    schema = _schema(parsed.query, parsed.fragment, url)
    user = unquote(parsed.username or "postgres")
    password = unquote(parsed.password or "")
    env = {
        "PERSISTENCE_MODULE": "infrastructure.eventstore.postgres:PostgresChainedFactory",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parsed.hostname,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
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
    sqlalchemy_url = URL.create(
        "postgresql+psycopg",
        username=user,
        password=password or None,
        host=parsed.hostname,
        port=port,
        database=dbname,
    ).render_as_string(hide_password=False)
    return Database(url, "postgresql", env, sqlalchemy_url, schema)


def _schema(query: str, fragment: str, url: str) -> str | None:
    """The schema of `?schema=S`; any other parameter would be ignored by one side or both."""
    parameters = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(parameters) - {"schema"})
    if unknown or fragment:
        named = repr(unknown[0]) if unknown else f"#{fragment}"
        raise DatabaseUrlError(f"a PostgreSQL URL takes only ?schema=NAME, not {named}: {url!r}")
    schemas = parameters.get("schema", [])
    if len(schemas) > 1:
        raise DatabaseUrlError(f"a PostgreSQL URL names one schema: {url!r}")
    schema = schemas[0] if schemas else None
    if schema is not None and not SCHEMA_PATTERN.match(schema):
        raise DatabaseUrlError(f"schema must be a lower-case SQL identifier, got {schema!r}")
    return schema


def postgres_connection(database: Database, search_path: str | None = None) -> Any:
    """An autocommit psycopg connection to the database a PostgreSQL URL names; a server that
    does not answer within CONNECT_SECONDS, or has no such database, is one DatabaseUnreachable
    line (the event store's pool would wait 30 s, then raise through a page of traceback)."""
    import psycopg

    env = database.env
    try:
        return psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]),
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            autocommit=True,
            connect_timeout=CONNECT_SECONDS,
            options=f"-c search_path={search_path}" if search_path else None,
        )
    except psycopg.OperationalError as error:
        raise DatabaseUnreachableError(_unreachable(database, error)) from None


def _unreachable(database: Database, error: Exception) -> str:
    env = database.env
    where = f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
    dbname = env["POSTGRES_DBNAME"]
    reason = " ".join(str(error).split())
    if f'database "{dbname}" does not exist' in reason:
        return f'no PostgreSQL database "{dbname}" at {where}'
    # psycopg says 'connection failed: connection to server at "H", port P failed: REASON'
    reason = reason.rsplit(" failed: ", 1)[-1]
    return f"cannot connect to PostgreSQL at {where} (database {dbname}): {reason}"


def postgres_admin(database: Database, statement: str) -> None:
    """Run one administrative statement (a schema's creation or removal) on PostgreSQL."""
    with postgres_connection(database) as connection:
        connection.execute(statement.encode())


def ensure_schema(database: Database) -> None:
    """Create the PostgreSQL schema named in the URL, if any (the event store does not)."""
    if database.backend == "postgresql" and database.schema:
        # the schema name was checked against SCHEMA_PATTERN: a plain SQL identifier
        postgres_admin(database, f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"')


def create_store_place(database: Database) -> None:
    """Where a store is about to be created, what the event store does not create itself: the
    SQLite file's directory, or the PostgreSQL schema named in the URL."""
    if database.backend == "sqlite":
        directory = Path(database.env["SQLITE_DBNAME"]).resolve().parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUrlError(
                f"cannot create the directory {directory} of {database.url}: {error.strerror}"
            ) from None
        _in_wal_mode(
            Path(database.env["SQLITE_DBNAME"]), float(database.env["SQLITE_LOCK_TIMEOUT"])
        )
        return
    # connecting first, with a URL without a schema too: the server answers and the database
    # exists, or one line says which not
    with postgres_connection(database) as connection:
        if database.schema:  # checked against SCHEMA_PATTERN: a plain SQL identifier
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"'.encode())


def _in_wal_mode(file: Path, seconds: float) -> None:
    """The SQLite file (created if missing) in WAL mode before the event store opens it. The
    library's first connection asks for the mode and, finding another, changes it; processes
    opening a fresh file at once can ask before the first change and change it while another
    holds a lock, and that change answers "database is locked" at once, without waiting out the
    busy timeout. Here the change is retried for `seconds`; a file in WAL mode stays in it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with closing(sqlite3.connect(file, timeout=seconds)) as connection:
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() == "wal":
                return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                return  # a file that cannot be opened: the event store says so as it opens it
        if time.monotonic() > deadline:
            return  # still locked, or a mode the file keeps: the event store meets it as before
        time.sleep(0.01)


def open_ledger(url: str | None = None) -> LossLedger:
    """The ledger at a database URL, created there if there is none yet."""
    database = parse_database(db_url(url))
    create_store_place(database)
    return LossLedger(env=database.env)


def shown(url: str) -> str:
    """A URL as messages print it: a password in it masked."""
    password = urlparse(url).password
    return url.replace(f":{password}@", ":***@", 1) if password else url


def ledger_exists(database: Database) -> bool:
    """Whether a ledger is stored there (the module's docstring); creates nothing."""
    if database.backend == "sqlite":
        file = Path(database.env["SQLITE_DBNAME"]).expanduser()
        if not file.is_file():
            return False
        try:  # read-only: a file removed meanwhile is not created again
            uri = f"{file.resolve().as_uri()}?mode=ro"
            with closing(sqlite3.connect(uri, uri=True)) as connection:
                found = connection.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (SQLITE_EVENTS_TABLE,),
                ).fetchone()
        except sqlite3.DatabaseError:  # not a SQLite database
            return False
        return found is not None
    with postgres_connection(database) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s",
            (database.schema or "public", POSTGRES_EVENTS_TABLE),
        ).fetchone()
    return found is not None


def require_ledger(database: Database) -> None:
    if not ledger_exists(database):
        raise NoLedgerError(f"no ledger at {shown(database.url)}")


def existing_ledger(database: Database) -> LossLedger:
    """The ledger stored there, its event store opened without creating a table."""
    require_ledger(database)
    return LossLedger(env={**database.env, "CREATE_TABLE": "n"})


def open_existing_ledger(url: str | None = None) -> LossLedger:
    """The ledger stored at a database URL; NoLedgerError, having created nothing, if none is."""
    return existing_ledger(parse_database(db_url(url)))

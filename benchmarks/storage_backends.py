"""Which PostgreSQL event store? eventsourcing.postgres against eventsourcing_sqlalchemy.

Applies the same generated market (accounts, crash, settlement) to each backend in one run,
three times each, in fresh schemas, and prints the medians as JSON. SQLite is the baseline.

    .venv/bin/pip install -e '.[bench]'   # eventsourcing-sqlalchemy, only for this comparison
    .venv/bin/python benchmarks/storage_backends.py --accounts 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from domain.ledger import LossLedger
from domain.queries.replay import replay_cycle
from infrastructure.apply.runner import apply_file
from infrastructure.eventstore.database_url import parse_database
from infrastructure.eventstore.store import ApplicationEventStore
from infrastructure.tools.market import generate, lines

PG = "postgresql://postgres@127.0.0.1:5432/test"


def fresh_schema() -> str:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(schema: str) -> None:
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
        c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def sqlite_env(directory: Path) -> dict[str, str]:
    return parse_database(f"sqlite:///{directory / 'bench.db'}").env


def postgres_env(schema: str) -> dict[str, str]:
    return parse_database(f"{PG}?schema={schema}").env


def sqlalchemy_env(schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
        "SQLALCHEMY_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "SQLALCHEMY_SCHEMA": schema,
    }


def measure(env: dict[str, str], commands: Path, cycle: str) -> dict[str, float]:
    # any eventsourcing store serves, through the same EventStore as the ledger's own
    ledger = LossLedger(env=env, event_store=ApplicationEventStore)
    started = time.perf_counter()
    result = apply_file(ledger, commands)
    applied = time.perf_counter() - started
    assert result.ok, result.reason
    started = time.perf_counter()
    replay = replay_cycle(LossLedger(env=env, event_store=ApplicationEventStore), cycle)
    replayed = time.perf_counter() - started
    assert not replay.differences
    return {
        "apply_seconds": applied,
        "replay_seconds": replayed,
        "events_per_second": result.events_written / applied,
    }


def run(
    backend: str,
    make_env: Callable[[Path, str], dict[str, str]],
    commands: Path,
    cycle: str,
    repeats: int,
) -> dict[str, object]:
    samples = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as directory:
            schema = fresh_schema() if backend != "sqlite" else ""
            try:
                samples.append(measure(make_env(Path(directory), schema), commands, cycle))
            finally:
                if schema:
                    drop_schema(schema)
    return {
        "backend": backend,
        **{key: round(statistics.median(s[key] for s in samples), 3) for key in samples[0]},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    market = generate(arguments.accounts, seed=11)
    with tempfile.TemporaryDirectory() as directory:
        commands = Path(directory) / "market.jsonl"
        commands.write_text("".join(text + "\n" for text in lines(market)))
        rows = [
            run("sqlite", lambda d, s: sqlite_env(d), commands, market.cycle, arguments.repeats),
            run(
                "eventsourcing.postgres",
                lambda d, s: postgres_env(s),
                commands,
                market.cycle,
                arguments.repeats,
            ),
            run(
                "eventsourcing_sqlalchemy (postgres)",
                lambda d, s: sqlalchemy_env(s),
                commands,
                market.cycle,
                arguments.repeats,
            ),
        ]
    print(
        json.dumps(
            {
                "accounts": arguments.accounts,
                "commands": len(market.commands),
                "repeats": arguments.repeats,
                "medians": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

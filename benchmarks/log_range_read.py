"""How fast a settlement or a replay could read its inputs from the notification log.

On a store built by the ledger (the bench market applied with `lossledger apply`), times:

a. the cycle's range: every row after the cycle's `Cycle.Opened` notification whose topic is
   one of the Account position and cash events, read as raw rows with `sqlite3` (paged with
   fetchmany, and in one fetchall);
b. the same read plus decoding each row's state: with the ledger's own mapper (the stored
   event to a domain event, as the ledger loads it), with `json.loads` (and with an
   object_hook that makes the transcoder's decimals Decimals), with `orjson.loads`;
c. on top of the orjson read, the fold a settlement needs: per (account, contract) the last
   position record, per account the last cash_after, as tuples of the stored texts; and,
   after it, the folded records' amounts as Decimals; the fold is checked against the ledger's
   own Account aggregates for the first and last chunk of the sample of d;
d. for comparison, the per-account read the replay does today (`ledger.store.events_of`, 500
   accounts a query, the cycle's accounts in name order) on a sample of the cycle's accounts
   (chunks of 500 consecutive names, spread evenly over all of them), alone and with the
   mapper's decoding, extrapolated to all the cycle's accounts;
e. sizes: the rows and state bytes of the range, the events table's rows.

Each figure is the median of the repeats; CPU seconds are this process's (time.process_time).

    .venv/bin/python benchmarks/log_range_read.py --db sqlite:////tmp/logread/ledger.db
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, cast
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.persistence import StoredEvent

from domain.accounts import Account
from domain.core.ids import account_id, cycle_id
from domain.cycles import Cycle
from domain.ledger import LossLedger
from domain.queries.replay import ACCOUNTS_PER_QUERY
from infrastructure.eventstore.database_url import parse_database

OPENED = "domain.cycles:Cycle.Opened"
POSITION_TOPICS = (
    "domain.accounts:Account.PositionOpened",
    "domain.accounts:Account.PositionClosed",
    "domain.accounts:Account.PositionLiquidated",
)
CASH_TOPICS = ("domain.accounts:Account.Deposited", "domain.accounts:Account.Withdrawn")
TOPICS = POSITION_TOPICS + CASH_TOPICS
RANGE = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
    f"WHERE rowid > ? AND topic IN ({','.join('?' * len(TOPICS))}) ORDER BY rowid"
)
POSITION_FIELDS = ("side", "size", "entry", "reference", "margin", "realized", "liquidated")
AMOUNTS = (1, 2, 3, 4, 5)  # the indexes of POSITION_FIELDS that are decimals

Row = tuple[int, str, int, str, bytes]


@dataclass(frozen=True)
class Folded:
    """What the settlement needs from the range: the last record of each position, the last
    cash of each account (keyed by originator id: the events do not carry the name)."""

    positions: dict[tuple[str, str], tuple[Any, ...]]
    cash: dict[str, str]
    rows: int
    state_bytes: int


@dataclass
class Figure:
    name: str
    rows: int
    state_bytes: int
    walls: list[float]
    cpus: list[float]
    peak_rss_mib: float
    note: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(
    name: str, repeats: int, work: Callable[[], tuple[int, int]], note: str = ""
) -> Figure:
    walls, cpus = [], []
    rows = size = 0
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        rows, size = work()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    figure = Figure(name, rows, size, walls, cpus, peak_rss_mib(), note)
    print(
        f"  {name}: {figure.wall:.2f} s wall, {figure.cpu:.2f} s CPU "
        f"(walls {', '.join(f'{w:.2f}' for w in walls)})",
        file=sys.stderr,
        flush=True,
    )
    return figure


def pages(connection: sqlite3.Connection, opened: int, page: int) -> Iterator[list[Row]]:
    cursor = connection.execute(RANGE, (opened, *TOPICS))
    while rows := cursor.fetchmany(page):
        yield rows


def orjson_loads() -> Callable[[bytes], Any] | None:
    """orjson is not a dependency of the project: its rows are left out without it."""
    try:
        module = importlib.import_module("orjson")
    except ImportError:
        return None
    return cast(Callable[[bytes], Any], module.loads)


def decimal_hook(document: dict[str, Any]) -> Any:
    """What the ledger's transcoder does with a decimal: {"_type_": "decimal_str", ...}."""
    if document.get("_type_") == "decimal_str":
        return Decimal(document["_data_"])
    return document


class Bench:
    def __init__(self, path: str, ledger: LossLedger, cycle: str, page: int) -> None:
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.ledger = ledger
        self.page = page
        found = self.connection.execute(
            "SELECT rowid FROM stored_events WHERE originator_id = ? AND originator_version = 1 "
            "AND topic = ?",
            (cycle_id(cycle).hex, OPENED),
        ).fetchone()
        if found is None:
            raise SystemExit(f"no {OPENED} of cycle {cycle} in {path}")
        self.opened = int(found[0])
        self.folded: Folded | None = None

    def scan_in_sqlite(self) -> tuple[int, int]:
        """The same rows counted inside SQLite: its scan, no row handed to Python."""
        count, size = self.connection.execute(
            "SELECT count(*), sum(length(state)) FROM stored_events "
            f"WHERE rowid > ? AND topic IN ({','.join('?' * len(TOPICS))})",
            (self.opened, *TOPICS),
        ).fetchone()
        return int(count), int(size or 0)

    def read_paged(self) -> tuple[int, int]:
        rows = size = 0
        for batch in pages(self.connection, self.opened, self.page):
            rows += len(batch)
            size += sum(len(row[4]) for row in batch)
        return rows, size

    def read_all(self) -> tuple[int, int]:
        batch = self.connection.execute(RANGE, (self.opened, *TOPICS)).fetchall()
        return len(batch), sum(len(row[4]) for row in batch)

    def decoded(self, decode: Callable[[Row], object]) -> tuple[int, int]:
        rows = size = 0
        for batch in pages(self.connection, self.opened, self.page):
            for row in batch:
                decode(row)
            rows += len(batch)
            size += sum(len(row[4]) for row in batch)
        return rows, size

    def mapper(self, row: Row) -> object:
        stored = StoredEvent(UUID(row[1]), row[2], row[3], row[4])
        return self.ledger.mapper.to_domain_event(stored)

    def fold(self, loads: Callable[[bytes], Any]) -> Folded:
        positions: dict[tuple[str, str], tuple[Any, ...]] = {}
        cash: dict[str, str] = {}
        rows = size = 0
        for batch in pages(self.connection, self.opened, self.page):
            rows += len(batch)
            size += sum(len(row[4]) for row in batch)
            for _, originator, _, topic, state in batch:
                document = loads(state)
                cash[originator] = document["cash_after"]["_data_"]
                if topic in POSITION_TOPICS:
                    record = document["position"]
                    positions[(originator, document["contract"])] = (
                        record["side"],
                        record["size"]["_data_"],
                        record["entry"]["_data_"],
                        record["reference"]["_data_"],
                        record["margin"]["_data_"],
                        record["realized"]["_data_"],
                        record["liquidated"],
                    )
        return Folded(positions, cash, rows, size)

    def cycle_accounts(self) -> list[str]:
        cycle: Cycle = self.ledger.repository.get(cycle_id(self.cycle_name()))
        return sorted(cycle.accounts)

    def cycle_name(self) -> str:
        state = self.connection.execute(
            "SELECT state FROM stored_events WHERE rowid = ?", (self.opened,)
        ).fetchone()[0]
        return str(json.loads(state)["cycle"])


def as_decimals(positions: dict[tuple[str, str], tuple[Any, ...]], cash: dict[str, str]) -> int:
    records = [
        tuple(Decimal(v) if i in AMOUNTS else v for i, v in enumerate(record))
        for record in positions.values()
    ]
    amounts = [Decimal(v) for v in cash.values()]
    return len(records) + len(amounts)


def sample_chunks(names: list[str], accounts: int) -> list[list[str]]:
    """Chunks of ACCOUNTS_PER_QUERY consecutive names, spread evenly over all the names."""
    chunks = [names[i : i + ACCOUNTS_PER_QUERY] for i in range(0, len(names), ACCOUNTS_PER_QUERY)]
    if accounts <= 0 or accounts >= len(names):
        return chunks
    wanted = max(1, accounts // ACCOUNTS_PER_QUERY)
    step = len(chunks) / wanted
    return [chunks[int(i * step)] for i in range(wanted)]


def store_sizes(connection: sqlite3.Connection, opened: int) -> list[tuple[str, int, int, int]]:
    """Per topic: rows in the table, rows after the cycle's opening, their state bytes."""
    return [
        (str(topic), int(rows), int(after), int(size or 0))
        for topic, rows, after, size in connection.execute(
            "SELECT topic, count(*), sum(rowid > ?), sum(CASE WHEN rowid > ? THEN length(state) "
            "END) FROM stored_events GROUP BY topic ORDER BY count(*) DESC",
            (opened, opened),
        )
    ]


def print_sizes(bench: Bench, cycle: str) -> None:
    sizes = store_sizes(bench.connection, bench.opened)
    total_rows = sum(rows for _, rows, _, _ in sizes)
    after_rows = sum(after for _, _, after, _ in sizes)
    print(f"cycle {cycle}: Cycle.Opened at notification id {bench.opened}")
    print(f"stored_events: {total_rows:,} rows; {after_rows:,} after the cycle's opening")
    print("| topic | rows | rows after Cycle.Opened | their state MB |")
    print("|---|---|---|---|")
    for topic, rows, after, size in sizes:
        print(f"| {topic} | {rows:,} | {after:,} | {size / 1e6:.1f} |")
    print()


def range_figures(bench: Bench, repeats: int) -> list[Figure]:
    """a, b and c: the cycle's range read, decoded, folded."""
    print("a. the cycle's range, raw rows", file=sys.stderr)
    figures = [
        measured("a. count(*), sum(length(state)) in SQLite", repeats, bench.scan_in_sqlite),
        measured(f"a. read, fetchmany({bench.page:,})", repeats, bench.read_paged),
        measured("a. read, one fetchall", repeats, bench.read_all),
    ]
    print("b. the range decoded", file=sys.stderr)
    decoders: list[tuple[str, Callable[[Row], object]]] = [
        ("b(i). read + ledger.mapper.to_domain_event", bench.mapper),
        ("b(ii). read + json.loads", lambda row: json.loads(row[4])),
        (
            "b(ii'). read + json.loads, object_hook to Decimal",
            lambda row: json.loads(row[4], object_hook=decimal_hook),
        ),
    ]
    loads = orjson_loads()
    fast: Callable[[bytes], Any] = json.loads if loads is None else loads
    if loads is not None:
        decoders.append(("b(iii). read + orjson.loads", lambda row: fast(row[4])))
    for name, decode in decoders:
        figures.append(measured(name, repeats, partial(bench.decoded, decode)))
    print("c. the fold", file=sys.stderr)
    folded: list[Folded] = []

    def fold() -> tuple[int, int]:
        folded[:] = [bench.fold(fast)]
        return folded[0].rows, folded[0].state_bytes

    fast_name = "json.loads (orjson not installed)" if loads is None else "orjson.loads"

    def fold_without_gc() -> tuple[int, int]:
        gc.disable()
        try:
            return fold()
        finally:
            gc.enable()

    figures.append(measured(f"c. read + {fast_name} + fold", repeats, fold))
    figures.append(measured(f"c. read + {fast_name} + fold, gc disabled", repeats, fold_without_gc))
    result = folded.pop()
    bench.folded = result
    print(
        f"folded: {len(result.positions):,} (account, contract) position records, "
        f"{len(result.cash):,} accounts' cash"
    )
    figures.append(
        measured(
            "c'. the folded records' amounts to Decimal (rows: records)",
            repeats,
            lambda: (as_decimals(result.positions, result.cash), 0),
        )
    )
    return figures


def check_fold(bench: Bench, folded: Folded, names: list[str]) -> None:
    """The fold against the ledger's own aggregates, for the given accounts."""
    for name in names:
        key = account_id(name)
        account: Account = bench.ledger.repository.get(key)
        if Decimal(folded.cash[key.hex]) != account.cash:
            raise SystemExit(f"the fold's cash of {name} is not the aggregate's")
        for contract, record in account.positions.items():
            mine = folded.positions[(key.hex, contract)]
            theirs = tuple(record[field] for field in POSITION_FIELDS)
            if tuple(Decimal(v) if i in AMOUNTS else v for i, v in enumerate(mine)) != theirs:
                raise SystemExit(f"the fold's {contract} of {name} is not the aggregate's")
    print(f"the fold agrees with the aggregates of {len(names):,} accounts")


def account_figures(bench: Bench, accounts: int, repeats: int) -> tuple[list[Figure], float]:
    """d: today's replay read, on a sample of the cycle's accounts; and the scale to all."""
    print("d. the per-account read of today's replay", file=sys.stderr)
    ledger = bench.ledger
    names = bench.cycle_accounts()
    chunks = sample_chunks(names, accounts)
    sampled = sum(len(chunk) for chunk in chunks)
    scale = len(names) / sampled
    if bench.folded is not None:
        check_fold(bench, bench.folded, chunks[0] + chunks[-1])
        bench.folded = None

    def per_account(decode: bool) -> tuple[int, int]:
        rows = size = 0
        for chunk in chunks:
            events = ledger.store.events_of([account_id(name) for name in chunk]) or []
            rows += len(events)
            size += sum(len(e.state) for e in events)
            if decode:
                for stored in events:
                    ledger.mapper.to_domain_event(stored)
        return rows, size

    note = f"{sampled:,} of {len(names):,} accounts; x{scale:.2f} for all"
    print(f"the cycle's accounts: {len(names):,}; per-account sample: {sampled:,}")
    figures = [
        measured("d. events_of, 500 accounts a query", repeats, lambda: per_account(False), note),
        measured(
            "d. events_of + ledger.mapper.to_domain_event",
            repeats,
            lambda: per_account(True),
            note,
        ),
    ]
    return figures, scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a sqlite:/// URL or a SQLite file's path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cycle", default="b7-cycle-1")
    parser.add_argument("--page", type=int, default=100_000, help="rows per fetchmany")
    parser.add_argument(
        "--accounts", type=int, default=50_000, help="accounts in the per-account sample (0: all)"
    )
    args = parser.parse_args()
    url = args.db if args.db.startswith("sqlite:") else f"sqlite:///{Path(args.db).resolve()}"
    database = parse_database(url)
    path = database.env["SQLITE_DBNAME"]
    if not Path(path).is_file():
        raise SystemExit(f"no SQLite file at {path}")
    bench = Bench(path, LossLedger(env=database.env), args.cycle, args.page)
    print_sizes(bench, args.cycle)
    figures = range_figures(bench, args.repeats)
    per_account, scale = account_figures(bench, args.accounts, args.repeats)
    print(f"repeats: {args.repeats}; figures: the median")
    print()
    table(figures + per_account, scale)


def table(figures: list[Figure], scale: float) -> None:
    print(
        "| measure | rows | state MB | wall s | CPU s | CPU µs/row | walls of the repeats "
        "| peak RSS MiB so far | all accounts: wall s / CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for f in figures:
        per_row = f"{f.cpu / f.rows * 1e6:.2f}" if f.rows else ""
        extrapolated = f"{f.wall * scale:.1f} / {f.cpu * scale:.1f}" if f.note else ""
        name = f"{f.name} ({f.note})" if f.note else f.name
        print(
            f"| {name} | {f.rows:,} | {f.state_bytes / 1e6:.1f} | {f.wall:.2f} | {f.cpu:.2f} "
            f"| {per_row} | {', '.join(f'{w:.2f}' for w in f.walls)} | {f.peak_rss_mib:,.0f} "
            f"| {extrapolated} |"
        )


if __name__ == "__main__":
    main()

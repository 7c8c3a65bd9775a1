"""What a settlement of a million positions costs if its records were compact.

Not the ledger's code: a measurement of the design docs/decisions.md ("Performance shape")
describes, so that the claim "it would meet the target" rests on figures. It times, for N
positions:

1. the waterfall's own work on profits held as integers of quanta: rank (sort), select the
   prefix, share pro rata with exact integer floor division, hand out the remainder quanta;
2. one settlement row per position (account, contract, profit, share) written as chunked
   events of 10,000 rows (JSON text, SHA-256 chained, inserted into a fresh SQLite file in one
   transaction): the records an auditor needs, per position and per participant, kept;
3. the same rows as one event each, the way the ledger records them.

    python benchmarks/compact_settlement.py --positions 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

CHUNK = 10_000


def market(positions: int, seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    contracts = ["BTCUSDT", "ETHUSDT", "XRPUSDT", "BNBUSDT", "SOLUSDT", "DOGEUSDT"]
    rows = []
    for index in range(positions):
        profit = int(rng.paretovariate(1.3) * 10**9) * (1 if rng.random() < 0.45 else -1)
        rows.append((f"b7-t{index // 2:08d}", contracts[index % 6], profit))
    return rows


def waterfall(rows: list[tuple[str, str, int]], to_share: int) -> list[tuple[str, str, int, int]]:
    ranked = sorted((r for r in rows if r[2] > 0), key=lambda r: (-r[2], r[0], r[1]))
    total = sum(r[2] for r in ranked)
    threshold = total * 9 // 10
    selected, running = [], 0
    for row in ranked:
        selected.append(row)
        running += row[2]
        if running >= threshold and running >= to_share:
            break
    collected = min(to_share, running)
    shares = [(r, collected * r[2] // running, collected * r[2] % running) for r in selected]
    left = collected - sum(s for _, s, _ in shares)
    order = sorted(range(len(shares)), key=lambda i: -shares[i][2])[:left]
    bonus = set(order)
    return [(r[0], r[1], r[2], s + (1 if i in bonus else 0)) for i, (r, s, _) in enumerate(shares)]


def store(directory: Path, events: list[bytes]) -> float:
    path = directory / f"{uuid.uuid4().hex}.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    connection.execute("CREATE TABLE chain (position INTEGER PRIMARY KEY, chain_hash BLOB)")
    started = time.perf_counter()
    previous = bytes(32)
    links, rows = [], []
    for position, state in enumerate(events, start=1):
        previous = hashlib.sha256(previous + state).digest()
        links.append((position, previous))
        rows.append((uuid.uuid4().hex, 1, "domain.cycles:Cycle.Settlement", state))
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
    connection.executemany("INSERT INTO chain VALUES (?, ?)", links)
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    rows = market(arguments.positions, 7)
    figures: dict[str, list[float]] = {"waterfall": [], "chunked": [], "one_per_row": []}
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for _ in range(arguments.repeats):
            started = time.perf_counter()
            shares = waterfall(rows, to_share=10**15)
            figures["waterfall"].append(time.perf_counter() - started)

            started = time.perf_counter()
            share_of = {(a, c): s for a, c, _, s in shares}
            text_rows = [[a, c, str(p), str(share_of.get((a, c), 0))] for a, c, p in rows]
            chunks = [
                json.dumps({"rows": text_rows[i : i + CHUNK]}, separators=(",", ":")).encode()
                for i in range(0, len(text_rows), CHUNK)
            ]
            figures["chunked"].append(time.perf_counter() - started + store(directory, chunks))

            started = time.perf_counter()
            single = [
                json.dumps(
                    {"account": a, "contract": c, "profit": p, "share": s},
                    separators=(",", ":"),
                ).encode()
                for a, c, p, s in text_rows
            ]
            figures["one_per_row"].append(time.perf_counter() - started + store(directory, single))
    medians = {key: round(statistics.median(values), 3) for key, values in figures.items()}
    print(
        json.dumps(
            {
                "positions": arguments.positions,
                "participants": len(shares),
                "waterfall_seconds": medians["waterfall"],
                "chunked_rows_seconds": medians["chunked"],
                "one_event_per_row_seconds": medians["one_per_row"],
                "repeats": arguments.repeats,
            }
        )
    )


if __name__ == "__main__":
    main()

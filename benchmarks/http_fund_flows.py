"""Requests per second and p50/p99 latency of GET /accounts/{id}/fund-flows, for an account
with 100,000 entries, against a real `lossledger serve` on this machine.

    .venv/bin/python benchmarks/http_fund_flows.py --entries 100000 --seconds 20 --clients 4
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from domain.ledger import LossLedger
from infrastructure.entrypoints.http.tokens import create_token
from infrastructure.eventstore.database_url import parse_database
from infrastructure.readmodels.runner import ReadModels

LOSSLEDGER = str(Path(sys.executable).parent / "lossledger")


def build(database_url: str, entries: int) -> str:
    database = parse_database(database_url)
    ledger = LossLedger(env=database.env)
    lines = ['{"type":"open_account","id":"a","account":"busy"}']
    lines += [
        f'{{"type":"deposit","id":"d{n}","account":"busy","amount":"1.{n % 100:02d}"}}'
        for n in range(entries)
    ]
    for start in range(0, len(lines), 5_000):
        ledger.execute_batch(lines[start : start + 5_000])
    models = ReadModels(ledger, database)
    models.catch_up()
    return create_token(models.engine, "trader", "busy")


def load(url: str, token: str, seconds: float, clients: int, deep: bool) -> dict[str, float]:
    latencies: list[float] = []
    cursors: list[str] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as probe:
        cursor = None
        for _ in range(400):  # cursors spread over the history, for the deep pages
            params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
            cursor = probe.get("/accounts/busy/fund-flows", params=params).json()["next_cursor"]
            if cursor is None:
                break
            cursors.append(cursor)
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def client(seed: int) -> None:
        chooser = random.Random(seed)
        own: list[float] = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            while time.perf_counter() < deadline:
                params: dict[str, object] = {"limit": 50}
                if deep and cursors:
                    params["cursor"] = chooser.choice(cursors)
                started = time.perf_counter()
                response = http.get("/accounts/busy/fund-flows", params=params)
                own.append(time.perf_counter() - started)
                assert response.status_code == 200
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--db", default=None, help="default: a fresh SQLite file")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = arguments.db or f"sqlite:///{Path(directory) / 'bench.db'}"
        started = time.perf_counter()
        token = build(url, arguments.entries)
        built = time.perf_counter() - started
        port = 8799
        server = subprocess.Popen([LOSSLEDGER, "serve", "--port", str(port), "--db", url])
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            first = load(base, token, arguments.seconds, arguments.clients, deep=False)
            deep = load(base, token, arguments.seconds, arguments.clients, deep=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        json.dumps(
            {
                "entries": arguments.entries,
                "clients": arguments.clients,
                "seconds_per_run": arguments.seconds,
                "build_seconds": round(built, 1),
                "first_page_limit_50": first,
                "random_deep_page_limit_50": deep,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""The insurance fund is a long-lived aggregate: does it stay fast as its history grows?

Applies N fund top-ups, one command each, in one process, under three settings, and measures
the time of the last 100 commands and of a cold load of the fund from a fresh process view:

- cache + snapshots (the ledger's settings: cache in process, a snapshot every 200 events),
- snapshots only (what a fresh process sees for its first command),
- neither (every command replays the whole history: quadratic).

    .venv/bin/python benchmarks/fund_snapshots.py --events 4000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from domain.core.ids import INSURANCE_FUND_ID
from domain.ledger import LossLedger


class WithoutSnapshots(LossLedger):
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


SETTINGS = {
    "cache + snapshots": (LossLedger, {}),
    "snapshots only": (LossLedger, {"AGGREGATE_CACHE_MAXSIZE": ""}),
    "neither": (WithoutSnapshots, {"AGGREGATE_CACHE_MAXSIZE": ""}),
}


def line(number: int) -> str:
    return json.dumps({"type": "fund_deposit", "id": f"top-up-{number}", "amount": "1"})


def measure(kind: type[LossLedger], extra: dict[str, str], events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(Path(directory) / "fund.db"),
            **extra,
        }
        ledger = kind(env=env)
        last: list[float] = []
        for number in range(events):
            started = time.perf_counter()
            ledger.execute_batch([line(number)])
            if number >= events - 100:
                last.append(time.perf_counter() - started)
        loads = []
        for _ in range(5):
            fresh = kind(env=env)
            started = time.perf_counter()
            fresh.repository.get(INSURANCE_FUND_ID)
            loads.append(time.perf_counter() - started)
    return {
        "last_100_commands_ms_median": round(statistics.median(last) * 1000, 3),
        "cold_load_ms_median": round(statistics.median(loads) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=4000)
    arguments = parser.parse_args()
    rows = {
        name: measure(kind, extra, arguments.events) for name, (kind, extra) in SETTINGS.items()
    }
    print(json.dumps({"fund_events": arguments.events, "settings": rows}, indent=2))


if __name__ == "__main__":
    main()

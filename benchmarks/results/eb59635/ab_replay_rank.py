"""A/B of a replay's ranking input on the 1M book: the profitable candidates from booking rows
(3a873bf) against `profitable_of_book` (working tree), alternated in one process."""

import gc
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, "/work/main")
from decimal import Decimal

from domain.core.book import BOOK_TOPICS, fold
from domain.core.ids import cycle_id
from domain.cycles import Cycle
from domain.handlers.marking import (
    profitable_of_book,
)
from domain.ledger import LossLedger
from infrastructure.eventstore.database_url import parse_database


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


old_social = load("old_socialization", "/tmp/base/domain/core/socialization.py")
src = (
    Path("/tmp/base/domain/handlers/marking.py")
    .read_text()
    .replace("from domain.core.socialization import", "from old_socialization import")
)
old_marking = type(sys)("old_marking")
sys.modules["old_marking"] = old_marking
exec(compile(src, "old_marking", "exec"), old_marking.__dict__)

database = parse_database("sqlite:////tmp/s1m/load.db")
ledger = LossLedger(env={**database.env, "CREATE_TABLE": "n"})
cycle = ledger.unit.find(cycle_id("b7-cycle-1"), Cycle)
policy = ledger.unit.policy(cycle.policy_version)
q = policy.quantum
fund = ledger.unit.existing_insurance_fund()
balance = fund.balance
marks = {
    k: Decimal(v) for k, v in json.loads(Path("/tmp/s1m/settle.jsonl").read_text())["marks"].items()
}
gc.disable()
book = fold({}, cycle.account_keys, cycle.cycle, ledger.store.log_range(1, None, BOOK_TOPICS), q)
print("book", len(book), flush=True)


def old_path():
    rows = old_marking.booking_rows(book, marks, q)
    return old_marking.profitable_in_quanta(rows)


def new_path():
    return profitable_of_book(book, marks, q)


assert old_path() == new_path(), "the same candidates"
print("same candidates", flush=True)
times = {"old": [], "new": []}
for _ in range(5):
    for name, work in (("old", old_path), ("new", new_path)):
        started = time.process_time()
        work()
        times[name].append(time.process_time() - started)
        gc.collect()
print(json.dumps({k: [round(x, 3) for x in v] for k, v in times.items()}))
print(json.dumps({k: round(statistics.median(v), 3) for k, v in times.items()}))

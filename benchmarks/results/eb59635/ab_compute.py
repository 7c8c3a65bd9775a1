"""A/B of a settlement's computation (booking, waterfall, share rows, digest) on the 1M book, old
(3a873bf) against new (working tree), alternated in one process."""

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
from domain.core.settlement_rows import B_ACCOUNT, B_SIZE, size_is_open
from domain.core.socialization import digest, digest_document, share_loss_in_quanta
from domain.cycles import Cycle
from domain.handlers.marking import booking_rows, profitable_in_quanta, share_rows
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
    w = old_social.share_loss_in_quanta(
        cycle.deficit, balance, old_marking.profitable_in_quanta(rows), policy
    )
    shares = old_marking.share_rows(rows, w.participants, q)
    carried = sorted({row[B_ACCOUNT] for row in rows if size_is_open(row[B_SIZE])})
    d = digest(old_social.digest_document("b7-cycle-1", w, q))
    return shares, carried, d


def new_path():
    carried = []
    rows = booking_rows(book, marks, q, carried=carried)
    where = []
    w = share_loss_in_quanta(cycle.deficit, balance, profitable_in_quanta(rows, where), policy)
    shares = share_rows(rows, w, where)
    d = digest(digest_document("b7-cycle-1", w, q))
    return shares, carried, d


a, b = old_path(), new_path()
assert a == b, "the same rows, carried accounts and digest"
print("same results; digest", a[2], flush=True)
times = {"old": [], "new": []}
for _ in range(5):
    for name, work in (("old", old_path), ("new", new_path)):
        started = time.process_time()
        work()
        times[name].append(time.process_time() - started)
        gc.collect()
print(json.dumps({k: [round(x, 3) for x in v] for k, v in times.items()}))
print(json.dumps({k: round(statistics.median(v), 3) for k, v in times.items()}))

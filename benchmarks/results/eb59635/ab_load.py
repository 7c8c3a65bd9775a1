import json
import sys
import time

tree = sys.argv[1]
sys.path.insert(0, tree)
from pathlib import Path  # noqa: E402

from domain.ledger import LossLedger  # noqa: E402 - from the tree named
from infrastructure.apply.runner import apply_file  # noqa: E402
from infrastructure.eventstore.database_url import (  # noqa: E402
    create_store_place,
    parse_database,
)

d = Path("/tmp/wal")
for f in d.glob("ab.db*"):
    f.unlink()
db = parse_database(f"sqlite:///{d / 'ab.db'}")
create_store_place(db)
ledger = LossLedger(env={**db.env, "AGGREGATE_CACHE_MAXSIZE": "200000"})
t = time.perf_counter()
cpu = time.process_time()
r = apply_file(ledger, d / "load.jsonl")
print(
    tree,
    json.dumps(
        {
            "ok": r.ok,
            "wall": round(time.perf_counter() - t, 2),
            "cpu": round(time.process_time() - cpu, 2),
        }
    ),
)
ledger.close()

import sys, time, json
tree = sys.argv[1]
sys.path.insert(0, tree)
from pathlib import Path
from domain.ledger import LossLedger
from infrastructure.apply.runner import apply_file
from infrastructure.eventstore.database_url import create_store_place, parse_database
d = Path("/tmp/wal")
for f in d.glob("ab.db*"): f.unlink()
db = parse_database(f"sqlite:///{d/'ab.db'}")
create_store_place(db)
ledger = LossLedger(env={**db.env, "AGGREGATE_CACHE_MAXSIZE": "200000"})
t = time.perf_counter(); cpu = time.process_time()
r = apply_file(ledger, d / "load.jsonl")
print(tree, json.dumps({"ok": r.ok, "wall": round(time.perf_counter() - t, 2), "cpu": round(time.process_time() - cpu, 2)}))
ledger.close()

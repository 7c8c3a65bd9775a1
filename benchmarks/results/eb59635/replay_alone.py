import resource
import sys
import time

sys.path.insert(0, sys.argv[1])
from domain.ledger import LossLedger
from domain.queries.replay import replay_cycle
from infrastructure.eventstore.database_url import parse_database

database = parse_database("sqlite:////tmp/s1m/run/load.db")
ledger = LossLedger(env={**database.env, "AGGREGATE_CACHE_MAXSIZE": "200000"})
print("start rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
t = time.perf_counter()
c = time.process_time()
r = replay_cycle(ledger, "b7-cycle-1")
print(
    sys.argv[1],
    "replay",
    round(time.perf_counter() - t, 2),
    "cpu",
    round(time.process_time() - c, 2),
    "diffs",
    len(r.differences),
    "peak",
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
)

"""What a batch only read must not change under it: a position opened on a cached view of a cycle
that another writer settled meanwhile conflicts, and applied again it joins the next cycle."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.core.ids import account_id
from domain.ledger import APPLIED
from infrastructure.apply.runner import apply_lines
from tests.support.books import check_books
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import (
    LedgerFactory,
    SpecLedger,
    btc_position,
    command,
    line,
    market,
    stored_events,
)


def cycle_cached_without_alice(open_ledger: LedgerFactory) -> SpecLedger:
    """Another writer opens c1 and alice joins it; then this writer opens bob's position, which
    caches the registry and c1 (alice in it), never alice's account."""
    open_ledger().execute_batch(
        [
            line(d)
            for d in [
                *market(["alice", "bob"], deposit="1000"),
                command("open_cycle", cycle="c1", marks={"BTCUSDT": "100", "ETHUSDT": "10"}),
                btc_position("alice", "long", "1", "10"),
            ]
        ]
    )
    mine = open_ledger()
    mine.execute_batch([line(btc_position("bob", "short", "1", "10"))])
    return mine


SETTLE_C1_OPEN_C2 = [
    line(command("settle_cycle", cycle="c1", marks={"BTCUSDT": "100", "ETHUSDT": "10"})),
    line(command("open_cycle", cycle="c2", marks={"BTCUSDT": "100", "ETHUSDT": "10"})),
]
ETH = command(
    "open_position",
    account="alice",
    contract="ETHUSDT",
    side="short",
    size="1",
    price="10",
    margin="1",
    id="alice-eth",
)


class ReadSetSpec:
    def test_a_save_conflicts_when_the_cycle_it_only_read_was_settled_meanwhile(
        self, open_ledger: LedgerFactory
    ) -> None:
        mine = cycle_cached_without_alice(open_ledger)
        open_ledger().execute_batch(SETTLE_C1_OPEN_C2)  # another writer settles c1, opens c2
        # alice's account is read fresh (settled), c1 from the cache (open, alice in it): her
        # position records nothing on c1, so only the versions the batch read can tell
        assert mine.execute_line(line(ETH)) == APPLIED
        with pytest.raises(RecordConflictError, match="was read at version"):
            mine.flush()
        reader = open_ledger()
        assert not [e for e in stored_events(reader) if getattr(e, "contract", None) == "ETHUSDT"]

    def test_apply_retries_it_on_a_fresh_view_and_the_position_joins_the_open_cycle(
        self, open_ledger: LedgerFactory
    ) -> None:
        mine = cycle_cached_without_alice(open_ledger)
        open_ledger().execute_batch(SETTLE_C1_OPEN_C2)
        result = apply_lines(mine, [line(ETH)])
        assert (result.ok, result.applied, result.conflicts) == (True, 1, 1)
        reader = open_ledger()
        opened = [e for e in stored_events(reader) if type(e).__name__ == "PositionOpened"]
        assert [(e.originator_id, e.contract, e.cycle) for e in opened][-1] == (
            account_id("alice"),
            "ETHUSDT",
            "c2",
        )
        check_books(reader, ["alice", "bob"])


class TestReadSetOnSQLite(ReadSetSpec, OnSQLite):
    pass


class TestReadSetOnPostgreSQL(ReadSetSpec, OnPostgreSQL):
    pass

"""Properties over random markets: conservation, bounds, order independence, replay."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.core.positions import Position, is_liquidatable
from domain.queries.cycle_report import cycle_document
from domain.queries.replay import replay_cycle
from infrastructure.eventstore.database_url import Database
from tests.support.books import check_books
from tests.support.databases import OnPostgreSQL, OnSQLite, database_closers, fresh_database
from tests.support.ledgers import SpecLedger, command, open_test_ledger, run

NAMES = ["A", "B", "C", "D", "E", "F"]
PROFILE = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)

position_strategy = st.tuples(
    st.sampled_from(["long", "short"]),
    st.integers(min_value=1, max_value=20),  # size
    st.sampled_from([2, 5, 10, 20]),  # leverage
)


@st.composite
def markets(draw: Any) -> dict[str, Any]:
    count = draw(st.integers(min_value=2, max_value=6))
    return {
        "names": NAMES[:count],
        # one short at least, so that a crash usually leaves someone with a profit
        "positions": [
            ("short", draw(st.integers(1, 20)), draw(st.sampled_from([2, 5, 10]))),
            *draw(st.lists(position_strategy, min_size=count - 1, max_size=count - 1)),
        ],
        "fund": draw(st.integers(min_value=0, max_value=500)),
        "crash": draw(st.integers(min_value=60, max_value=99)),
        "slippage": draw(st.integers(min_value=0, max_value=15)),
        "settle": draw(st.integers(min_value=40, max_value=110)),
        "fund_mode": draw(st.sampled_from(["share", "first"])),
        "denominator": draw(st.sampled_from(["selected", "all"])),
        "cutoff": draw(st.sampled_from(["0.5", "0.9", "1"])),
    }


def build(market: dict[str, Any], order: list[int] | None = None) -> list[dict[str, Any]]:
    documents = [
        command(
            "set_policy",
            id="policy",
            fund_mode=market["fund_mode"],
            denominator=market["denominator"],
            profit_cutoff=market["cutoff"],
        )
    ]
    for name in market["names"]:
        documents += [
            command("open_account", id=f"open-{name}", account=name),
            command("deposit", id=f"deposit-{name}", account=name, amount="10000"),
        ]
    if market["fund"]:
        documents.append(command("fund_deposit", id="fund", amount=str(market["fund"])))
    documents.append(command("open_cycle", id="open-c1", cycle="c1", marks={"BTCUSDT": "100"}))
    indexes = order if order is not None else list(range(len(market["names"])))
    for index in indexes:
        name = market["names"][index]
        side, size, leverage = market["positions"][index]
        documents.append(
            command(
                "open_position",
                id=f"position-{name}",
                account=name,
                contract="BTCUSDT",
                side=side,
                size=str(size),
                price="100",
                margin=str(size * 100 // leverage),
            )
        )
    crash = Decimal(market["crash"])
    fill = max(Decimal(1), crash - market["slippage"])
    for name, (side, size, leverage) in zip(market["names"], market["positions"], strict=True):
        position = Position(
            side,
            Decimal(size),
            Decimal(100),
            Decimal(100),
            Decimal(size * 100 // leverage),
            Decimal(0),
            False,
        )
        if side == "long" and is_liquidatable(position, crash, Decimal("0.005")):
            documents.append(
                command(
                    "liquidate",
                    id=f"liquidate-{name}",
                    account=name,
                    contract="BTCUSDT",
                    mark=str(crash),
                    fills=[{"price": str(fill), "size": str(size)}],
                )
            )
    documents.append(
        command(
            "settle_cycle", id="settle-c1", cycle="c1", marks={"BTCUSDT": str(market["settle"])}
        )
    )
    return documents


class PropertiesSpec:
    """Properties over random markets, on every backend: each example gets a fresh database."""

    backend: str

    def ledger_on(self, database: Database) -> SpecLedger:
        """A ledger on the example's database, closed with it (no connection outlives it)."""
        ledger = open_test_ledger(database.env)
        database_closers.setdefault(database.url, []).append(ledger.close)
        return ledger

    @PROFILE
    @given(markets())
    def test_the_waterfall_conserves_money_and_bounds_every_share(
        self, market: dict[str, Any]
    ) -> None:
        with fresh_database(self.backend) as database:
            ledger = self.ledger_on(database)
            for document in build(market):
                run(ledger, document)
                check_books(ledger, list(market["names"]))
            result = cycle_document(ledger, "c1")
        deficit, fund, collected, uncovered = (
            Decimal(result[key]) for key in ("deficit", "fund_drawn", "collected", "uncovered")
        )
        event("deficit" if deficit else "no deficit")
        event("participants" if result["participants"] else "no participants")
        assert fund + collected + uncovered == deficit
        for participant in result["participants"]:
            assert 0 <= Decimal(participant["share"]) <= Decimal(participant["profit"])
        assert sum((Decimal(p["share"]) for p in result["participants"]), Decimal(0)) == collected

    @PROFILE
    @given(markets(), st.randoms(use_true_random=False))
    def test_the_result_does_not_depend_on_the_order_positions_were_opened(
        self, market: dict[str, Any], random: Any
    ) -> None:
        order = list(range(len(market["names"])))
        random.shuffle(order)
        digests = []
        for ordering in (None, order):
            with fresh_database(self.backend) as database:
                ledger = self.ledger_on(database)
                run(ledger, *build(market, ordering))
                digests.append(cycle_document(ledger, "c1")["digest"])
        assert digests[0] == digests[1]

    @PROFILE
    @given(markets())
    def test_a_replay_gives_the_recorded_digest(self, market: dict[str, Any]) -> None:
        with fresh_database(self.backend) as database:
            run(self.ledger_on(database), *build(market))
            replay = replay_cycle(self.ledger_on(database), "c1")
            assert replay.differences == []
            assert replay.digest == cycle_document(self.ledger_on(database), "c1")["digest"]


class TestPropertiesOnSQLite(PropertiesSpec, OnSQLite):
    pass


class TestPropertiesOnPostgreSQL(PropertiesSpec, OnPostgreSQL):
    pass

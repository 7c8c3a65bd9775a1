"""The worked examples the specifications share, as command documents or lines."""

from __future__ import annotations

from typing import Any

from tests.support.ledgers import btc_liquidation, btc_position, command, line, market

WINNERS = ["W1", "W2", "W3"]


def three_winners_and_a_crash(
    fund: str = "100", fill_price: str = "80", settle: str = "80", **policy: Any
) -> list[dict[str, Any]]:
    """L goes long 10 @ 100 with margin 100 (bankrupt at 90); three shorts take the other side;
    the mark falls to 90.4, L is liquidated and its takeover fills at `fill_price`."""
    documents = [command("set_policy", **policy)] if policy else []
    for name in ["L", *WINNERS]:
        documents += [
            command("open_account", account=name),
            command("deposit", account=name, amount="1000"),
        ]
    documents += [
        command("fund_deposit", amount=fund),
        command("open_cycle", cycle="c1", marks={"BTCUSDT": "100"}),
        btc_position("L", "long", "10", "100"),
        btc_position("W1", "short", "4", "100"),
        btc_position("W2", "short", "3", "100"),
        btc_position("W3", "short", "3", "100"),
        btc_liquidation("L", "90.4", [{"price": fill_price, "size": "10"}]),
        command("settle_cycle", cycle="c1", marks={"BTCUSDT": settle}),
    ]
    return documents


def one_open_position() -> list[str]:
    """A small store as lines: alice and bob funded, a cycle open, alice long 1 BTCUSDT."""
    return [
        line(document)
        for document in [
            *market(["alice", "bob"], deposit="500"),
            command("open_cycle", cycle="c1", marks={"BTCUSDT": "100"}),
            btc_position("alice", "long", "1", "20"),
        ]
    ]

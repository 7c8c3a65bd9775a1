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


def a_liquidated_trader_reenters(reenter: bool = True) -> list[dict[str, Any]]:
    """L goes long 10 @ 100 (margin 100) and takes 50 of profit closing half at 110; the other
    half (margin 50, bankrupt at 90) is liquidated at 90.4 and filled at 80: deficit 5 x 10 = 50.
    Then, when `reenter`, L goes short 5 @ 90 (margin 50) in the same contract and cycle. Three
    shorts of 4, 3 and 3 @ 100 as in the worked example; a fund of 100; settled at 80."""
    documents = [
        *market(["L", *WINNERS], deposit="1000"),
        command("fund_deposit", amount="100"),
        command("open_cycle", cycle="c1", marks={"BTCUSDT": "100"}),
        btc_position("L", "long", "10", "100"),
        btc_position("W1", "short", "4", "100"),
        btc_position("W2", "short", "3", "100"),
        btc_position("W3", "short", "3", "100"),
        command("close_position", account="L", contract="BTCUSDT", size="5", price="110"),
        btc_liquidation("L", "90.4", [{"price": "80", "size": "5"}]),
    ]
    if reenter:
        documents.append(btc_position("L", "short", "5", "50", price="90"))
    documents.append(command("settle_cycle", cycle="c1", marks={"BTCUSDT": "80"}))
    return documents

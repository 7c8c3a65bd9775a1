"""Read models as pure folds: (view, event) -> (view, rows).

Every function here takes plain values and returns plain values; the runner
(infrastructure/readmodels/runner.py) loads the views it needs, calls these, and writes the
rows with its tracking position in one transaction. An Account event is folded from its state
as stored, each amount decoded where it is read (`number`); the other events as the mapper
decodes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from domain.core.errors import ensure
from domain.core.ids import event_ref
from domain.core.money import ZERO
from domain.core.settlement_rows import (
    B_CONTRACT,
    B_MARGIN_AFTER,
    B_SIZE,
    O_CONTRACT,
    O_MARGIN_AFTER,
    S_CONTRACT,
    S_FROM_MARGIN,
    decode_amount,
)
from projections.rows import AccountView, FlowEntry, number, plain, sortable_time

ACCOUNT_TOPIC = "domain.accounts:Account."
FUND_TOPIC = "domain.insurance_fund:InsuranceFund."
CYCLE_TOPIC = "domain.cycles:Cycle."
# Events no read model reads: they carry no postings and no table holds them (the command log).
UNREAD_TOPICS = ("domain.command_log:CommandRecord.",)
FUND_FLOW_KIND = {"Deposited": "top_up", "SurplusReceived": "surplus", "FundDrawn": "draw"}


def event_name(topic: str) -> str:
    return topic.rsplit(".", 1)[-1]


def fold_account(
    view: AccountView,
    state: Mapping[str, Any],
    notification_id: int,
    reference: str,
    first_entry: int = 0,
) -> tuple[AccountView, list[FlowEntry]]:
    """Apply one Account event, given as its state (`positions` or `position`, `postings`,
    `cash_after`, `cycle`, `contract`, `at`: what it holds of them), or one account's rows of
    a cycle's chunk event (`chunk_accounts`, numbered from `first_entry`); `reference` cites
    the event (or the account's first row). Return the fund-flow entries it makes, in posting
    order, as FLOW_COLUMNS values. The amounts are exact: each figure is the same Decimal,
    digits and exponent, whatever the batch."""
    account, cash_name, margin_name = view.account, view.cash_name, view.margin_name
    at = sortable_time(state.get("at")) or view.at
    if "positions" in state:
        view.set_positions(state["positions"])
    if "position" in state:
        view.set_position(state["contract"], state["position"])
    margin_now = view.margin
    postings = state.get("postings") or ()
    changes = []  # (index, cash change, margin change) of each posting touching the account
    margin_moved = ZERO
    for index, entry in enumerate(postings):
        debit, credit = entry[0], entry[1]
        if debit not in (cash_name, margin_name) and credit not in (cash_name, margin_name):
            continue  # it changes neither: both its changes are a zero of exponent 0
        amount = number(entry[2])
        cash_change = (amount if credit == cash_name else ZERO) - (
            amount if debit == cash_name else ZERO
        )
        margin_change = (amount if credit == margin_name else ZERO) - (
            amount if debit == margin_name else ZERO
        )
        margin_moved += margin_change
        changes.append((index, cash_change, margin_change))
    # the margin before the event: the margin after it less what its postings put in
    margin_total = margin_now - margin_moved
    cash = view.cash
    entries: list[FlowEntry] = []
    if postings:  # what every entry of the event shares, computed once
        withheld = plain(view.withheld)  # the postings move cash and margin, never realized
        cycle = state.get("cycle")
        event_contract = state.get("contract")
    for index, cash_change, margin_change in changes:
        if not cash_change and not margin_change:
            continue
        cash += cash_change
        margin_total += margin_change
        entry = postings[index]
        entries.append(
            (
                notification_id,
                first_entry + index,
                account,
                entry[3],
                "cash" if cash_change else "margin",
                plain(cash_change if cash_change else margin_change),
                plain(cash),
                plain(margin_total),
                withheld,
                plain(cash + margin_total),
                cycle,
                entry[4] if len(entry) > 4 else event_contract,
                at,
                reference,
            )
        )
    if "cash_after" in state and (
        cash != number(state["cash_after"]) or margin_total != margin_now
    ):
        ensure(
            cash == number(state["cash_after"]), f"fund flows of {reference} add up to cash_after"
        )
        ensure(margin_total == margin_now, f"fund flows of {reference} add up to margin")
    view.cash = cash
    view.at = at
    return view, entries


def fund_row(event: Any, notification_id: int) -> dict[str, Any]:
    """One row of the insurance fund's history: surplus in, top-up, or draw."""
    name = event_name(type(event).__qualname__)
    return {
        "notification_id": notification_id,
        "type": FUND_FLOW_KIND[name],
        "amount": plain(event.amount if name != "FundDrawn" else -event.amount),
        "balance_after": plain(event.balance_after),
        "cycle": getattr(event, "cycle", None),
        "account": getattr(event, "account", None),
        "contract": getattr(event, "contract", None),
        "at": sortable_time(event.at),
        "event_id": event_ref(event),
    }


def ledger_changes(event: Any) -> dict[str, Decimal]:
    """What an event's postings change in each ledger account (the trial balance)."""
    changes: dict[str, Decimal] = {}
    add_postings(changes, getattr(event, "postings", []) or [])
    return changes


def add_postings(balances: dict[str, Decimal], postings: Iterable[Sequence[Any]]) -> None:
    """Add what postings change in each ledger account to `balances` (the trial balance): the
    postings of an event, or of its state (`number` reads each amount however it is held)."""
    for entry in postings:
        debit, credit, amount = entry[0], entry[1], number(entry[2])
        balances[debit] = balances.get(debit, ZERO) - amount
        balances[credit] = balances.get(credit, ZERO) + amount


def balances_from_events(events: Iterable[Any]) -> dict[str, Decimal]:
    """Every ledger account's balance after the given events: the trial balance."""
    balances: dict[str, Decimal] = {}
    for event in events:
        for ledger_account, change in ledger_changes(event).items():
            balances[ledger_account] = balances.get(ledger_account, Decimal(0)) + change
    return balances


def chunk_accounts(
    event: Any, cycle: str, view_of: Callable[[str], AccountView]
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Each account of a cycle's chunk event (opening, booking or LossShared rows): its first
    row's index, and its rows as the state of the account event they stand for (for
    `fold_account`): the records they leave (margin and realized, all a balance needs), their
    postings, the cycle and the time. A LossShared row takes the share's margin part out of
    the position's margin as the booking left it. The postings are computed once, here: the
    runner adds the same lists to the trial balance."""
    quantum = event.quantum
    name = event_name(type(event).__qualname__)
    index = 0
    for account, rows, postings in event.postings_by_account():
        if name == "OpeningBooked":
            kept = {row[O_CONTRACT]: row[O_MARGIN_AFTER] for row in rows}
        elif name == "PositionsSettled":
            kept = {
                row[B_CONTRACT]: row[B_MARGIN_AFTER] for row in rows if Decimal(row[B_SIZE]) > 0
            }
        else:
            kept = {}
        positions = {
            contract: {"margin": decode_amount(margin, quantum), "realized": ZERO}
            for contract, margin in kept.items()
        }
        if name == "LossShared":
            view = view_of(account)
            taken = {row[S_CONTRACT]: decode_amount(row[S_FROM_MARGIN], quantum) for row in rows}
            positions = {
                contract: {
                    "margin": margin - taken.get(contract, ZERO),
                    "realized": view.realized.get(contract, ZERO),
                }
                for contract, margin in view.margins.items()
            }
        yield (
            account,
            index,
            {"positions": positions, "postings": postings, "cycle": cycle, "at": event.at},
        )
        index += len(rows)

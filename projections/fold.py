"""Read models as pure folds: (view, event) -> (view, rows).

Every function here takes plain values and returns plain values; the runner
(infrastructure/readmodels/runner.py) loads the views it needs, calls these, and writes the
rows with its tracking position in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.core.errors import ensure
from domain.core.ids import event_ref
from domain.core.money import ZERO
from domain.core.postings import cash_account, margin_account
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
from projections.rows import AccountView, plain, sortable_time

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
    event: Any,
    notification_id: int,
    first_entry: int = 0,
    reference: str | None = None,
) -> tuple[AccountView, list[dict[str, Any]]]:
    """Apply one Account event (or one account's rows of a cycle's chunk event, numbered from
    `first_entry` and cited as `reference`); return the fund-flow entries it makes, in posting
    order."""
    cash_name, margin_name = cash_account(view.account), margin_account(view.account)
    at = sortable_time(getattr(event, "at", None)) or view.at
    if hasattr(event, "positions"):
        view.set_positions(event.positions)
    if hasattr(event, "position"):
        view.set_position(event.contract, event.position)
    postings = getattr(event, "postings", []) or []
    changes = [
        (_change(d, c, a, cash_name), _change(d, c, a, margin_name)) for d, c, a, *_ in postings
    ]
    # the margin before the event: the margin after it less what its postings put in
    margin_total = view.margin - sum((margin_change for _, margin_change in changes), ZERO)
    cash = view.cash
    entries: list[dict[str, Any]] = []
    if changes:  # what every entry of the event shares, computed once
        withheld = plain(view.withheld)  # the postings move cash and margin, never realized
        cycle = getattr(event, "cycle", None)
        event_contract = getattr(event, "contract", None)
        reference = reference or event_ref(event)
    for index, (
        (cash_change, margin_change),
        (_debit, _credit, _amount, kind, *contract),
    ) in enumerate(zip(changes, postings, strict=True)):
        if not cash_change and not margin_change:
            continue
        cash += cash_change
        margin_total += margin_change
        entries.append(
            {
                "notification_id": notification_id,
                "entry": first_entry + index,
                "account": view.account,
                "type": kind,
                "balance": "cash" if cash_change else "margin",
                "amount": plain(cash_change if cash_change else margin_change),
                "cash_after": plain(cash),
                "margin_after": plain(margin_total),
                "withheld_after": withheld,
                "balance_after": plain(cash + margin_total),
                "cycle": cycle,
                "contract": contract[0] if contract else event_contract,
                "at": at,
                "event_id": reference,
            }
        )
    if hasattr(event, "cash_after") and (cash != event.cash_after or margin_total != view.margin):
        ensure(cash == event.cash_after, f"fund flows of {event_ref(event)} add up to cash_after")
        ensure(margin_total == view.margin, f"fund flows of {event_ref(event)} add up to margin")
    view.cash = cash
    view.at = at
    return view, entries


def _change(debit: str, credit: str, amount: Decimal, ledger_account: str) -> Decimal:
    """What one posting adds to one ledger account."""
    return (amount if credit == ledger_account else ZERO) - (
        amount if debit == ledger_account else ZERO
    )


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
    for debit, credit, amount, *_kind_and_contract in getattr(event, "postings", []) or []:
        changes[debit] = changes.get(debit, Decimal(0)) - amount
        changes[credit] = changes.get(credit, Decimal(0)) + amount
    return changes


def balances_from_events(events: Iterable[Any]) -> dict[str, Decimal]:
    """Every ledger account's balance after the given events: the trial balance."""
    balances: dict[str, Decimal] = {}
    for event in events:
        for ledger_account, change in ledger_changes(event).items():
            balances[ledger_account] = balances.get(ledger_account, Decimal(0)) + change
    return balances


@dataclass(frozen=True)
class AccountRows:
    """One account's rows of a cycle's chunk event, read as the account event they stand for:
    the records they leave (margin and realized, all a balance needs) and their postings."""

    positions: dict[str, dict[str, Any]]
    postings: list[Any]
    cycle: str
    at: str


def chunk_accounts(
    event: Any, cycle: str, view_of: Callable[[str], AccountView]
) -> Iterator[tuple[str, int, AccountRows]]:
    """Each account of a cycle's chunk event (opening, booking or LossShared rows): its first
    row's index, and its rows as the account event they stand for. A LossShared row takes
    the share's margin part out of the position's margin as the booking left it."""
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
        yield account, index, AccountRows(positions, postings, cycle, event.at)
        index += len(rows)

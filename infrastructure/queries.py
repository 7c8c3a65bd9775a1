"""Reading the read models: an account's history and balance, as of a business time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from domain.commands import normalize_time
from domain.errors import InvalidCommandError, UnknownAccountError
from infrastructure.tables import balances, fund_flows
from projections.rows import plain, sortable_time

FLOW_FIELDS = (
    "type",
    "balance",
    "amount",
    "cash_after",
    "margin_after",
    "withheld_after",
    "balance_after",
    "cycle",
    "contract",
    "at",
    "event_id",
)


def parse_as_of(text: str | None) -> str | None:
    """`--as-of` in RFC 3339 UTC, in the read models' sortable form."""
    if text is None:
        return None
    try:
        return sortable_time(normalize_time(text))
    except ValueError as error:
        raise InvalidCommandError(f"--as-of: {error}") from None


def account_history(engine: Engine, account: str, as_of: str | None = None) -> dict[str, Any]:
    """The account's fund-flow entries (oldest first) and its balance, as of a business time."""
    with engine.connect() as connection:
        current = (
            connection.execute(select(balances).where(balances.c.account == account))
            .mappings()
            .first()
        )
        if current is None:
            raise UnknownAccountError(f"account {account} was never opened")
        query = select(fund_flows).where(fund_flows.c.account == account)
        if as_of is not None:
            query = query.where(fund_flows.c.at <= as_of)
        rows = (
            connection.execute(query.order_by(fund_flows.c.notification_id, fund_flows.c.entry))
            .mappings()
            .all()
        )
    entries = [{field: row[field] for field in FLOW_FIELDS} for row in rows]
    if as_of is None:
        balance = {k: current[k] for k in ("cash", "margin", "withheld", "available")}
    elif entries:
        last = entries[-1]
        withheld = last["withheld_after"]
        balance = {
            "cash": last["cash_after"],
            "margin": last["margin_after"],
            "withheld": withheld,
            "available": _subtract(last["cash_after"], withheld),
        }
    else:
        balance = {"cash": "0", "margin": "0", "withheld": "0", "available": "0"}
    return {"account": account, "as_of": as_of, "balance": balance, "entries": entries}


def _subtract(left: str, right: str) -> str:
    return plain(Decimal(left) - Decimal(right))

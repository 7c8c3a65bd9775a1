"""Reading the read models: an account's history and balance, as of a business time."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, tuple_

from domain.commands.models import normalize_time
from domain.core.errors import InvalidCommandError, UnknownAccountError
from infrastructure.readmodels.tables import balances, fund_flows
from projections.rows import FLOW_COLUMNS, plain, sortable_time

# A fund-flow entry as served: its columns from its type on (the table's own keys left out)
FLOW_FIELDS = FLOW_COLUMNS[FLOW_COLUMNS.index("type") :]


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
    else:
        balance = balance_as_of(entries)
    return {"account": account, "as_of": as_of, "balance": balance, "entries": entries}


CASH_TO_MARGIN = ("margin_posted", "margin_released")  # moves shown once, on the cash side


def balance_as_of(entries: list[dict[str, Any]]) -> dict[str, str]:
    """The balance from the entries dated at or before T: their amounts summed, so that
    commands whose business times arrived out of order still give the right figure. Withheld
    profit is that of the latest of them in business time."""
    cash = margin = Decimal(0)
    for entry in entries:
        amount = Decimal(entry["amount"])
        if entry["balance"] == "margin":
            margin += amount
        else:
            cash += amount
            if entry["type"] in CASH_TO_MARGIN:
                margin -= amount
    latest = max(entries, key=lambda e: e["at"], default=None)
    withheld = Decimal(latest["withheld_after"]) if latest else Decimal(0)
    return {
        "cash": plain(cash),
        "margin": plain(margin),
        "withheld": plain(withheld),
        "available": plain(cash - withheld),
    }


def encode_cursor(notification_id: int, entry: int) -> str:
    return base64.urlsafe_b64encode(f"{notification_id}.{entry}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        notification_id, entry = base64.urlsafe_b64decode(padded).decode().split(".")
        return int(notification_id), int(entry)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCommandError(f"cursor {cursor!r} is not a cursor this API gave") from None


def fund_flow_page(
    engine: Engine,
    account: str,
    *,
    cursor: str | None,
    limit: int,
    flow_type: str | None = None,
    cycle: str | None = None,
) -> dict[str, Any]:
    """Entries newest first; the cursor is the position of the last entry returned, so a page
    never skips nor repeats an entry while new ones are appended (they come before it)."""
    query = select(fund_flows).where(fund_flows.c.account == account)
    if flow_type is not None:
        query = query.where(fund_flows.c.type == flow_type)
    if cycle is not None:
        query = query.where(fund_flows.c.cycle == cycle)
    if cursor is not None:
        notification_id, entry = decode_cursor(cursor)
        query = query.where(
            tuple_(fund_flows.c.notification_id, fund_flows.c.entry) < (notification_id, entry)
        )
    query = query.order_by(fund_flows.c.notification_id.desc(), fund_flows.c.entry.desc())
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit + 1)).mappings().all()
    items = [
        {
            "id": encode_cursor(row["notification_id"], row["entry"]),
            **{field: row[field] for field in FLOW_FIELDS},
        }
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return {"items": items, "next_cursor": items[-1]["id"] if more and items else None}

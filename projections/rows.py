"""The rows the read models hold, as plain values: what a fold emits and the runner writes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.core.money import ZERO

# How the ledger writes a business time (domain.commands.models.format_time): UTC, "Z", and
# microseconds only when there are any.
UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{6})?Z", re.ASCII)


def sortable_time(at: str | None) -> str:
    """Business time in one fixed width (microseconds always shown), so text order is time order."""
    if not at:
        return ""
    if UTC_TIME.fullmatch(at):  # already UTC: its own digits once it is known to be a time
        datetime.fromisoformat(at)  # a ValueError for "2026-13-01T00:00:00Z", as below
        return at if len(at) == len("2026-11-21T08:00:00.000000Z") else f"{at[:19]}.000000Z"
    moment = datetime.fromisoformat(at).astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def plain(amount: Decimal) -> str:
    """An amount as stored in a read model: a plain decimal string, never an exponent."""
    return format(amount.copy_abs() if amount.is_zero() else amount, "f")


@dataclass
class AccountView:
    """A trader's balance as the read model sees it, with what it needs to compute withheld."""

    account: str
    cash: Decimal = ZERO
    margins: dict[str, Decimal] = field(default_factory=dict)
    realized: dict[str, Decimal] = field(default_factory=dict)
    at: str = ""

    @property
    def margin(self) -> Decimal:
        return sum(self.margins.values(), ZERO)

    @property
    def withheld(self) -> Decimal:
        return sum((max(ZERO, value) for value in self.realized.values()), ZERO)

    @property
    def available(self) -> Decimal:
        return self.cash - self.withheld

    def set_positions(self, positions: dict[str, dict[str, Any]]) -> None:
        self.margins = {c: Decimal(r["margin"]) for c, r in positions.items()}
        self.realized = {c: Decimal(r["realized"]) for c, r in positions.items()}

    def set_position(self, contract: str, record: dict[str, Any]) -> None:
        self.margins[contract] = Decimal(record["margin"])
        self.realized[contract] = Decimal(record["realized"])

    def row(self, notification_id: int) -> dict[str, Any]:
        return {
            "account": self.account,
            "cash": plain(self.cash),
            "margin": plain(self.margin),
            "withheld": plain(self.withheld),
            "available": plain(self.available),
            "positions": {
                c: {"margin": plain(self.margins[c]), "realized": plain(self.realized[c])}
                for c in sorted(self.margins)
            },
            "at": self.at,
            "notification_id": notification_id,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AccountView:
        view = cls(row["account"], Decimal(row["cash"]), at=row["at"])
        view.set_positions(row["positions"])
        return view

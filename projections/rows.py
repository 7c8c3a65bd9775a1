"""The rows the read models hold, as plain values: what a fold emits and the runner writes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import DecimalAsStr

from domain.core.money import ZERO
from domain.core.postings import cash_account, margin_account

# How the ledger writes a business time (domain.commands.models.format_time): UTC, "Z", and
# microseconds only when there are any.
UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{6})?Z", re.ASCII)
# How the event store writes a Decimal inside a stored state: {"_type_": DECIMAL_TAG, "_data_":
# its text}; the transcoding decodes it as Decimal(text) (eventsourcing's DecimalAsStr).
DECIMAL_TAG = DecimalAsStr.name
# The columns of a fund-flow entry and of a balance row, in the order a fold gives their values
# (the runner checks them against the tables' columns).
FLOW_COLUMNS = (
    "notification_id",
    "entry",
    "account",
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
BALANCE_COLUMNS = (
    "account",
    "account_id",
    "cash",
    "margin",
    "withheld",
    "available",
    "positions",
    "at",
    "notification_id",
)
FlowEntry = tuple[Any, ...]  # the values of FLOW_COLUMNS
BalanceRow = tuple[Any, ...]  # the values of BALANCE_COLUMNS


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
    """An amount as stored in a read model: a plain decimal string, never an exponent, and a
    zero without its sign. `str` gives it, twice as fast as `format`, unless it shows an
    exponent (below a millionth, or an exponent above zero) or a negative zero."""
    text = str(amount)
    if "E" in text or (text[0] == "-" and not amount):
        return format(amount.copy_abs() if amount.is_zero() else amount, "f")
    return text


def number(value: Any) -> Decimal:
    """An amount of an event's state, however the state was read: a Decimal (decoded by the
    ledger's mapper), the transcoder's {"_type_": "decimal_str", "_data_": text} (the state as
    stored: decoded here as the transcoding decodes it), or a plain decimal string or an int (a
    position record of an older store). A float or any other tag is refused: no amount is one."""
    kind = type(value)
    if kind is dict:
        if len(value) != 2 or value.get("_type_") != DECIMAL_TAG or "_data_" not in value:
            raise TypeError(f"an amount is a decimal, not {value!r}")
        return Decimal(value["_data_"])
    if kind is Decimal:
        return value  # type: ignore[no-any-return]
    if kind is str or kind is int:
        return Decimal(value)
    raise TypeError(f"an amount is a decimal, not {value!r}")


class AccountView:
    """A trader's balance as the read model sees it, with what it needs to compute withheld.

    Its margin and withheld are summed once a change of its position records, not at every
    read: a fold reads them at every event, the balance row again. A view loaded from its
    balance row decodes the row's positions when first read: a settlement's booking chunk
    replaces every record of its accounts without reading one."""

    __slots__ = (
        "_margin",
        "_margins",
        "_realized",
        "_stored",
        "_withheld",
        "account",
        "at",
        "cash",
        "cash_name",
        "margin_name",
    )

    def __init__(self, account: str, cash: Decimal = ZERO, at: str = "") -> None:
        self.account, self.cash, self.at = account, cash, at
        self.cash_name, self.margin_name = cash_account(account), margin_account(account)
        self._margins: dict[str, Decimal] = {}
        self._realized: dict[str, Decimal] = {}
        self._margin = ZERO  # sum(margins), as summed from ZERO
        self._withheld = ZERO  # the realized profit not yet settled: its positive part
        self._stored: dict[str, dict[str, Any]] | None = None  # positions not yet decoded

    @property
    def margins(self) -> dict[str, Decimal]:
        if self._stored is not None:
            self._decode()
        return self._margins

    @property
    def realized(self) -> dict[str, Decimal]:
        if self._stored is not None:
            self._decode()
        return self._realized

    @property
    def margin(self) -> Decimal:
        if self._stored is not None:
            self._decode()
        return self._margin

    @property
    def withheld(self) -> Decimal:
        if self._stored is not None:
            self._decode()
        return self._withheld

    @property
    def available(self) -> Decimal:
        return self.cash - self.withheld

    def set_positions(self, positions: dict[str, dict[str, Any]]) -> None:
        self._stored = None
        self._margins = {c: number(r["margin"]) for c, r in positions.items()}
        self._realized = {c: number(r["realized"]) for c, r in positions.items()}
        self._sum()

    def set_position(self, contract: str, record: dict[str, Any]) -> None:
        if self._stored is not None:
            self._decode()
        self._margins[contract] = number(record["margin"])
        self._realized[contract] = number(record["realized"])
        self._sum()

    def _decode(self) -> None:
        if self._stored is not None:
            self.set_positions(self._stored)

    def _sum(self) -> None:
        self._margin = sum(self._margins.values(), ZERO)
        # max(ZERO, value) of the plain sum: a value at or below zero adds a zero of exponent 0
        self._withheld = sum([value for value in self._realized.values() if value > ZERO], ZERO)

    def row(self, account_id: str, notification_id: int) -> BalanceRow:
        """The balance row of the view (BALANCE_COLUMNS), its positions in contract order."""
        margins, realized, withheld = self.margins, self.realized, self.withheld
        return (
            self.account,
            account_id,
            plain(self.cash),
            plain(self._margin),
            plain(withheld),
            plain(self.cash - withheld),
            {
                c: {"margin": plain(margins[c]), "realized": plain(realized[c])}
                for c in sorted(margins)
            },
            self.at,
            notification_id,
        )

    @classmethod
    def from_row(cls, account: str, cash: str, positions: dict[str, Any], at: str) -> AccountView:
        """The view of a stored balance row (its account, cash, positions and time)."""
        view = cls(account, Decimal(cash), at=at)
        view._stored = positions
        return view

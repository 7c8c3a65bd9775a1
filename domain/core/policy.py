"""The loss policy (SPEC 6): a frozen value, versioned by the ledger's PolicySet events."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from domain.core.errors import PolicyError
from domain.core.money import DEFAULT_ASSET, DEFAULT_QUANTUM, fmt, fmt_plain

FundMode = Literal["share", "first"]
Denominator = Literal["selected", "all"]

DEFAULT_MAINTENANCE_MARGIN_RATE = Decimal("0.005")
DEFAULT_INITIAL_MARGIN_RATE = Decimal("0.01")


@dataclass(frozen=True)
class Policy:
    """How a cycle's deficit is shared, and the margin rates of liquidation and takeover."""

    version: int = 0
    asset: str = DEFAULT_ASSET
    quantum: Decimal = DEFAULT_QUANTUM
    fund_mode: FundMode = "share"
    fund_share: Decimal = Decimal("0.2")
    fund_floor: Decimal = Decimal(0)
    profit_cutoff: Decimal = Decimal("0.9")
    denominator: Denominator = "selected"
    maintenance_margin_rate_default: Decimal = DEFAULT_MAINTENANCE_MARGIN_RATE
    initial_margin_rate_default: Decimal = DEFAULT_INITIAL_MARGIN_RATE
    maintenance_margin_rates: tuple[tuple[str, Decimal], ...] = field(default=())
    initial_margin_rates: tuple[tuple[str, Decimal], ...] = field(default=())

    def maintenance_margin_rate(self, contract: str) -> Decimal:
        return dict(self.maintenance_margin_rates).get(
            contract, self.maintenance_margin_rate_default
        )

    def initial_margin_rate(self, contract: str) -> Decimal:
        return dict(self.initial_margin_rates).get(contract, self.initial_margin_rate_default)

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON with every number a string, as `cycle show` prints it."""
        return {
            "version": self.version,
            "asset": self.asset,
            "quantum": fmt_plain(self.quantum),
            "fund_mode": self.fund_mode,
            "fund_share": fmt_plain(self.fund_share),
            "fund_floor": fmt(self.fund_floor, self.quantum),
            "profit_cutoff": fmt_plain(self.profit_cutoff),
            "denominator": self.denominator,
            "maintenance_margin_rate": _rates_json(
                self.maintenance_margin_rate_default, self.maintenance_margin_rates
            ),
            "initial_margin_rate": _rates_json(
                self.initial_margin_rate_default, self.initial_margin_rates
            ),
        }


def _rates_json(default: Decimal, rates: tuple[tuple[str, Decimal], ...]) -> dict[str, str]:
    document = {"default": fmt_plain(default)}
    document.update({contract: fmt_plain(rate) for contract, rate in sorted(rates)})
    return document


def _rate_in(value: Decimal, low: Decimal, high: Decimal, name: str) -> Decimal:
    if not low <= value <= high:
        raise PolicyError(f"{name} must be between {low} and {high}, got {fmt_plain(value)}")
    return value


def _merge_rates(
    default: Decimal,
    rates: tuple[tuple[str, Decimal], ...],
    change: Decimal | dict[str, Decimal] | None,
    name: str,
) -> tuple[Decimal, tuple[tuple[str, Decimal], ...]]:
    if change is None:
        return default, rates
    if isinstance(change, Decimal):
        return _rate_in(change, Decimal(0), Decimal(1), name), rates
    merged = dict(rates)
    for contract, rate in change.items():
        checked = _rate_in(rate, Decimal(0), Decimal(1), f"{name} of {contract}")
        if contract == "default":
            default = checked
        else:
            merged[contract] = checked
    return default, tuple(sorted(merged.items()))


CHOICES = {"fund_mode": ("share", "first"), "denominator": ("selected", "all")}


def apply_policy_change(current: Policy, change: dict[str, Any], *, money_booked: bool) -> Policy:
    """The next policy version: `current` with the fields of `change`, each checked.

    `change` holds parsed values (Decimals, strings, or {contract: Decimal} for the rates).
    Asset and quantum may change only while no money has been booked. The fields are checked
    in a fixed order (money, choices, rates, floor, margin rates): one input, one error.
    """
    updates = _money_fields(current, change, money_booked)
    for name, allowed in CHOICES.items():
        if name in change:
            if change[name] not in allowed:
                expected = " or ".join(repr(value) for value in allowed)
                raise PolicyError(f"{name} must be {expected}, got {change[name]!r}")
            updates[name] = change[name]
    for name in ("fund_share", "profit_cutoff"):
        if name in change:
            updates[name] = _rate_in(change[name], Decimal(0), Decimal(1), name)
    if "fund_floor" in change:
        updates["fund_floor"] = _fund_floor(
            change["fund_floor"], updates.get("quantum", current.quantum)
        )
    for name in ("maintenance_margin_rate", "initial_margin_rate"):
        default, rates = _merge_rates(
            getattr(current, f"{name}_default"),
            getattr(current, f"{name}s"),
            change.get(name),
            name,
        )
        updates.update({f"{name}_default": default, f"{name}s": rates})
    return replace(current, version=current.version + 1, **updates)


def _money_fields(current: Policy, change: dict[str, Any], money_booked: bool) -> dict[str, Any]:
    """Asset and quantum, which only a ledger that has booked no money may change."""
    updates: dict[str, Any] = {}
    for name in ("asset", "quantum"):
        if name in change and change[name] != getattr(current, name):
            if money_booked:
                raise PolicyError(
                    f"{name} cannot change once money has been booked or a cycle opened"
                )
            updates[name] = change[name]
    if "quantum" in updates:
        quantum: Decimal = updates["quantum"]
        if quantum <= 0 or quantum.normalize().as_tuple().digits != (1,):
            raise PolicyError(f"quantum must be a power of ten such as 0.01, got {quantum}")
    return updates


def _fund_floor(floor: Decimal, quantum: Decimal) -> Decimal:
    if floor < 0 or floor % quantum != 0:
        raise PolicyError(
            f"fund_floor must be a non-negative whole number of quanta: {fmt_plain(floor)}"
        )
    return floor


def policy_to_record(policy: Policy) -> dict[str, Any]:
    """The policy as stored in a PolicySet event (plain values; Decimals transcode as strings)."""
    return {
        "version": policy.version,
        "asset": policy.asset,
        "quantum": policy.quantum,
        "fund_mode": policy.fund_mode,
        "fund_share": policy.fund_share,
        "fund_floor": policy.fund_floor,
        "profit_cutoff": policy.profit_cutoff,
        "denominator": policy.denominator,
        "maintenance_margin_rate_default": policy.maintenance_margin_rate_default,
        "initial_margin_rate_default": policy.initial_margin_rate_default,
        "maintenance_margin_rates": [list(pair) for pair in policy.maintenance_margin_rates],
        "initial_margin_rates": [list(pair) for pair in policy.initial_margin_rates],
    }


def policy_from_record(record: dict[str, Any]) -> Policy:
    return Policy(
        version=int(record["version"]),
        asset=str(record["asset"]),
        quantum=Decimal(record["quantum"]),
        fund_mode=record["fund_mode"],
        fund_share=Decimal(record["fund_share"]),
        fund_floor=Decimal(record["fund_floor"]),
        profit_cutoff=Decimal(record["profit_cutoff"]),
        denominator=record["denominator"],
        maintenance_margin_rate_default=Decimal(record["maintenance_margin_rate_default"]),
        initial_margin_rate_default=Decimal(record["initial_margin_rate_default"]),
        maintenance_margin_rates=tuple(
            (str(c), Decimal(r)) for c, r in record["maintenance_margin_rates"]
        ),
        initial_margin_rates=tuple((str(c), Decimal(r)) for c, r in record["initial_margin_rates"]),
    )

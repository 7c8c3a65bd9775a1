"""Replaying a cycle: its settlement recomputed from the recorded events alone, beside the record.

The inputs are rebuilt from the events (the accounts as they stood before the settlement,
the takeovers, the fund before the draw) and the waterfall recomputed with the same pure
function the settlement called (domain/core/socialization.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from domain.accounts import Account
from domain.core.errors import present
from domain.core.ids import INSURANCE_FUND_ID, account_id, cycle_id
from domain.core.money import ZERO, book_exact, fmt_plain
from domain.core.policy import Policy
from domain.core.positions import takeover_result
from domain.core.socialization import Waterfall, share_loss
from domain.cycles import Cycle
from domain.handlers.settlement import cycle_profits, settlement_summary
from domain.insurance_fund import InsuranceFund
from domain.ledger import LossLedger
from domain.queries.cycle_report import (
    CycleNotSettledError,
    UnknownCycleError,
)


@dataclass(frozen=True)
class Replay:
    cycle: str
    recorded: dict[str, Any]
    recomputed: dict[str, Any]

    @property
    def differences(self) -> list[str]:
        return list(_differences(self.recorded, self.recomputed, ""))

    @property
    def digest(self) -> str:
        return str(self.recomputed["digest"])


def _differences(recorded: Any, recomputed: Any, path: str) -> Iterable[str]:
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        for key in sorted(set(recorded) | set(recomputed)):
            yield from _differences(recorded.get(key), recomputed.get(key), f"{path}.{key}")
    elif isinstance(recorded, list) and isinstance(recomputed, list):
        if len(recorded) != len(recomputed):
            yield f"{path}: {len(recorded)} recorded, {len(recomputed)} recomputed"
        for index, (left, right) in enumerate(zip(recorded, recomputed, strict=False)):
            yield from _differences(left, right, f"{path}[{index}]")
    elif recorded != recomputed:
        yield f"{path.lstrip('.')}: recorded {recorded!r}, recomputed {recomputed!r}"


def _before(events: Iterable[Any], stop: Any) -> Any:
    """Fold an aggregate's events until the first one for which `stop(event)` is true."""
    aggregate = None
    for event in events:
        if stop(event):
            return aggregate
        aggregate = event.mutate(aggregate)
    return aggregate


@dataclass(frozen=True)
class SettlementInputs:
    """What a settlement was computed from, rebuilt from the recorded events alone."""

    cycle: Cycle
    policy: Policy
    deficit: Decimal
    takeovers: list[Any]
    fund_balance: Decimal
    fund_drawn: Any
    settled: Any
    accounts: dict[str, Account]
    loss_shared: dict[tuple[str, str], Any]

    def recompute(self) -> Waterfall:
        candidates, _ = cycle_profits(
            list(self.accounts.values()), dict(self.settled.marks), self.policy.quantum
        )
        return share_loss(self.deficit, self.fund_balance, candidates, self.policy)


def settlement_inputs(ledger: LossLedger, name: str) -> SettlementInputs:
    store = ledger.repository.event_store
    cycle_events = list(store.get(cycle_id(name)))
    if not cycle_events:
        raise UnknownCycleError(f"cycle {name} was never opened")
    cycle = _before(iter(cycle_events), lambda _: False)  # the events are decoded once
    if cycle.settlement is None:
        raise CycleNotSettledError(f"cycle {name} is not settled yet")
    policy = ledger.unit.policy(cycle.policy_version)
    takeovers = [e for e in cycle_events if isinstance(e, Cycle.TakeoverExecuted)]  # type: ignore[attr-defined]
    deficit = ZERO
    for event in takeovers:
        loss, _ = takeover_result(
            event.side,
            event.reference,
            event.position_margin,
            event.position_size,
            event.price,
            event.size,
        )
        deficit += book_exact(loss, policy.quantum)
    settled = next(e for e in cycle_events if isinstance(e, Cycle.Settled))  # type: ignore[attr-defined]
    accounts = _accounts_before_settling(ledger, name, sorted(cycle.accounts))
    fund_events = list(store.get(INSURANCE_FUND_ID))
    drawn = next(
        e
        for e in fund_events
        if isinstance(e, InsuranceFund.FundDrawn) and e.cycle == name  # type: ignore[attr-defined]
    )
    fund = _before(iter(fund_events), lambda e: e is drawn)
    loss_shared = {
        (e.account, e.contract): e
        for e in cycle_events
        if isinstance(e, Cycle.LossShared)  # type: ignore[attr-defined]
    }
    fund_balance = fund.balance if fund else ZERO
    return SettlementInputs(
        cycle, policy, deficit, takeovers, fund_balance, drawn, settled, accounts, loss_shared
    )


ACCOUNTS_PER_QUERY = 500


def _accounts_before_settling(
    ledger: LossLedger, cycle: str, names: list[str]
) -> dict[str, Account]:
    """Each account as it stood when the cycle settled: its events folded up to (not
    including) its `CycleSettled` for the cycle. Read a few hundred accounts per query
    where the event store can (docs/performance.md), else one query per account."""

    def settled_here(event: Any) -> bool:
        return isinstance(event, Account.CycleSettled) and event.cycle == cycle  # type: ignore[attr-defined]

    accounts: dict[str, Account] = {}
    for start in range(0, len(names), ACCOUNTS_PER_QUERY):
        chunk = names[start : start + ACCOUNTS_PER_QUERY]
        histories: dict[UUID, list[Any]] = {account_id(n): [] for n in chunk}
        in_bulk = ledger.store.events_of(list(histories))
        if in_bulk is None:
            for key in histories:
                histories[key] = list(ledger.recorder.select_events(key))
        else:
            for stored in in_bulk:
                histories[cast(UUID, stored.originator_id)].append(
                    stored
                )  # the ledger keys by UUID
        for account in chunk:
            events = map(ledger.mapper.to_domain_event, histories[account_id(account)])
            before = _before(events, settled_here)
            accounts[account] = present(
                before, f"account {account} existed before settling {cycle}"
            )
    return accounts


def replay_cycle(ledger: LossLedger, name: str) -> Replay:
    """Recompute a settled cycle from its recorded events alone and pair it with the record."""
    try:
        inputs = settlement_inputs(ledger, name)
    except CycleNotSettledError:
        raise CycleNotSettledError(f"cycle {name} is not settled yet: nothing to replay") from None
    cycle, policy = inputs.cycle, inputs.policy
    waterfall = inputs.recompute()
    recomputed = settlement_summary(name, waterfall, policy)
    recomputed["participants"] = [
        [p.rank, p.account, p.contract, p.profit, p.share] for p in waterfall.participants
    ]
    settlement = present(cycle.settlement, "a settled cycle has its settlement")
    recorded = {
        **{key: value for key, value in settlement.items() if key != "chain_anchor"},
        "participants": [
            [p["rank"], p["account"], p["contract"], p["profit"], p["share"]]
            for p in cycle.participants
        ],
    }
    return Replay(name, _as_text(recorded), _as_text(recomputed))


def _as_text(document: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> Any:
        if isinstance(value, Decimal):
            return fmt_plain(value)
        if isinstance(value, list):
            return [text(item) for item in value]
        return value

    return {key: text(value) for key, value in document.items()}

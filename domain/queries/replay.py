"""Replaying a cycle: its settlement recomputed from the recorded events alone, beside the record.

The inputs are rebuilt from the events (the accounts as they stood before the settlement,
the takeovers, the fund before the draw) and the waterfall recomputed with the same pure
function the settlement called (domain/core/socialization.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventsourcing.utils import get_topic

from domain.core.book import Book
from domain.core.errors import present
from domain.core.ids import INSURANCE_FUND_ID, cycle_id
from domain.core.memory import collector_paused
from domain.core.money import ZERO, book_exact, fmt_plain
from domain.core.policy import Policy
from domain.core.positions import takeover_result
from domain.core.socialization import Waterfall, share_loss_in_quanta
from domain.cycles import Cycle, reconstruct
from domain.handlers.marking import profitable_of_book
from domain.handlers.settlement import cycle_book, settlement_summary
from domain.insurance_fund import InsuranceFund
from domain.ledger import LossLedger
from domain.queries.account_rows import account_settlement
from domain.queries.cycle_report import (
    CycleNotSettledError,
    UnknownCycleError,
)

# The cycle's events a replay does not keep once applied: the settlement's own rows, a row per
# position and per participant (the participants are read from the cycle they leave).
UNKEPT_TOPICS = frozenset(get_topic(kind) for kind in (Cycle.PositionsSettled, Cycle.LossShared))


@dataclass(frozen=True)
class Replay:
    """A settled cycle's record beside its recomputation, and where they differ (computed
    with the replay: comparing is part of replaying)."""

    cycle: str
    recorded: dict[str, Any]
    recomputed: dict[str, Any]
    differences: list[str]

    @property
    def digest(self) -> str:
        return str(self.recomputed["digest"])


def compared(cycle: str, recorded: dict[str, Any], recomputed: dict[str, Any]) -> Replay:
    """The replay of a cycle. Amounts compare as their plain text (`fmt_plain`: "1.50" and
    "1.5" are the same amount), which equal decimals always have: so when the two documents
    are equal as they are (one comparison in C over a million participants' values), they
    have no difference, and only documents that differ are written out as text to say where."""
    if recorded == recomputed:
        return Replay(cycle, recorded, recomputed, [])
    recorded, recomputed = _as_text(recorded), _as_text(recomputed)
    return Replay(cycle, recorded, recomputed, list(_differences(recorded, recomputed, "")))


def _differences(recorded: Any, recomputed: Any, path: str) -> Iterable[str]:
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        for key in sorted(set(recorded) | set(recomputed)):
            yield from _differences(recorded.get(key), recomputed.get(key), f"{path}.{key}")
    elif isinstance(recorded, list) and isinstance(recomputed, list):
        if len(recorded) != len(recomputed):
            yield f"{path.lstrip('.')}: {len(recorded)} recorded, {len(recomputed)} recomputed"
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
    book: Book
    # how the record cites each participant's share and each account's settlement
    loss_shared: dict[tuple[str, str], str]
    settled_refs: dict[str, list[str]]

    def recompute(self) -> Waterfall:
        quantum = self.policy.quantum
        profitable = profitable_of_book(self.book, dict(self.settled.marks), quantum)
        return share_loss_in_quanta(self.deficit, self.fund_balance, profitable, self.policy)


def settlement_inputs(
    ledger: LossLedger, name: str, account: str | None = None
) -> SettlementInputs:
    """The settlement's inputs: the cycle's opening book and the position events of its range
    of the log (domain/core/book.py), its takeovers, and the fund before the draw. With an
    account, the references to that account's rows of the settlement."""
    store = ledger.repository.event_store
    cycle_events: list[Any] = []
    stored = ledger.store.raw_events(cycle_id(name))
    if stored is None:
        cycle_events = list(store.get(cycle_id(name)))
        cycle = _before(iter(cycle_events), lambda _: False)  # the events are decoded once
    else:
        cycle = reconstruct(
            cycle_id(name), stored, ledger.mapper.to_domain_event, cycle_events, UNKEPT_TOPICS
        )
    if cycle is None:
        raise UnknownCycleError(f"cycle {name} was never opened")
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
    opening = [e.rows for e in cycle_events if isinstance(e, Cycle.OpeningBooked)]
    book = cycle_book(ledger.unit, cycle, opening, settled.originator_version)
    fund_events = list(store.get(INSURANCE_FUND_ID))
    drawn = next(
        e
        for e in fund_events
        if isinstance(e, InsuranceFund.FundDrawn) and e.cycle == name  # type: ignore[attr-defined]
    )
    fund = _before(iter(fund_events), lambda e: e is drawn)
    loss_shared, settled_refs = _references(ledger, cycle, account)
    fund_balance = fund.balance if fund else ZERO
    return SettlementInputs(
        cycle,
        policy,
        deficit,
        takeovers,
        fund_balance,
        drawn,
        settled,
        book,
        loss_shared,
        settled_refs,
    )


def _references(
    ledger: LossLedger, cycle: Cycle, account: str | None
) -> tuple[dict[tuple[str, str], str], dict[str, list[str]]]:
    """How the record cites each participant's share, and (for the given account) its
    settlement: a chunk's rows, or the events of a cycle settled with an event per account."""
    loss_shared = {(p["account"], p["contract"]): str(p["ref"]) for p in cycle.participants}
    settled_refs: dict[str, list[str]] = {}
    if account is not None:
        found = account_settlement(ledger, cycle.cycle, account)
        settled_refs[account] = [] if found is None else found.references
    return loss_shared, settled_refs


def replay_cycle(ledger: LossLedger, name: str) -> Replay:
    """Recompute a settled cycle from its recorded events alone and pair it with the record."""
    with collector_paused():  # a million states decoded and rows built (domain/core/memory.py)
        return _replay(ledger, name)


def _replay(ledger: LossLedger, name: str) -> Replay:
    try:
        inputs = settlement_inputs(ledger, name)
    except CycleNotSettledError:
        raise CycleNotSettledError(f"cycle {name} is not settled yet: nothing to replay") from None
    cycle, policy = inputs.cycle, inputs.policy
    waterfall = inputs.recompute()
    settlement = present(cycle.settlement, "a settled cycle has its settlement")
    counted = len(inputs.book) if "accounts" in settlement else None
    recomputed = settlement_summary(name, waterfall, policy, accounts=counted)
    recomputed["participants"] = [
        [p.rank, p.account, p.contract, p.profit, p.share] for p in waterfall.participants
    ]
    recorded = {
        **{key: value for key, value in settlement.items() if key != "chain_anchor"},
        "participants": [
            [p["rank"], p["account"], p["contract"], p["profit"], p["share"]]
            for p in cycle.participants
        ],
    }
    return compared(name, recorded, recomputed)


def _as_text(document: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> Any:
        if isinstance(value, Decimal):
            return fmt_plain(value)
        if isinstance(value, list):
            return [text(item) for item in value]
        return value

    return {key: text(value) for key, value in document.items()}

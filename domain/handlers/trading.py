"""Position commands: open, close, liquidate with takeover (SPEC 4). Check first, then record."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.accounts import Account
from domain.commands.models import ClosePosition, Fill, Liquidate, OpenPosition
from domain.core.errors import (
    InsufficientMarginError,
    InvalidSizeError,
    PositionNotLiquidatableError,
    UnknownAccountError,
    present,
)
from domain.core.ids import account_id, cycle_id
from domain.core.money import (
    ZERO,
    book,
    book_exact,
    fmt_plain,
    require_positive,
    require_quanta,
    round_down,
    round_up,
)
from domain.core.policy import Policy
from domain.core.positions import (
    Position,
    bankruptcy_price,
    is_liquidatable,
    pnl,
    takeover_result,
    unrealized_pnl,
)
from domain.core.postings import (
    CLEARING,
    INSURANCE_FUND,
    cash_account,
    margin_account,
    posting,
    postings_without_zero,
)
from domain.cycles import Cycle
from domain.handlers.unit_of_work import UnitOfWork


def require_account(uow: UnitOfWork, account: str) -> Account:
    found = uow.find(account_id(account), Account)
    if found is None:
        raise UnknownAccountError(f"account {account} was never opened")
    return found


def open_cycle_and_policy(uow: UnitOfWork) -> tuple[Cycle, Policy]:
    name = uow.registry().require_open_cycle()
    cycle = present(uow.find(cycle_id(name), Cycle), f"the open cycle {name} exists")
    cycle.require_open()
    return cycle, uow.policy(cycle.policy_version)


@dataclass(frozen=True)
class _Opening:
    """A new position, checked by the caller: an order's, or a takeover fill's."""

    contract: str
    side: str
    size: Decimal
    price: Decimal
    margin: Decimal
    via: str  # "order" or "takeover"


def _realized_before(previous: Position | None) -> tuple[Decimal, Decimal]:
    """(realized, of it realized by liquidated positions) that a new position of the contract
    carries from the earlier record in the cycle. A reopened contract keeps the cycle's
    realized PnL; the part a liquidated position booked stays booked and withheld, but is not
    the new position's to be ranked with (SPEC 5 step 5)."""
    if previous is None:
        return ZERO, ZERO
    if previous.liquidated:
        return previous.realized, previous.realized
    return previous.realized, previous.realized_liquidated


def _receive(uow: UnitOfWork, cycle: Cycle, account: Account, opening: _Opening, at: str) -> None:
    """Record a new position: margin moves from cash to margin."""
    contract, side, size = opening.contract, opening.side, opening.size
    price, margin, via = opening.price, opening.margin, opening.via
    realized, realized_liquidated = _realized_before(account.position(contract))
    position = Position(
        side="long" if side == "long" else "short",
        size=size,
        entry=price,
        reference=price,
        margin=margin,
        realized=realized,
        liquidated=False,  # a new position, even where an earlier one was liquidated
        realized_liquidated=realized_liquidated,
    )
    account.record_position_opened(
        account=account.account,
        cycle=cycle.cycle,
        contract=contract,
        side=side,
        size=size,
        price=price,
        margin=margin,
        via=via,
        position=position.to_record(),
        cash_after=account.cash - margin,
        postings=postings_without_zero(
            [
                posting(
                    cash_account(account.account),
                    margin_account(account.account),
                    margin,
                    "margin_posted",
                )
            ]
        ),
        at=at,
    )
    uow.touch(account)


def open_position(uow: UnitOfWork, command: OpenPosition, at: str) -> None:
    cycle, policy = open_cycle_and_policy(uow)
    account = require_account(uow, command.account)
    cycle.require_contract(command.contract)
    size = require_positive(command.size, "size")
    price = require_positive(command.price, "price")
    margin = require_quanta(command.margin, policy.quantum, "margin")
    account.require_no_open_position(command.contract)
    required = policy.initial_margin_rate(command.contract) * size * price
    if margin < required:
        raise InsufficientMarginError(
            f"margin {fmt_plain(margin)} is below the initial margin {fmt_plain(required)} "
            f"({fmt_plain(policy.initial_margin_rate(command.contract))} x size x price)"
        )
    account.require_available(margin, "margin")
    opening = _Opening(command.contract, command.side, size, price, margin, "order")
    _receive(uow, cycle, account, opening, at)


def close_position(uow: UnitOfWork, command: ClosePosition, at: str) -> None:
    cycle, policy = open_cycle_and_policy(uow)
    account = require_account(uow, command.account)
    position = account.open_position(command.contract)
    size = require_positive(command.size, "size")
    price = require_positive(command.price, "price")
    if size > position.size:
        raise InvalidSizeError(
            f"close size {fmt_plain(size)} exceeds the position size {fmt_plain(position.size)}"
        )
    realized = book(pnl(position.side, size, position.reference, price), policy.quantum)
    if size == position.size:
        released = position.margin
    else:  # the remaining position keeps the rounding residue of its margin
        released = round_down(position.margin * size / position.size, policy.quantum)
    if released + realized < 0:
        raise InsufficientMarginError(
            f"closing at {fmt_plain(price)} loses {fmt_plain(-realized)}, more than the "
            f"{fmt_plain(released)} of margin it releases: liquidate the position instead"
        )
    after = position.with_changes(
        size=position.size - size,
        margin=position.margin - released,
        realized=position.realized + realized,
    )
    trader = cash_account(account.account)
    account.record_position_closed(
        account=account.account,
        cycle=cycle.cycle,
        contract=command.contract,
        size=size,
        price=price,
        realized_pnl=realized,
        margin_released=released,
        position=after.to_record(),
        cash_after=account.cash + released + realized,
        postings=postings_without_zero(
            [
                posting(margin_account(account.account), trader, released, "margin_released"),
                posting(CLEARING, trader, realized, "realized_pnl"),
            ]
        ),
        at=at,
    )
    uow.touch(account)


def _check_fills(
    uow: UnitOfWork, command: Liquidate, position: Position, policy: Policy
) -> list[tuple[Fill, Account | None, Decimal]]:
    """Every fill checked before anything is written: (fill, receiving account, its margin)."""
    checked: list[tuple[Fill, Account | None, Decimal]] = []
    receivers: set[str] = set()
    total = ZERO
    for number, fill in enumerate(command.fills, start=1):
        require_positive(fill.price, f"fills[{number}].price")
        total += require_positive(fill.size, f"fills[{number}].size")
        if fill.account is None:
            checked.append((fill, None, ZERO))
            continue
        if fill.account == command.account or fill.account in receivers:
            raise InvalidSizeError(
                f"fills[{number}].account {fill.account} may not receive this position: "
                "not the liquidated account, and one fill per receiving account"
            )
        receivers.add(fill.account)
        receiver = require_account(uow, fill.account)
        receiver.require_no_open_position(command.contract)
        margin = round_up(
            policy.initial_margin_rate(command.contract) * fill.size * fill.price, policy.quantum
        )
        receiver.require_available(margin, f"fills[{number}] margin")
        checked.append((fill, receiver, margin))
    if total != position.size:
        raise InvalidSizeError(
            f"fill sizes add up to {fmt_plain(total)}, not the position size "
            f"{fmt_plain(position.size)}"
        )
    return checked


@dataclass(frozen=True)
class _Liquidation:
    """A liquidation checked and about to be recorded: what every takeover fill reads."""

    cycle: Cycle
    policy: Policy
    command: Liquidate
    position: Position
    mark: Decimal
    bankruptcy: Decimal
    at: str


def _require_liquidatable(command: Liquidate, position: Position, policy: Policy) -> Decimal:
    """The mark, once the position is liquidatable at it (SPEC 4)."""
    mark = require_positive(command.mark, "mark")
    rate = policy.maintenance_margin_rate(command.contract)
    if not is_liquidatable(position, mark, rate):
        equity = position.margin + unrealized_pnl(position, mark)
        raise PositionNotLiquidatableError(
            f"position of {command.account} in {command.contract} is not liquidatable at mark "
            f"{fmt_plain(mark)}: margin + unrealized PnL {fmt_plain(equity)} > maintenance "
            f"margin {fmt_plain(rate * position.size * mark)}"
        )
    return mark


def liquidate(uow: UnitOfWork, command: Liquidate, at: str) -> None:
    cycle, policy = open_cycle_and_policy(uow)
    account = require_account(uow, command.account)
    position = account.open_position(command.contract)
    mark = _require_liquidatable(command, position, policy)
    fills = _check_fills(uow, command, position, policy)
    bankruptcy = bankruptcy_price(position.side, position.reference, position.margin, position.size)
    liquidation = _Liquidation(cycle, policy, command, position, mark, bankruptcy, at)
    _record_liquidated(uow, account, liquidation)
    for number, (fill, receiver, margin) in enumerate(fills, start=1):
        _record_takeover(uow, liquidation, number, fill)
        if receiver is not None:
            opening = _Opening(
                command.contract, position.side, fill.size, fill.price, margin, "takeover"
            )
            _receive(uow, cycle, receiver, opening, at)


def _record_liquidated(uow: UnitOfWork, account: Account, liquidation: _Liquidation) -> None:
    """The trader loses exactly the position's margin, never more."""
    position, command = liquidation.position, liquidation.command
    # Closed at its bankruptcy price the position loses exactly its margin: size x
    # (bankruptcy - reference) = -margin, with no rounding to do.
    loss_on_close = -position.margin
    trader = cash_account(account.account)
    account.record_position_liquidated(
        account=account.account,
        cycle=liquidation.cycle.cycle,
        contract=command.contract,
        side=position.side,
        size=position.size,
        entry_price=position.entry,
        mark=liquidation.mark,
        bankruptcy_price=liquidation.bankruptcy,
        margin_lost=position.margin,
        liquidation_pnl=loss_on_close,
        position=position.with_changes(size=ZERO, margin=ZERO, liquidated=True).to_record(),
        cash_after=account.cash + position.margin + loss_on_close,
        postings=postings_without_zero(
            [
                posting(
                    margin_account(account.account), trader, position.margin, "margin_released"
                ),
                posting(CLEARING, trader, loss_on_close, "liquidation_loss"),
            ]
        ),
        at=liquidation.at,
    )
    uow.touch(account)


def _record_takeover(uow: UnitOfWork, liquidation: _Liquidation, number: int, fill: Fill) -> None:
    """One fill's takeover loss adds to the cycle's deficit; a surplus goes to the fund at once."""
    cycle, position, command = liquidation.cycle, liquidation.position, liquidation.command
    quantum, at = liquidation.policy.quantum, liquidation.at
    loss_exact, surplus_exact = takeover_result(
        position.side, position.reference, position.margin, position.size, fill.price, fill.size
    )
    loss = book_exact(loss_exact, quantum)
    surplus = book_exact(surplus_exact, quantum)
    cycle.record_takeover(
        account=command.account,
        contract=command.contract,
        side=position.side,
        mark=liquidation.mark,
        bankruptcy_price=liquidation.bankruptcy,
        reference=position.reference,
        position_margin=position.margin,
        position_size=position.size,
        fill=number,
        price=fill.price,
        size=fill.size,
        receiver=fill.account,
        loss=loss,
        surplus=surplus,
        deficit_after=cycle.deficit + loss,
        at=at,
    )
    uow.touch(cycle)
    if surplus > 0:
        fund = uow.insurance_fund(at)
        fund.record_surplus(
            cycle=cycle.cycle,
            account=command.account,
            contract=command.contract,
            amount=surplus,
            balance_after=fund.balance + surplus,
            postings=[posting(CLEARING, INSURANCE_FUND, surplus, "takeover_surplus")],
            at=at,
        )
        uow.touch(fund)

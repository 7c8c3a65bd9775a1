"""A refund split over a cycle's shares (domain/handlers/refunds.py): pro rata, in whole quanta."""

from __future__ import annotations

from decimal import Decimal

from domain.handlers.refunds import refund_allocations

QUANTUM = Decimal("0.00000001")


def test_a_refund_is_split_pro_rata_to_the_shares() -> None:
    # 40 of 80: half of each share
    shares = [Decimal(32), Decimal(24), Decimal(24)]
    assert refund_allocations(shares, Decimal(40), QUANTUM) == [16, 12, 12]


def test_a_refund_quantum_goes_to_the_largest_remainder_ties_to_the_better_ranked() -> None:
    # one quantum: exact parts 0.3, 0.4, 0.3 quanta -> all floor to 0; the quantum goes to 0.4
    shares = [Decimal(24), Decimal(32), Decimal(24)]
    assert refund_allocations(shares, QUANTUM, QUANTUM) == [0, QUANTUM, 0]
    equal = [Decimal(10), Decimal(10), Decimal(10)]
    assert refund_allocations(equal, QUANTUM, QUANTUM) == [QUANTUM, 0, 0]


def test_repeated_refunds_never_return_more_than_a_share() -> None:
    # two participants with one quantum each; a first refund of one quantum goes to rank 1
    first = refund_allocations([QUANTUM, QUANTUM], QUANTUM, QUANTUM)
    assert first == [QUANTUM, 0]
    # the next refund is pro rata to what is still owed: rank 2 gets it, not rank 1 again
    owed = [QUANTUM - first[0], QUANTUM - first[1]]
    assert refund_allocations(owed, QUANTUM, QUANTUM) == [0, QUANTUM]

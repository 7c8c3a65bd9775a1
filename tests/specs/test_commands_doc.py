"""docs/commands.md says what the ledger does with each command: its examples are applied here.

Every ```json block of the page is a list of command lines, applied in the order of the page to
one empty ledger. After a block, a paragraph `Refused: `reason`` says that its last line is
refused with exactly that reason and writes nothing (the lines before it are applied), and a
paragraph `Then: `figure(arguments) = value`, ...` names figures of the ledger after the block.
The page explains the notation; this module holds it to the code, on both backends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from domain.accounts import Account
from domain.commands.models import COMMAND_TYPES
from domain.core.errors import LedgerError
from domain.core.ids import INSURANCE_FUND_ID, account_id
from domain.core.positions import Position
from domain.insurance_fund import InsuranceFund
from domain.ledger import APPLIED, LossLedger
from domain.queries.cycle_report import cycle_document
from tests.support.databases import OnPostgreSQL, OnSQLite

PAGE = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
FENCE = re.compile(r"^```(\w*)\s*$")
CHECK = re.compile(r"`(\w+)\(([^()`]*)\) = ([^`]+)`")
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
MARKERS = ("Refused:", "Then:")


@dataclass(frozen=True)
class Check:
    """One figure of a `Then:` paragraph: `name(arguments) = expected`."""

    name: str
    arguments: tuple[str, ...]
    expected: str


@dataclass(frozen=True)
class Example:
    """A ```json block of the page, with what the page says of it."""

    line: int  # of the opening fence, for messages
    commands: tuple[str, ...]
    refused: str | None
    checks: tuple[Check, ...]

    @property
    def applied(self) -> tuple[str, ...]:
        """The lines that must be applied: all of them, or all but the refused last one."""
        return self.commands[:-1] if self.refused is not None else self.commands


def _paragraph(lines: list[str], start: int) -> tuple[str, int]:
    """The paragraph that starts at `start`, joined into one line, and the index after it."""
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    return " ".join(line.strip() for line in lines[start:end]), end


def _skip_blank(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _checks(text: str, line: int) -> tuple[Check, ...]:
    items = CHECK.findall(text)
    if not items or len(items) != text.count("`") // 2:
        raise AssertionError(f"docs/commands.md:{line}: a Then: item is not `figure(...) = value`")
    return tuple(
        Check(name, tuple(part.strip() for part in arguments.split(",") if part.strip()), value)
        for name, arguments, value in items
    )


def _expectations(
    lines: list[str], index: int, fence: int
) -> tuple[str | None, tuple[Check, ...], int, list[int]]:
    """The Refused: and Then: paragraphs after a block; the index after them; their lines."""
    refused: str | None = None
    checks: tuple[Check, ...] = ()
    used: list[int] = []
    index = _skip_blank(lines, index)
    if index < len(lines) and lines[index].startswith("Refused:"):
        used.append(index)
        text, index = _paragraph(lines, index)
        found = re.fullmatch(r"Refused: `([^`]+)`", text)
        if found is None:
            raise AssertionError(f"docs/commands.md:{fence}: Refused: needs one `reason`")
        refused = found.group(1)
        index = _skip_blank(lines, index)
    if index < len(lines) and lines[index].startswith("Then:"):
        used.append(index)
        text, index = _paragraph(lines, index)
        checks = _checks(text.removeprefix("Then:"), fence)
    return refused, checks, index, used


def read_examples(text: str) -> list[Example]:
    """Every ```json block of the page with its expectations, in the order of the page."""
    lines = text.splitlines()
    examples: list[Example] = []
    used: set[int] = set()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, index = index + 1, index + 1
        body: list[str] = []
        while index < len(lines) and not FENCE.match(lines[index]):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        if opening.group(1) != "json":
            continue
        commands = tuple(line for line in body if line.strip())
        if not commands:
            raise AssertionError(f"docs/commands.md:{fence}: an empty json block")
        refused, checks, index, lines_used = _expectations(lines, index, fence)
        used.update(lines_used)
        examples.append(Example(fence, commands, refused, checks))
    stray = [n + 1 for n, line in enumerate(lines) if line.startswith(MARKERS) and n not in used]
    if stray:
        raise AssertionError(f"docs/commands.md: Refused:/Then: not after a json block: {stray}")
    return examples


def _account(ledger: LossLedger, name: str) -> Account:
    account: Any = ledger.account(account_id(name))  # as it stands, settlements applied
    assert isinstance(account, Account), f"{name} is not an account"
    return account


def _position(ledger: LossLedger, name: str, contract: str) -> Position:
    position = _account(ledger, name).position(contract)
    if position is None:
        raise AssertionError(f"account {name} has no position in {contract}")
    return position


def _fund(ledger: LossLedger) -> Decimal:
    fund: Any = ledger.repository.get(INSURANCE_FUND_ID)
    assert isinstance(fund, InsuranceFund)
    return fund.balance


def _policy(ledger: LossLedger, path: str) -> Any:
    value: Any = ledger.unit.policy().to_json()
    for key in path.split("."):
        value = value[key]
    return value


def _participant(ledger: LossLedger, cycle: str, account: str, field: str) -> Any:
    rows = [p for p in cycle_document(ledger, cycle)["participants"] if p["account"] == account]
    if len(rows) != 1:
        raise AssertionError(f"{account} is not one participant of cycle {cycle}: {rows}")
    return rows[0][field]


CYCLE_FIGURES = (
    "deficit",
    "fund_drawn",
    "to_share",
    "total_profit",
    "collected",
    "uncovered",
    "rate",
    "status",
    "refunded",
    "digest",
)
Figure = Callable[[LossLedger, tuple[str, ...]], Any]


def _cycle_figure(name: str) -> Figure:
    """A field of the `cycle show` document of the cycle named by the one argument."""
    return lambda ledger, arguments: cycle_document(ledger, arguments[0])[name]


FIGURES: dict[tuple[str, int], Figure] = {
    ("cash", 1): lambda ledger, a: _account(ledger, a[0]).cash,
    ("margin", 1): lambda ledger, a: _account(ledger, a[0]).margin,
    ("available", 1): lambda ledger, a: _account(ledger, a[0]).available,
    ("withheld", 1): lambda ledger, a: _account(ledger, a[0]).withheld,
    ("size", 2): lambda ledger, a: _position(ledger, a[0], a[1]).size,
    ("reference", 2): lambda ledger, a: _position(ledger, a[0], a[1]).reference,
    ("margin", 2): lambda ledger, a: _position(ledger, a[0], a[1]).margin,
    ("fund", 0): lambda ledger, _: _fund(ledger),
    ("policy", 1): lambda ledger, a: _policy(ledger, a[0]),
    ("share", 2): lambda ledger, a: _participant(ledger, a[0], a[1], "share"),
    ("profit", 2): lambda ledger, a: _participant(ledger, a[0], a[1], "profit"),
    ("rank", 2): lambda ledger, a: _participant(ledger, a[0], a[1], "rank"),
    **{(name, 1): _cycle_figure(name) for name in CYCLE_FIGURES},
}


def _same(actual: Any, expected: str) -> bool:
    """Amounts compare as decimals (900 is 900.00000000); anything else as its text."""
    text = str(actual).lower() if isinstance(actual, bool) else str(actual)
    if PLAIN_DECIMAL.fullmatch(text) and PLAIN_DECIMAL.fullmatch(expected):
        return Decimal(text) == Decimal(expected)
    return text == expected


def _events(ledger: LossLedger) -> int:
    return ledger.recorder.max_notification_id() or 0


def _refuse(ledger: LossLedger, example: Example, where: str) -> None:
    before = _events(ledger)
    try:
        ledger.execute_line(example.commands[-1])
    except LedgerError as error:
        assert str(error) == example.refused, f"{where}: refused with {str(error)!r}"
    else:
        raise AssertionError(f"{where}: the last line was not refused")
    assert ledger.flush() == 0, f"{where}: the refused command left events to save"
    assert _events(ledger) == before, f"{where}: the refused command wrote events"


def apply_example(ledger: LossLedger, example: Example) -> None:
    """Apply one example as the page says, and hold the ledger to what the page says of it."""
    where = f"docs/commands.md:{example.line}"
    outcomes = [ledger.execute_line(line) for line in example.applied]
    ledger.flush()
    said = {check.expected for check in example.checks if check.name == "outcome"}
    expected = [APPLIED] * len(outcomes)
    if said:
        assert example.refused is None and len(said) == 1, f"{where}: one outcome() a block"
        expected[-1] = said.pop()
    assert outcomes == expected, f"{where}: outcomes {outcomes}"
    if example.refused is not None:
        _refuse(ledger, example, where)
    for check in example.checks:
        if check.name == "outcome":
            continue
        figure = FIGURES.get((check.name, len(check.arguments)))
        assert figure is not None, f"{where}: no figure {check.name}/{len(check.arguments)}"
        actual = figure(ledger, check.arguments)
        assert _same(actual, check.expected), f"{where}: {check} but found {actual!r}"


def page_examples() -> list[Example]:
    return read_examples(PAGE.read_text(encoding="utf-8"))


def _types(lines: tuple[str, ...]) -> set[str]:
    """The command types of lines that are JSON objects (a refused line may not be)."""
    found = set()
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and isinstance(document.get("type"), str):
            found.add(document["type"])
    return found


def test_every_command_type_has_an_applied_and_a_refused_example() -> None:
    examples = page_examples()
    applied = set().union(*(_types(example.applied) for example in examples))
    refused = set().union(
        *(_types(example.commands[-1:]) for example in examples if example.refused is not None)
    )
    assert applied == set(COMMAND_TYPES)
    assert refused == set(COMMAND_TYPES)


def test_every_example_that_is_applied_says_what_it_leaves_behind() -> None:
    unchecked = [e.line for e in page_examples() if e.refused is None and not e.checks]
    assert unchecked == []


def test_every_figure_the_page_names_is_one_the_spec_can_read() -> None:
    named = {
        (check.name, len(check.arguments))
        for example in page_examples()
        for check in example.checks
        if check.name != "outcome"
    }
    assert named <= set(FIGURES), named - set(FIGURES)


def test_a_refused_or_then_paragraph_away_from_a_block_is_an_error() -> None:
    page = '```json\n{"type":"open_account","id":"a","account":"a"}\n```\n\nText.\n\n'
    page += "Then: `cash(a) = 1`\n"

    with pytest.raises(AssertionError, match="not after a json block"):
        read_examples(page)


class CommandsDocSpec:
    """The examples of docs/commands.md, applied in order to one empty ledger."""

    def test_every_example_of_the_page_does_what_the_page_says(self, ledger: LossLedger) -> None:
        examples = page_examples()
        assert len(examples) >= 40  # the page's story, not a page that lost its blocks
        for example in examples:
            apply_example(ledger, example)


class TestCommandsDocOnSQLite(CommandsDocSpec, OnSQLite):
    pass


class TestCommandsDocOnPostgreSQL(CommandsDocSpec, OnPostgreSQL):
    pass


def _drifted(examples: list[Example], index: int, change: Callable[[Example], Example]) -> Any:
    return [change(example) if n == index else example for n, example in enumerate(examples)]


def test_a_reason_that_drifts_from_the_code_fails_the_spec(ledger: LossLedger) -> None:
    examples = page_examples()
    first = next(n for n, example in enumerate(examples) if example.refused is not None)
    drifted = _drifted(examples, first, lambda e: replace(e, refused=f"{e.refused}!"))
    with pytest.raises(AssertionError, match="refused with"):
        for example in drifted[: first + 1]:
            apply_example(ledger, example)


def test_a_figure_that_drifts_from_the_code_fails_the_spec(ledger: LossLedger) -> None:
    examples = page_examples()
    first = next(
        n
        for n, example in enumerate(examples)
        if any(check.name == "cash" for check in example.checks)
    )

    def more_cash(example: Example) -> Example:
        checks = tuple(
            replace(check, expected=str(Decimal(check.expected) + 1))
            if check.name == "cash"
            else check
            for check in example.checks
        )
        return replace(example, checks=checks)

    with pytest.raises(AssertionError, match="but found"):
        for example in _drifted(examples, first, more_cash)[: first + 1]:
            apply_example(ledger, example)

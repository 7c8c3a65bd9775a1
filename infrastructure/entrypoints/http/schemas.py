"""The HTTP API's response bodies: every amount a string, every error application/problem+json."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

PROBLEM = "application/problem+json"


class Balance(BaseModel):
    account: str
    as_of: str | None
    cash: str
    margin: str
    withheld: str
    available: str


class FundFlow(BaseModel):
    id: str
    type: str
    balance: str
    amount: str
    cash_after: str
    margin_after: str
    withheld_after: str
    balance_after: str
    cycle: str | None
    contract: str | None
    at: str
    event_id: str


class FundFlowPage(BaseModel):
    items: list[FundFlow]
    next_cursor: str | None


class CycleRow(BaseModel):
    cycle: str
    status: str
    opened_at: str
    settled_at: str | None
    deficit: str
    refunded: str
    digest: str | None


class ParticipantRow(BaseModel):
    rank: int
    account: str
    contract: str
    profit: str
    share: str


class ParticipantPage(BaseModel):
    items: list[ParticipantRow]
    next_cursor: str | None


class FundHistoryRow(BaseModel):
    type: str
    amount: str
    balance_after: str
    cycle: str | None
    account: str | None
    contract: str | None
    at: str
    event_id: str


class VerifyResult(BaseModel):
    ok: bool
    events: int
    head_position: int
    head_hash: str
    first_bad_position: int | None
    reason: str | None


class CommandOutcome(BaseModel):
    index: int
    id: str | None
    outcome: Literal["applied", "already applied"]


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}} for status in (400, 401, 403, 404, 422)
}

"""The endpoints: traders read only their own account (any other answers 404, like a missing
one); auditors read everything; only operators post commands."""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at
# import time to build its dependencies.

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from domain.commands.json_lines import load_batch
from domain.core.errors import LedgerError
from domain.core.limits import MAX_LINE_BYTES
from domain.ledger import LossLedger
from domain.queries.cycle_report import UnknownCycleError, cycle_document
from domain.queries.explain import explain
from infrastructure.apply.runner import ApplyResult, apply_lines, forget_cache
from infrastructure.audit.verify import verify
from infrastructure.entrypoints.http.problems import ApiError, not_found
from infrastructure.entrypoints.http.schemas import (
    Balance,
    CommandOutcome,
    CycleRow,
    FundFlowPage,
    FundHistoryRow,
    ParticipantPage,
    VerifyResult,
)
from infrastructure.entrypoints.http.tokens import Principal, principal_for
from infrastructure.readmodels.queries import account_history, fund_flow_page, parse_as_of
from infrastructure.readmodels.runner import ReadModels
from infrastructure.readmodels.tables import balances, cycles, insurance_fund_history, participants

MAX_PAGE = 500
RANK_CURSOR = re.compile(r"^[0-9]{1,9}$")  # ASCII digits only: int() takes any Unicode digit
CYCLE_COLUMNS = ("cycle", "status", "opened_at", "settled_at", "deficit", "refunded")


@dataclass
class Services:
    """What the endpoints work on: one writer, one reader that always reads the store afresh."""

    ledger: LossLedger
    models: ReadModels
    reader: LossLedger
    # one writer per process: commands are applied one batch at a time
    lock: threading.Lock = field(default_factory=threading.Lock)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


Api = Annotated[Services, Depends(services)]


def principal(api: Api, authorization: Annotated[str | None, Header()] = None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    found = principal_for(api.models.engine, token.strip()) if scheme == "Bearer" else None
    if found is None:
        raise ApiError(401, "Unauthorized", "a valid bearer token is required")
    return found


Who = Annotated[Principal, Depends(principal)]


@dataclass(frozen=True)
class Page:
    """A page of a listing in rank or entry order: an opaque cursor the API gave, and a limit."""

    cursor: str | None
    limit: int


def page_of(default_limit: int) -> Any:
    def page(
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = default_limit,
    ) -> Page:
        return Page(cursor, limit)

    return Depends(page)


def reader_of(who: Principal, account: str) -> None:
    if not who.may_read(account):
        raise not_found(f"account {account}")


def auditor(who: Principal) -> None:
    if who.role == "trader":
        raise ApiError(403, "Forbidden", "this endpoint is for auditors and operators")


router = APIRouter()


@router.get("/accounts/{account}/balance", response_model=Balance)
def balance(account: str, who: Who, api: Api, as_of: str | None = None) -> dict[str, Any]:
    reader_of(who, account)
    try:
        history = account_history(api.models.engine, account, parse_as_of(as_of))
    except LedgerError:
        raise not_found(f"account {account}") from None
    return {"account": account, "as_of": history["as_of"], **history["balance"]}


@router.get("/accounts/{account}/fund-flows", response_model=FundFlowPage)
def flows(
    account: str,
    who: Who,
    api: Api,
    page: Annotated[Page, page_of(50)],
    type: str | None = None,
    cycle: str | None = None,
) -> dict[str, Any]:
    reader_of(who, account)
    with api.models.engine.connect() as connection:
        exists = connection.execute(
            select(balances.c.account).where(balances.c.account == account)
        ).first()
    if exists is None:
        raise not_found(f"account {account}")
    return fund_flow_page(
        api.models.engine,
        account,
        cursor=page.cursor,
        limit=page.limit,
        flow_type=type,
        cycle=cycle,
    )


@router.get("/cycles", response_model=list[CycleRow])
def cycle_list(who: Who, api: Api) -> list[dict[str, Any]]:
    with api.models.engine.connect() as connection:
        rows = connection.execute(select(cycles).order_by(cycles.c.opened_at)).mappings()
        return [
            {
                **{column: row[column] for column in CYCLE_COLUMNS},
                "digest": (row["summary"] or {}).get("digest"),
            }
            for row in rows
        ]


@router.get("/cycles/{cycle}", response_model=dict[str, Any])
def cycle_show(cycle: str, who: Who, api: Api) -> dict[str, Any]:
    try:
        document = cycle_document(api.reader, cycle)
    except UnknownCycleError:
        raise not_found(f"cycle {cycle}") from None
    if who.role == "trader":
        document["participants"] = [
            p for p in document.get("participants", []) if p["account"] == who.account
        ]
    return document


@router.get("/cycles/{cycle}/participants", response_model=ParticipantPage)
def cycle_participants(
    cycle: str, who: Who, api: Api, page: Annotated[Page, page_of(100)]
) -> dict[str, Any]:
    query = select(participants).where(
        participants.c.cycle == cycle, participants.c.rank > _rank_cursor(page.cursor)
    )
    if who.role == "trader":
        query = query.where(participants.c.account == who.account)
    with api.models.engine.connect() as connection:
        known = connection.execute(select(cycles.c.cycle).where(cycles.c.cycle == cycle)).first()
        if known is None:
            raise not_found(f"cycle {cycle}")
        ordered = query.order_by(participants.c.rank).limit(page.limit + 1)
        rows = connection.execute(ordered).mappings().all()
    items = [dict(row) for row in rows[: page.limit]]
    more = len(rows) > page.limit
    return {"items": items, "next_cursor": str(items[-1]["rank"]) if more else None}


@router.get("/cycles/{cycle}/explain/{account}", response_model=dict[str, Any])
def cycle_explain(cycle: str, account: str, who: Who, api: Api) -> dict[str, Any]:
    reader_of(who, account)
    try:
        return explain(api.reader, account, cycle)
    except LedgerError:
        raise not_found(f"an explanation of account {account} in cycle {cycle}") from None


@router.get("/insurance-fund/history", response_model=list[FundHistoryRow])
def fund_history(who: Who, api: Api) -> list[dict[str, Any]]:
    auditor(who)
    with api.models.engine.connect() as connection:
        rows = connection.execute(
            select(insurance_fund_history).order_by(insurance_fund_history.c.notification_id)
        ).mappings()
        return [dict(row) for row in rows]


@router.get("/audit/verify", response_model=VerifyResult)
def audit_verify(who: Who, api: Api) -> dict[str, Any]:
    auditor(who)
    result = verify(api.reader.recorder)  # type: ignore[arg-type]
    return {
        "ok": result.ok,
        "events": result.events,
        "head_position": result.head_position,
        "head_hash": result.head_hash,
        "first_bad_position": result.first_bad_position,
        "reason": result.reason,
    }


@router.post("/commands", response_model=list[CommandOutcome], status_code=200)
async def commands(request: Request, who: Who, api: Api) -> list[dict[str, Any]]:
    if who.role != "operator":
        raise ApiError(403, "Forbidden", "only an operator token may post commands")
    documents = _command_documents(await _bounded_body(request))
    return await run_in_threadpool(apply_documents, api, documents)


def apply_documents(api: Services, documents: list[Any]) -> list[dict[str, Any]]:
    """Apply a batch as `apply` does, with its bounded retries on a conflicting save;
    blocking, so run off the event loop."""
    with api.lock:
        # A long-lived process: what it cached may be older than other writers' work.
        forget_cache(api.ledger)
        result = apply_lines(api.ledger, [json.dumps(document) for document in documents])
    api.models.catch_up()
    outcomes = [
        {"index": index, "id": documents[index].get("id"), "outcome": outcome}
        for index, outcome in enumerate(result.outcomes or [])
    ]
    if result.refused_line is not None:
        raise _refusal(result, documents, outcomes)
    return outcomes


def _refusal(result: ApplyResult, documents: list[Any], outcomes: list[dict[str, Any]]) -> ApiError:
    index = (result.refused_line or 1) - 1
    status, title, detail = 422, "Command Refused", result.reason or "refused"
    if result.gave_up:  # the retries' bound, not a rule of the ledger
        status, title = 409, "Conflict"
        detail = (
            f"{result.gave_up}; nothing from this command on was saved: post them again "
            "(commands already applied are idempotent)"
        )
    return ApiError(
        status, title, detail, index=index, id=documents[index].get("id"), applied=outcomes
    )


def _rank_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not RANK_CURSOR.match(cursor):
        raise ApiError(400, "Bad Request", f"cursor {cursor!r} is not a cursor this API gave")
    return int(cursor)


async def _bounded_body(request: Request) -> bytes:
    """The body, refused with 413 once it is longer than a command line may be: a declared
    length is checked before anything is read, a streamed body as it arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_LINE_BYTES:
        raise ApiError(413, "Content Too Large", f"a body holds at most {MAX_LINE_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LINE_BYTES:
            raise ApiError(413, "Content Too Large", f"a body holds at most {MAX_LINE_BYTES} bytes")
    return bytes(body)


def _command_documents(body: bytes) -> list[Any]:
    """One command or a batch (domain.commands.json_lines.load_batch: its bounds, its reasons)."""
    try:
        return load_batch(body)
    except LedgerError as error:
        raise ApiError(400, "Bad Request", str(error)) from None

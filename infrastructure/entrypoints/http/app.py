"""`lossledger serve`: the HTTP API for account-history views, over the same database as the CLI.

Traders read only their own account (any other answers 404, like a missing one); auditors read
everything; only operators post commands. Errors are application/problem+json.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations,
# which name dependencies local to create_app.

import json
import logging
import threading
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from eventsourcing.persistence import RecordConflictError
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from domain.commands.json_lines import load_batch
from domain.core.errors import LedgerError
from domain.core.limits import MAX_LINE_BYTES
from domain.ledger import LossLedger
from domain.queries.cycle_report import UnknownCycleError, cycle_document
from domain.queries.explain import explain
from infrastructure.apply.runner import apply_lines, forget_cache
from infrastructure.audit.verify import verify
from infrastructure.entrypoints.http.tokens import Principal, principal_for
from infrastructure.readmodels.queries import account_history, fund_flow_page, parse_as_of
from infrastructure.readmodels.runner import open_with_read_models
from infrastructure.readmodels.tables import balances, cycles, insurance_fund_history, participants

PROBLEM = "application/problem+json"
logger = logging.getLogger("lossledger.http")
MAX_PAGE = 500


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


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def not_found(what: str) -> ApiError:
    return ApiError(404, "Not Found", f"{what} does not exist")


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}} for status in (400, 401, 403, 404, 422)
}


def create_app(db: str | None = None, follow_interval: float | None = 0.5) -> FastAPI:
    """The API over the ledger at `db`; read models caught up in the background when asked."""
    ledger, models = open_with_read_models(db)
    # Readers get their own ledger whose cache fast-forwards from the store on every read, so
    # that they never see a batch's unsaved state nor miss another process's writes.
    reader = LossLedger(env={**models.database.env, "AGGREGATE_CACHE_FASTFORWARD": "y"})
    lock = threading.Lock()  # one writer per process: commands are applied one batch at a time
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(follow_interval or 1.0):
            try:
                models.catch_up()
            except Exception:  # a passing database error must not end the catching up
                logger.exception("read-model catch-up failed; trying again")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        models.catch_up()
        worker = threading.Thread(target=follow, daemon=True) if follow_interval else None
        if worker:
            worker.start()
        yield
        stop.set()

    app = FastAPI(title="lossledger", version="1", lifespan=lifespan, responses=ERRORS)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return problem(error.status, error.title, error.detail, **error.extra)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return problem(error.status_code, "Error", str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return problem(400, "Bad Request", f"{where}: {first['msg']}")

    @app.exception_handler(RecordConflictError)
    async def conflict(_: Request, error: RecordConflictError) -> JSONResponse:
        return problem(
            409,
            "Conflict",
            "another writer changed the same aggregates at the same "
            "time; what this request had not saved was not written: post it again "
            "(commands already applied are idempotent)",
        )

    @app.exception_handler(LedgerError)
    async def refused(_: Request, error: LedgerError) -> JSONResponse:
        return problem(400, "Bad Request", str(error))

    def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        found = principal_for(models.engine, token.strip()) if scheme == "Bearer" else None
        if found is None:
            raise ApiError(401, "Unauthorized", "a valid bearer token is required")
        return found

    Who = Annotated[Principal, Depends(principal)]

    def reader_of(who: Principal, account: str) -> None:
        if not who.may_read(account):
            raise not_found(f"account {account}")

    def auditor(who: Principal) -> None:
        if who.role == "trader":
            raise ApiError(403, "Forbidden", "this endpoint is for auditors and operators")

    @app.get("/accounts/{account}/balance", response_model=Balance)
    def balance(account: str, who: Who, as_of: str | None = None) -> dict[str, Any]:
        reader_of(who, account)
        try:
            history = account_history(models.engine, account, parse_as_of(as_of))
        except LedgerError:
            raise not_found(f"account {account}") from None
        return {"account": account, "as_of": history["as_of"], **history["balance"]}

    @app.get("/accounts/{account}/fund-flows", response_model=FundFlowPage)
    def flows(
        account: str,
        who: Who,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        type: str | None = None,
        cycle: str | None = None,
    ) -> dict[str, Any]:
        reader_of(who, account)
        with models.engine.connect() as connection:
            exists = connection.execute(
                select(balances.c.account).where(balances.c.account == account)
            ).first()
        if exists is None:
            raise not_found(f"account {account}")
        return fund_flow_page(
            models.engine, account, cursor=cursor, limit=limit, flow_type=type, cycle=cycle
        )

    @app.get("/cycles", response_model=list[CycleRow])
    def cycle_list(who: Who) -> list[dict[str, Any]]:
        with models.engine.connect() as connection:
            rows = connection.execute(select(cycles).order_by(cycles.c.opened_at)).mappings()
            return [
                {
                    **{
                        k: row[k]
                        for k in (
                            "cycle",
                            "status",
                            "opened_at",
                            "settled_at",
                            "deficit",
                            "refunded",
                        )
                    },
                    "digest": (row["summary"] or {}).get("digest"),
                }
                for row in rows
            ]

    @app.get("/cycles/{cycle}", response_model=dict[str, Any])
    def cycle_show(cycle: str, who: Who) -> dict[str, Any]:
        try:
            document = cycle_document(reader, cycle)
        except UnknownCycleError:
            raise not_found(f"cycle {cycle}") from None
        if who.role == "trader":
            document["participants"] = [
                p for p in document.get("participants", []) if p["account"] == who.account
            ]
        return document

    @app.get("/cycles/{cycle}/participants", response_model=ParticipantPage)
    def cycle_participants(
        cycle: str,
        who: Who,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        after = _rank_cursor(cursor)
        query = select(participants).where(
            participants.c.cycle == cycle, participants.c.rank > after
        )
        if who.role == "trader":
            query = query.where(participants.c.account == who.account)
        with models.engine.connect() as connection:
            if (
                connection.execute(select(cycles.c.cycle).where(cycles.c.cycle == cycle)).first()
                is None
            ):
                raise not_found(f"cycle {cycle}")
            rows = (
                connection.execute(query.order_by(participants.c.rank).limit(limit + 1))
                .mappings()
                .all()
            )
        items = [dict(row) for row in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": str(items[-1]["rank"]) if more else None}

    @app.get("/cycles/{cycle}/explain/{account}", response_model=dict[str, Any])
    def cycle_explain(cycle: str, account: str, who: Who) -> dict[str, Any]:
        reader_of(who, account)
        try:
            return explain(reader, account, cycle)
        except LedgerError:
            raise not_found(f"an explanation of account {account} in cycle {cycle}") from None

    @app.get("/insurance-fund/history", response_model=list[FundHistoryRow])
    def fund_history(who: Who) -> list[dict[str, Any]]:
        auditor(who)
        with models.engine.connect() as connection:
            rows = connection.execute(
                select(insurance_fund_history).order_by(insurance_fund_history.c.notification_id)
            ).mappings()
            return [dict(row) for row in rows]

    @app.get("/audit/verify", response_model=VerifyResult)
    def audit_verify(who: Who) -> dict[str, Any]:
        auditor(who)
        result = verify(reader.recorder)  # type: ignore[arg-type]
        return {
            "ok": result.ok,
            "events": result.events,
            "head_position": result.head_position,
            "head_hash": result.head_hash,
            "first_bad_position": result.first_bad_position,
            "reason": result.reason,
        }

    @app.post("/commands", response_model=list[CommandOutcome], status_code=200)
    async def commands(request: Request, who: Who) -> list[dict[str, Any]]:
        if who.role != "operator":
            raise ApiError(403, "Forbidden", "only an operator token may post commands")
        documents = _command_documents(await _bounded_body(request))
        return await run_in_threadpool(apply_documents, documents)

    def apply_documents(documents: list[Any]) -> list[dict[str, Any]]:
        """Apply a batch as `apply` does, with its bounded retries on a conflicting save;
        blocking, so run off the event loop."""
        with lock:
            # A long-lived process: what it cached may be older than other writers' work.
            forget_cache(ledger)
            result = apply_lines(ledger, [json.dumps(document) for document in documents])
        models.catch_up()
        outcomes = [
            {"index": index, "id": documents[index].get("id"), "outcome": outcome}
            for index, outcome in enumerate(result.outcomes or [])
        ]
        if result.refused_line is not None:
            index = result.refused_line - 1
            status, title, detail = 422, "Command Refused", result.reason or "refused"
            if result.gave_up:  # the retries' bound, not a rule of the ledger
                status, title = 409, "Conflict"
                detail = (
                    f"{result.gave_up}; nothing from this command on was saved: post them again "
                    "(commands already applied are idempotent)"
                )
            raise ApiError(
                status, title, detail, index=index, id=documents[index].get("id"), applied=outcomes
            )
        return outcomes

    app.state.models = models
    return app


def _rank_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 9:
        raise ApiError(400, "Bad Request", f"cursor {cursor!r} is not a cursor this API gave")
    return int(cursor)


async def _bounded_body(request: Request) -> bytes:
    """The body, refused with 413 once it is longer than a command line may be: a declared
    length is checked before anything is read, a streamed body as it arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_LINE_BYTES:
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

"""Errors as application/problem+json: one exception for the routes, one handler per kind."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import RecordConflictError
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from domain.core.errors import LedgerError
from infrastructure.entrypoints.http.schemas import PROBLEM

CONFLICT_DETAIL = (
    "another writer changed the same aggregates at the same time; what this request had not "
    "saved was not written: post it again (commands already applied are idempotent)"
)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class ApiError(Exception):
    """Raised by a route to answer with a problem document of that status."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def not_found(what: str) -> ApiError:
    return ApiError(404, "Not Found", f"{what} does not exist")


async def _api_error(_: Request, error: ApiError) -> JSONResponse:
    return problem(error.status, error.title, error.detail, **error.extra)


async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
    return problem(error.status_code, "Error", str(error.detail))


async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return problem(400, "Bad Request", f"{where}: {first['msg']}")


async def _conflict(_: Request, _error: RecordConflictError) -> JSONResponse:
    return problem(409, "Conflict", CONFLICT_DETAIL)


async def _refused(_: Request, error: LedgerError) -> JSONResponse:
    return problem(400, "Bad Request", str(error))


def install_problem_handlers(app: FastAPI) -> None:
    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(HTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(RecordConflictError)(_conflict)
    app.exception_handler(LedgerError)(_refused)

"""`lossledger serve`: the HTTP API for account-history views, over the same database as the CLI.

The endpoints are in routes.py, their bodies in schemas.py, errors as application/problem+json
in problems.py. This module wires them to one ledger and its read models, and keeps the read
models caught up in the background while the server runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from domain.ledger import LossLedger
from infrastructure.entrypoints.http.problems import install_problem_handlers
from infrastructure.entrypoints.http.routes import Services, router
from infrastructure.entrypoints.http.schemas import ERRORS
from infrastructure.readmodels.runner import ReadModels, open_with_read_models

logger = logging.getLogger("lossledger.http")


def create_app(db: str | None = None, follow_interval: float | None = 0.5) -> FastAPI:
    """The API over the ledger at `db`; read models caught up in the background when asked."""
    ledger, models = open_with_read_models(db)
    # Readers get their own ledger whose cache fast-forwards from the store on every read, so
    # that they never see a batch's unsaved state nor miss another process's writes.
    reader = LossLedger(env={**models.database.env, "AGGREGATE_CACHE_FASTFORWARD": "y"})
    app = FastAPI(
        title="lossledger",
        version="1",
        lifespan=_following(models, follow_interval),
        responses=ERRORS,
    )
    install_problem_handlers(app)
    app.include_router(router)
    app.state.services = Services(ledger, models, reader)
    app.state.models = models
    return app


def _following(
    models: ReadModels, interval: float | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The server's lifespan: catch up once before serving, then every `interval` seconds."""
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(interval or 1.0):
            try:
                models.catch_up()
            except Exception:  # a passing database error must not end the catching up
                logger.exception("read-model catch-up failed; trying again")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        models.catch_up()
        worker = threading.Thread(target=follow, daemon=True) if interval else None
        if worker:
            worker.start()
        yield
        stop.set()

    return lifespan

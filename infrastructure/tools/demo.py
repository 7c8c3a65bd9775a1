"""`lossledger demo`: generate a market with a flash crash, apply it, settle, report."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from domain.core.errors import LedgerError
from domain.queries.cycle_report import cycle_document
from infrastructure.apply.runner import apply_file
from infrastructure.entrypoints.console import print_cycle
from infrastructure.eventstore.database_url import db_url
from infrastructure.readmodels.runner import open_with_read_models
from infrastructure.tools.market import generate, lines


def run_demo(
    console: Console,
    errors: Console,
    db: str | None,
    accounts: int,
    seed: int,
    out: Path | None,
) -> None:
    started = time.perf_counter()
    market = generate(accounts, seed)
    path = out or Path(f"lossledger-demo-{seed}.jsonl")
    path.write_text("".join(line + "\n" for line in lines(market)), encoding="utf-8")
    url = db_url(db)
    console.print(
        f"Generated {len(market.commands):,} commands for {accounts:,} accounts "
        f"(seed {seed}) into {path}; applying to {url}",
        highlight=False,
    )
    ledger, models = open_with_read_models(url)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task("applying", total=len(market.commands))
        result = apply_file(ledger, path, lambda _size: progress.advance(task))
        task = progress.add_task("projecting", total=models.log_position() - models.position())
        models.catch_up(lambda count: progress.advance(task, count))
    if not result.ok:
        raise LedgerError(
            f"line {result.refused_line}: command {result.refused_id} refused: {result.reason}"
        )
    elapsed = time.perf_counter() - started
    console.print(
        f"{result.applied:,} commands applied, {result.already_applied:,} already applied, "
        f"{result.events_written:,} events written in {elapsed:.1f} s",
        highlight=False,
    )
    print_cycle(console, cycle_document(ledger, market.cycle))
    console.print(
        f"Apply it again (nothing changes: commands are idempotent):\n"
        f"  lossledger apply {path} --db {url}\n"
        f"  lossledger cycle replay {market.cycle} --db {url}",
        highlight=False,
        soft_wrap=True,
    )

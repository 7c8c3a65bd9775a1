"""The `lossledger` command line (SPEC 7)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

from domain.core.errors import LedgerError
from domain.ledger import LossLedger
from domain.queries.cycle_report import cycle_document
from domain.queries.explain import explain
from domain.queries.replay import replay_cycle
from infrastructure.apply.runner import apply_file
from infrastructure.audit.export import export_cycle
from infrastructure.audit.verify import verify
from infrastructure.entrypoints.console import print_cycle, print_explanation, print_history
from infrastructure.entrypoints.http.tokens import create_token
from infrastructure.eventstore.database_url import (
    DB_ENV,
    db_url,
    open_existing_ledger,
    parse_database,
    require_ledger,
)
from infrastructure.readmodels.queries import account_history, parse_as_of
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import (
    ReadModels,
    follow,
    open_existing_with_read_models,
    open_with_read_models,
)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="The socialized-loss ledger.",
)
cycle_app = typer.Typer(no_args_is_help=True, help="Read and replay settlement cycles.")
projections_app = typer.Typer(no_args_is_help=True, help="The read models.")
audit_app = typer.Typer(no_args_is_help=True, help="Evidence for auditors.")
token_app = typer.Typer(no_args_is_help=True, help="Access tokens of the HTTP API.")
app.add_typer(cycle_app, name="cycle")
app.add_typer(projections_app, name="projections")
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")

console = Console()
if not console.is_terminal:  # a pipe or a file: wide enough for every column of the reports
    console.width = 160
errors = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar=DB_ENV, help="Database URL (default sqlite:///lossledger.db)."),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    # the reason may quote the input: printed as text, never as rich markup
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def refusals(code: int = 1) -> Iterator[None]:
    """A LedgerError raised inside ends the command: its one line on stderr, this exit status."""
    try:
        yield
    except LedgerError as error:
        raise fail(str(error), code) from None


def show(
    document: dict[str, Any], as_json: bool, printer: Callable[[Console, dict[str, Any]], None]
) -> None:
    """A document as JSON on stdout, or printed for a person."""
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        printer(console, document)


def existing_ledger(db: str | None) -> LossLedger:
    """The ledger stored at the URL, or exit 2 with "no ledger at URL": only apply, demo and
    token create create a store (infrastructure/eventstore/database_url.py)."""
    with refusals(2):
        ledger = open_existing_ledger(db)
    return ledger


def existing_read_models(db: str | None) -> ReadModels:
    with refusals(2):
        _ledger, models = open_existing_with_read_models(db)
    return models


@app.command("apply")
def apply_command(
    file: Annotated[Path, typer.Argument(help="A JSON Lines command file.")],
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Apply a command file: idempotent by id; stops at the first refusal."""
    if not file.is_file():
        raise fail(f"no such command file: {file}", 2)
    with refusals(2):
        ledger, models = open_with_read_models(db)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=errors,
        disable=quiet or not errors.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task(f"applying {file.name}", total=file.stat().st_size)
        with refusals(2):  # a setting it cannot run with (LOSSLEDGER_APPLY_ATTEMPTS)
            # a batch that conflicts with another writer is retried inside, up to the bound
            result = apply_file(ledger, file, lambda size: progress.advance(task, size))
    models.catch_up()  # what was applied is projected, even when a later line was refused
    summary = (
        f"{result.applied} applied, {result.already_applied} already applied, "
        f"{result.events_written} events written"
    )
    if not result.ok:
        console.print(summary, highlight=False)
        raise fail(
            f"line {result.refused_line}: command {result.refused_id or '(no id)'} refused: "
            f"{result.reason}"
        )
    console.print(summary, highlight=False)


@cycle_app.command("show")
def cycle_show(
    cycle: Annotated[str, typer.Argument(help="The cycle id.")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document.")] = False,
) -> None:
    """The settlement of a cycle: waterfall, participants, digest."""
    ledger = existing_ledger(db)
    with refusals():
        document = cycle_document(ledger, cycle)
    show(document, as_json, print_cycle)


@cycle_app.command("replay")
def cycle_replay(
    cycle: Annotated[str, typer.Argument(help="The cycle id.")],
    db: DbOption = None,
) -> None:
    """Recompute a cycle from its recorded events and compare it field by field."""
    ledger = existing_ledger(db)
    with refusals():
        replay = replay_cycle(ledger, cycle)
    differences = replay.differences
    if differences:
        raise fail(
            f"replay of cycle {cycle} differs: {differences[0]}"
            + (f" (and {len(differences) - 1} more)" if len(differences) > 1 else "")
        )
    console.print(
        f"cycle {cycle} replays identically: {replay.digest}", highlight=False, soft_wrap=True
    )


@app.command("demo")
def demo_command(
    db: DbOption = None,
    accounts: Annotated[int, typer.Option(min=10, max=1_000_000, help="Accounts.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated market.")] = 42,
    out: Annotated[Path | None, typer.Option(help="Where to write the command file.")] = None,
) -> None:
    """Generate a market with a flash crash, apply it, settle, print the cycle report."""
    from infrastructure.tools.demo import run_demo

    with refusals():
        run_demo(console, errors, db, accounts, seed, out)


@app.command("bench")
def bench_command(
    positions: Annotated[
        int, typer.Option(min=100, max=10_000_000, help="Positions in the generated market.")
    ] = 100_000,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Where to run: a new SQLite file (default: in a temporary directory) or a "
            "PostgreSQL database, in a fresh schema dropped afterwards.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated market.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    keep: Annotated[bool, typer.Option(help="Keep the PostgreSQL schema afterwards.")] = False,
    repeats: Annotated[
        int, typer.Option(min=1, max=9, help="Runs on fresh stores; figures are medians.")
    ] = 1,
    profile: Annotated[
        Path | None,
        typer.Option(help="Write a pyinstrument profile of each phase into this directory."),
    ] = None,
) -> None:
    """Measure apply, settlement, replay and projections on a market of N positions."""
    from infrastructure.tools.bench import run_bench

    def phase(message: str) -> None:
        errors.print(f"[dim]bench:[/dim] {message}", highlight=False, soft_wrap=True)

    # stopped with SIGTERM, a long run still drops its PostgreSQL schema and temporary files
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))

    with refusals():
        figures = run_bench(
            positions, seed=seed, db=db, keep=keep, phase=phase, repeats=repeats, profile=profile
        )
    if as_json:
        print(json.dumps(figures))
        return
    context = figures.pop("machine")
    for key, value in {**figures, **{f"machine.{k}": v for k, v in context.items()}}.items():
        console.print(
            f"{key:>32}  {value:,}" if isinstance(value, int | float) else f"{key:>32}  {value}",
            highlight=False,
        )


@app.command("history")
def history_command(
    account: Annotated[str, typer.Argument(help="The account id.")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Business time, RFC 3339 UTC.")
    ] = None,
) -> None:
    """The account's fund-flow entries and its balance, as of a business time when asked."""
    models = existing_read_models(db)
    with refusals():
        models.catch_up()
        document = account_history(models.engine, account, parse_as_of(as_of))
    show(document, as_json, print_history)


@projections_app.command("rebuild")
def projections_rebuild(db: DbOption = None) -> None:
    """Drop every read model and rebuild it from the event log."""
    models = existing_read_models(db)
    applied = models.rebuild()
    console.print(f"read models rebuilt from {applied} events", highlight=False)


@projections_app.command("follow")
def projections_follow(
    db: DbOption = None,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    max_seconds: Annotated[
        float | None, typer.Option(help="Stop after this long (default: until interrupted).")
    ] = None,
) -> None:
    """Keep the read models caught up in the background: poll the log and apply what is new."""
    models = existing_read_models(db)
    applied = follow(models, interval, max_seconds)
    console.print(f"followed the log: {applied} events applied", highlight=False)


@app.command("explain")
def explain_command(
    account: Annotated[str, typer.Argument(help="The account id.")],
    cycle: Annotated[str, typer.Option("--cycle", help="The settled cycle.")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document.")] = False,
) -> None:
    """Why the account bore what it bore in a cycle, step by step, citing the events."""
    ledger = existing_ledger(db)
    with refusals():
        document = explain(ledger, account, cycle)
    show(document, as_json, print_explanation)


@audit_app.command("export")
def audit_export(
    cycle: Annotated[str, typer.Argument(help="The settled cycle.")],
    out: Annotated[Path, typer.Option("--out", help="The directory to write into.")],
    db: DbOption = None,
) -> None:
    """Export a cycle's events, participants, postings, chain segment and an HTML report."""
    ledger = existing_ledger(db)
    with refusals():
        written = export_cycle(ledger, cycle, out)
    console.print(
        f"exported cycle {cycle} to {out}: {written['events']} events, "
        f"{written['participants']} participants, {written['postings']} postings, "
        f"{written['chain_positions']} chain positions; open {out / 'report.html'}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("verify")
def verify_command(
    db: DbOption = None,
    start: Annotated[int, typer.Option("--from", min=1, help="First log position.")] = 1,
) -> None:
    """Recompute the audit chain of the whole store (or from a position) and check it."""
    ledger = existing_ledger(db)
    try:
        result = verify(ledger.recorder, start)  # type: ignore[arg-type]
    except Exception as error:  # a store that cannot be read is no verdict on the chain
        raise fail(f"cannot read the store: {error}", 2) from None
    if not result.ok:
        raise fail(f"position {result.first_bad_position}: {result.reason}")
    console.print(
        f"verified {result.events} events from position {result.start}; "
        f"head {result.head_hash or '(empty log)'} at position {result.head_position}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("reconcile")
def reconcile_command(
    db: DbOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the discrepancies as JSON.")
    ] = False,
) -> None:
    """Check every read model against the aggregates and the zero-sum rule."""
    models = existing_read_models(db)
    models.catch_up()
    discrepancies = reconcile(models)
    if as_json:
        sys.stdout.write(
            json.dumps(discrepancies, indent=2, ensure_ascii=False, default=str) + "\n"
        )
    else:
        for item in discrepancies:
            console.print(
                f"{item['check']} [{item['key']}]: expected {item['expected']!r}, "
                f"found {item['actual']!r}",
                highlight=False,
                soft_wrap=True,
            )
        console.print(f"{len(discrepancies)} discrepancies", highlight=False)
    if discrepancies:
        raise typer.Exit(1)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="trader, auditor or operator.")],
    account: Annotated[str | None, typer.Option("--account", help="A trader's account.")] = None,
    db: DbOption = None,
) -> None:
    """Create a bearer token; it is printed once and stored only as a hash."""
    with refusals(2):
        _ledger, models = open_with_read_models(db)  # a first token may come before any command
        token = create_token(models.engine, role, account)
    sys.stdout.write(token + "\n")


@app.command("serve")
def serve_command(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the HTTP API (FastAPI on uvicorn) over the same database as the CLI."""
    import uvicorn

    from infrastructure.entrypoints.http.app import create_app

    with refusals(2):
        require_ledger(parse_database(db_url(db)))
        api = create_app(db)
    uvicorn.run(api, host=host, port=port, log_level="warning")


def main() -> None:
    app()

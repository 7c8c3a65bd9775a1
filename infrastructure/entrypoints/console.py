"""The human-readable cycle report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

TOP_SHARES = 10


def print_cycle(console: Console, document: dict[str, Any]) -> None:
    asset = document["policy"]["asset"]
    console.print(f"[bold]Cycle {document['cycle']}[/bold] ({document['status']})")
    if document["status"] != "settled":
        console.print(f"deficit so far: {document['deficit']} {asset}")
        return
    waterfall = Table(title="Loss waterfall", show_header=False, title_justify="left")
    waterfall.add_column("figure")
    waterfall.add_column("amount", justify="right")
    rows = [
        ("Deficit (takeover losses)", document["deficit"]),
        ("Insurance fund draw", document["fund_drawn"]),
        ("Shared by profitable positions", document["collected"]),
        ("Uncovered (booked to the platform)", document["uncovered"]),
        (
            "Insurance fund before / after",
            f"{document['fund_balance_before']} / {document['fund_balance_after']}",
        ),
        (
            "Total profit / selected profit",
            f"{document['total_profit']} / {document['selected_profit']}",
        ),
    ]
    for label, value in rows:
        waterfall.add_row(label, f"{value} {asset}")
    waterfall.add_row(
        "Participants",
        f"{len(document['participants'])}"
        + (" (selection extended)" if document["extended"] else ""),
    )
    waterfall.add_row("Rate (share of each selected profit)", document["rate"])
    console.print(waterfall)
    top = Table(title=f"Top {TOP_SHARES} shares", title_justify="left")
    for column in ("rank", "account", "contract", "profit", "share"):
        top.add_column(column, justify="right" if column in ("rank", "profit", "share") else "left")
    for participant in document["participants"][:TOP_SHARES]:
        top.add_row(
            str(participant["rank"]),
            participant["account"],
            participant["contract"],
            participant["profit"],
            participant["share"],
        )
    console.print(top)
    console.print(f"digest {document['digest']}", highlight=False, soft_wrap=True)


def print_history(console: Console, document: dict[str, Any]) -> None:
    title = f"Account {document['account']}" + (
        f" as of {document['as_of']}" if document["as_of"] else ""
    )
    table = Table(title=title, title_justify="left")
    for column in ("at", "type", "amount", "on", "cash after", "margin after", "cycle", "contract"):
        table.add_column(
            column, justify="right" if "after" in column or column == "amount" else "left"
        )
    for entry in document["entries"]:
        table.add_row(
            entry["at"],
            entry["type"],
            entry["amount"],
            entry["balance"],
            entry["cash_after"],
            entry["margin_after"],
            entry["cycle"] or "",
            entry["contract"] or "",
        )
    console.print(table)
    balance = document["balance"]
    console.print(
        f"cash {balance['cash']}, margin {balance['margin']}, withheld {balance['withheld']}, "
        f"available {balance['available']}",
        highlight=False,
        soft_wrap=True,
    )


def print_explanation(console: Console, document: dict[str, Any]) -> None:
    console.print(
        f"[bold]Why account {document['account']} bore {document['share']} in cycle "
        f"{document['cycle']}[/bold]"
    )
    for number, step in enumerate(document["steps"], start=1):
        console.print(f"{number}. {step['text']}", highlight=False, soft_wrap=True)
        if step["events"]:
            console.print(
                f"   events: {', '.join(step['events'])}",
                style="dim",
                highlight=False,
                soft_wrap=True,
            )

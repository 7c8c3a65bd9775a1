"""`lossledger audit export ID --out DIR`: one cycle's evidence, for an auditor, as files.

- events.json / events.csv: every event of the cycle, with its log position and event id;
- participants.json / participants.csv: rank, account, contract, profit, share;
- postings.json / postings.csv: every posting the cycle's events carry;
- chain.json: the chain segment from the cycle's opening to its settlement, with each stored
  event's raw bytes (base64) and chain hash, the hash before it, the settlement's anchor and the
  chain head at export, so the segment can be re-verified offline (docs/audit-format.md);
- report.html: a self-contained report with the waterfall chart and the distribution of shares.
"""

from __future__ import annotations

import base64
import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.core.ids import cycle_id, event_ref
from domain.core.settlement_rows import row_ref
from domain.ledger import LossLedger
from domain.queries.cycle_report import cycle_document, load_cycle
from infrastructure.audit.html_report import render_report
from infrastructure.eventstore.chain import ChainedRow

SCAN = 10**9


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(item) for item in value]
    return value


def _event_row(position: int, event: Any) -> dict[str, Any]:
    attributes = {
        key: _plain(value)
        for key, value in vars(event).items()
        if key not in ("originator_id", "originator_version", "timestamp", "originator_topic")
    }
    return {
        "position": position,
        "event_id": f"{event.originator_id}:{event.originator_version}",
        "type": f"{type(event).__qualname__}",
        "at": attributes.pop("at", None),
        "attributes": attributes,
    }


def _postings(event: Any) -> list[tuple[str, list[Any]]]:
    """An event's postings with how each is cited: a chunk event's by the row of its account."""
    reference = event_ref(event)
    if hasattr(event, "postings_by_account"):
        cited = []
        index = 0
        for _, rows, postings in event.postings_by_account():
            cited.append((row_ref(reference, index), postings))
            index += len(rows)
        return cited
    return [(reference, list(getattr(event, "postings", []) or []))]


def _cycle_events(ledger: LossLedger, name: str) -> list[tuple[int, Any]]:
    """(position, event) of every event that belongs to the cycle, in log order."""
    key = cycle_id(name)
    notifications = ledger.recorder.select_notifications(start=1, limit=SCAN)
    found = []
    for notification in notifications:
        if notification.originator_id == key or f'"cycle":"{name}"'.encode() in notification.state:
            event = ledger.mapper.to_domain_event(notification)
            if notification.originator_id == key or getattr(event, "cycle", None) == name:
                found.append((notification.id, event))
    return found


def _write(directory: Path, stem: str, rows: list[dict[str, Any]]) -> None:
    (directory / f"{stem}.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    columns = list(rows[0]) if rows else []
    with (directory / f"{stem}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
            )


def _chain_segment(ledger: LossLedger, first: int, last: int) -> dict[str, Any]:
    recorder: Any = ledger.recorder
    previous = None
    segment = []
    row: ChainedRow
    for row in recorder.chained_rows(1):
        if row.position < first:
            previous = row.chain_hash
            continue
        if row.position > last:
            break
        event = row.event
        segment.append(
            {
                "position": row.position,
                "originator_id": str(event.originator_id) if event else None,
                "originator_version": event.originator_version if event else None,
                "topic": event.topic if event else None,
                "state_base64": base64.b64encode(event.state).decode() if event else None,
                "chain_hash": row.chain_hash.hex() if row.chain_hash else None,
            }
        )
    head = recorder.chain_head()
    return {
        "format": "docs/audit-format.md (lossledger-chain-v1)",
        "first_position": first,
        "last_position": last,
        "previous_chain_hash": (previous or bytes(32)).hex(),
        "segment": segment,
        "head_at_export": {"position": head[0], "hash": head[1].hex()} if head else None,
    }


def export_cycle(ledger: LossLedger, name: str, out: Path) -> dict[str, Any]:
    """Write the cycle's audit package into `out`; return what was written."""
    document = cycle_document(ledger, name)
    cycle = load_cycle(ledger, name)
    out.mkdir(parents=True, exist_ok=True)
    events = _cycle_events(ledger, name)
    event_rows = [_event_row(position, event) for position, event in events]
    _write(out, "events", event_rows)
    _write(out, "participants", list(document.get("participants", [])))
    postings = [
        {
            "position": position,
            "event_id": reference,
            "debit_account": p[0],
            "credit_account": p[1],
            "amount": _plain(p[2]),
            "kind": p[3],
            "contract": p[4] if len(p) > 4 else None,
        }
        for position, event in events
        for reference, entries in _postings(event)
        for p in entries
    ]
    _write(out, "postings", postings)
    settled = [
        position for position, event in events if type(event).__qualname__ == "Cycle.Settled"
    ]
    first = events[0][0] if events else 1
    last = settled[0] if settled else (events[-1][0] if events else 0)
    chain = _chain_segment(ledger, first, last)
    chain["anchor"] = (cycle.settlement or {}).get("chain_anchor")
    chain["digest"] = document.get("digest")
    (out / "chain.json").write_text(json.dumps(chain, indent=2))
    (out / "cycle.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
    (out / "report.html").write_text(render_report(document, chain), encoding="utf-8")
    return {
        "events": len(event_rows),
        "participants": len(document.get("participants", [])),
        "postings": len(postings),
        "chain_positions": len(chain["segment"]),
    }

"""The self-contained HTML report of one cycle: figures, waterfall chart, share distribution.

No external file, font or script: the data is embedded as JSON and a small inline script draws
the two SVG charts, so the report opens the same anywhere, offline.
"""

from __future__ import annotations

import html
import json
from decimal import Decimal
from typing import Any

TOP_ROWS = 25

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:62rem;color:#1d232a}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.2rem .7rem;border-bottom:1px solid #ddd}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}svg{background:#fafbfc;border:1px solid #e3e6ea}
.bar{shape-rendering:crispEdges}.label{font-size:12px;fill:#1d232a}
"""

SCRIPT = """
const data = JSON.parse(document.getElementById('data').textContent);
const NS = 'http://www.w3.org/2000/svg';
function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function waterfall() {
  const svg = document.getElementById('waterfall');
  const steps = [['deficit', data.deficit, '#b23b3b'], ['fund', data.fund_drawn, '#3b6fb2'],
                 ['shared', data.collected, '#d08a1e'], ['uncovered', data.uncovered, '#6b6b6b']];
  const top = Math.max(data.deficit, 1e-12), height = 220, base = 250, width = 110;
  let level = 0;
  steps.forEach(([name, value, colour], i) => {
    const h = value / top * height;
    const y = i === 0 ? base - h : base - level;
    if (i > 0) level -= h; else level = h;
    svg.appendChild(el('rect', {class: 'bar', 'data-step': name, 'data-value': value,
      x: 40 + i * (width + 30), y: i === 0 ? y : base - level - h, width: width,
      height: Math.max(h, value > 0 ? 1 : 0), fill: colour}));
    svg.appendChild(el('text', {class: 'label', x: 40 + i * (width + 30), y: base + 18},
      name + ' ' + value.toFixed(2)));
  });
}
function distribution() {
  const svg = document.getElementById('distribution');
  const shares = data.shares, n = shares.length, max = Math.max(...shares, 1e-12);
  const width = 620, height = 200, w = Math.max(width / Math.max(n, 1), 0.5);
  shares.forEach((share, i) => svg.appendChild(el('rect', {class: 'bar', 'data-rank': i + 1,
    x: 40 + i * w, y: 230 - share / max * height, width: w > 3 ? w - 1 : w,
    height: share / max * height,
    fill: '#d08a1e'})));
  svg.appendChild(el('text', {class: 'label', x: 40, y: 250},
    n + ' participants by rank; tallest share ' + max.toFixed(2)));
}
waterfall();
distribution();
document.body.setAttribute('data-rendered', 'yes');
"""


def _row(label: str, value: Any) -> str:
    return f"<tr><th>{html.escape(label)}</th><td class=n>{html.escape(str(value))}</td></tr>"


def render_report(document: dict[str, Any], chain: dict[str, Any]) -> str:
    participants = document.get("participants", [])
    data: dict[str, Any] = {
        key: float(Decimal(document.get(key, "0")))
        for key in ("deficit", "fund_drawn", "collected", "uncovered")
    }
    data["shares"] = [float(Decimal(p["share"])) for p in participants]
    asset = document["policy"]["asset"]
    figures = "".join(
        _row(label, f"{document.get(key, '')} {asset}")
        for label, key in (
            ("Deficit", "deficit"),
            ("Insurance fund draw", "fund_drawn"),
            ("Shared by participants", "collected"),
            ("Uncovered (platform)", "uncovered"),
            ("Fund before", "fund_balance_before"),
            ("Fund after", "fund_balance_after"),
            ("Total profit", "total_profit"),
            ("Selected profit", "selected_profit"),
            ("Refunded", "refunded"),
        )
    )
    figures += _row("Participants", len(participants)) + _row("Rate", document.get("rate", ""))
    top = "".join(
        f"<tr><td class=n>{p['rank']}</td><td>{html.escape(p['account'])}</td>"
        f"<td>{html.escape(p['contract'])}</td><td class=n>{p['profit']}</td>"
        f"<td class=n>{p['share']}</td></tr>"
        for p in participants[:TOP_ROWS]
    )
    anchor = chain.get("anchor") or {}
    head = chain.get("head_at_export") or {}
    embedded = json.dumps(data).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<title>Cycle {html.escape(document["cycle"])}: socialized loss report</title>
<style>{STYLE}</style></head>
<body>
<h1>Cycle {html.escape(document["cycle"])}: socialized loss</h1>
<p>Policy version {document["policy"]["version"]}: fund mode {document["policy"]["fund_mode"]},
fund share {document["policy"]["fund_share"]}, profit cutoff {document["policy"]["profit_cutoff"]},
denominator {document["policy"]["denominator"]}.</p>
<table>{figures}</table>
<h2>Waterfall</h2>
<svg id=waterfall width=640 height=280 role=img aria-label="loss waterfall"></svg>
<h2>Distribution of shares over participants</h2>
<svg id=distribution width=700 height=260 role=img aria-label="shares by rank"></svg>
<h2>Top {min(TOP_ROWS, len(participants))} of {len(participants)} participants</h2>
<table><tr><th class=n>rank</th><th>account</th><th>contract</th><th class=n>profit</th>
<th class=n>share</th></tr>{top}</table>
<h2>Evidence</h2>
<table>
{_row("Digest", document.get("digest", ""))}
{
        _row(
            "Chain anchor (head before settlement)",
            f"{anchor.get('hash', '')} at position {anchor.get('position', '')}",
        )
    }
{_row("Chain head at export", f"{head.get('hash', '')} at position {head.get('position', '')}")}
</table>
<p>Re-verify with <code>lossledger verify</code> or docs/audit/verify_chain.py; the segment and
its raw events are in chain.json.</p>
<script id=data type="application/json">{embedded}</script>
<script>{SCRIPT}</script>
</body></html>
"""

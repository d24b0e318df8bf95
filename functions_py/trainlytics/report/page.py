"""The report page's shared pieces: the Content-Security-Policy, the style sheet, and small
HTML builders (tables, legends, tiles, badges). Every string from the database is escaped by
the caller or here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["CSP", "CSS", "badge", "legend", "table", "tile"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)

CSS = """
:root {
  --ink: #1c2127; --muted: #5b6570; --faint: #8a939c; --line: #e3e6ea; --paper: #ffffff;
  --page: #f5f6f4; --accent: #0072b2; --good: #1b7f4c; --warn: #a15c00; --bad: #b3261e;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans",
    "Liberation Sans", Arial, sans-serif;
}
main { max-width: 1080px; margin: 0 auto; padding: 32px 20px 48px; }
header.top { margin-bottom: 24px; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted);
  font-weight: 600; margin: 0 0 4px; }
h1 { font-size: 30px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -.01em; }
h2 { font-size: 20px; margin: 0 0 4px; letter-spacing: -.005em; }
h3 { font-size: 15px; margin: 20px 0 8px; color: var(--muted); }
p { margin: 0 0 10px; }
.sub { color: var(--muted); margin: 0; }
section.card { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 22px; margin: 0 0 20px; }
.card > p.lead { color: var(--muted); margin-bottom: 14px; max-width: 70ch; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px;
  margin: 0 0 20px; }
.tile { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; }
.tile .label { font-size: 13px; color: var(--muted); }
.tile .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums;
  white-space: nowrap; line-height: 1.2; margin-top: 2px; }
.tile .note { font-size: 13px; color: var(--muted); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
.chart { overflow-x: auto; margin: 6px 0 4px; }
.chart svg { display: block; width: 100%; min-width: 520px; height: auto; }
.chart-svg text { font-size: 12px; fill: var(--muted); font-family: inherit; }
.chart-svg .axis-label { font-size: 12px; fill: var(--ink); font-weight: 600; }
.chart-svg .grid { stroke: var(--line); stroke-width: 1; }
.chart-svg .grid.zero, .chart-svg .axis { stroke: #9aa3ab; stroke-width: 1; }
.chart-svg .grid.vertical { stroke-dasharray: 2 4; }
.chart-svg .line { stroke-width: 2.5; stroke-linejoin: round; stroke-linecap: round; }
.chart-svg .load-bar { fill: #c9ced3; }
.chart-svg .tsb { stroke: #3d4650; stroke-width: 1.5; }
.chart-svg .tsb-fresh { fill: #009e73; opacity: .35; }
.chart-svg .tsb-tired { fill: #d55e00; opacity: .35; }
.chart-svg .mark:hover { opacity: .8; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; list-style: none; padding: 0;
  margin: 8px 0 0; font-size: 14px; color: var(--muted); }
.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { width: 12px; height: 12px; border-radius: 3px; display: inline-block; }
.swatch.line { height: 3px; border-radius: 2px; width: 18px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption { text-align: left; font-size: 13px; padding: 0 0 6px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:last-child td { border-bottom: none; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.badge.ok { color: var(--good); } .badge.warn { color: var(--warn); }
.badge.bad { color: var(--bad); } .badge.off { color: var(--faint); }
.error-text { color: var(--bad); font-size: 13px; }
.empty { color: var(--muted); font-style: italic; }
.chart-svg .map-bg { fill: #eef2ee; }
.chart-svg .route { stroke-width: 3; stroke-linejoin: round; stroke-linecap: round; }
.chart-svg .endpoint { stroke: #fff; stroke-width: 2; }
section.activity h2 .when { color: var(--muted); font-weight: 400; font-size: 15px; }
article.athlete { margin: 0 0 36px; }
article.athlete > h2 { font-size: 24px; margin: 0 0 12px; }
nav.toc { font-size: 14px; margin: 0 0 20px; }
nav.toc a { color: var(--accent); margin-right: 14px; }
footer { color: var(--faint); font-size: 13px; margin-top: 28px; }
@media (max-width: 760px) {
  main { padding: 20px 12px 32px; }
  h1 { font-size: 24px; }
  .grid2 { grid-template-columns: 1fr; }
  section.card { padding: 16px 14px; }
  .tile .value { font-size: 22px; }
}
@media print {
  body { background: #fff; }
  section.card, .tile { break-inside: avoid; border-color: #ccc; }
  .chart { overflow: visible; }
  .chart svg { min-width: 0; }
}
"""

_STATUS_CLASS = {
    "active": "ok",
    "success": "ok",
    "error": "warn",
    "partial": "warn",
    "running": "off",
    "revoked": "bad",
    "failed": "bad",
    "disconnected": "off",
}


def badge(status: str) -> str:
    return f'<span class="badge {_STATUS_CLASS.get(status, "off")}">{escape(status)}</span>'


def table(
    headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]], caption: str = ""
) -> str:
    """Rows are pre-escaped HTML cells; headers are (text, numeric)."""
    head = "".join(
        f'<th scope="col"{" class=num" if numeric else ""}>{escape(text)}</th>'
        for text, numeric in headers
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if numeric else ''}>{cell}</td>"
            for cell, (_, numeric) in zip(row, headers, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    cap = f"<caption class=sub>{escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def legend(items: Iterable[tuple[str, str]], line: bool = False) -> str:
    kind = "swatch line" if line else "swatch"
    return (
        '<ul class="legend">'
        + "".join(
            f'<li><span class="{kind}" style="background:{color}"></span>{escape(name)}</li>'
            for name, color in items
        )
        + "</ul>"
    )


def tile(label: str, value: str, note: str = "") -> str:
    note_html = f'<div class="note">{escape(note)}</div>' if note else ""
    return (
        f'<div class="tile"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div>{note_html}</div>'
    )

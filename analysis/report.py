"""The campaign report: one self-contained HTML page, the figure files beside it, and the JSON.

``write_campaign_report(catalog, campaign_id, directory)`` analyses a campaign from the
catalog and writes ``directory/index.html`` (every figure embedded as a base64 PNG, every
result in a table with its error, unit and method; no link, script or style sheet from
elsewhere, so the page opens anywhere, also offline and mailed), the figures as PNG and SVG
in ``directory/figures/``, and ``directory/analysis.json`` (what ``simslab analyze --json``
prints). ``simslab report`` and ``simslab demo`` call it.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import time
from pathlib import Path
from typing import Any

from .campaign_analysis import analyze_campaign
from .campaign_results import CampaignAnalysis
from .diffusion_settings import DiffusionSettings
from .report_figures import ReportFigure, write_figures
from .report_rows import Row, summary_rows
from .whole_map_geometry import FOUND_IN_C_BIAS

__all__ = ["write_campaign_report", "write_report", "REPORT_NAME", "DEMO_SETTINGS"]

log = logging.getLogger(__name__)

REPORT_NAME = "index.html"
DEMO_SETTINGS = {"whole_map": "first", "whole_map_columns": 256, "line_scans": False}
"""The demo's shortened analysis: the whole-map fit on the first map's 256 columns nearest the edge
only, no line scans (each costs catalog requests); the report says so."""
_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-top: 0.6em; }
table { border-collapse: collapse; width: 100%; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; white-space: nowrap; font-family: monospace; }
td.method { color: #555; font-size: 0.9em; } figure { margin: 1em 0; } img { max-width: 100%; }
figcaption { font-size: 0.85em; color: #444; } .note { background: #fff6d8; padding: 0.5em 0.8em; }
"""


def write_campaign_report(catalog: Any, campaign_id: str, directory: str | Path,
                          settings: DiffusionSettings | None = None, **overrides: Any) -> Path:
    """Analyse ``campaign_id`` from the catalog and write its report into ``directory``; return the HTML path."""
    analysis = analyze_campaign(catalog, campaign_id, settings, **overrides)
    return write_report(analysis, directory)


def write_report(analysis: CampaignAnalysis, directory: str | Path) -> Path:
    """Write the HTML page, the figures (PNG, SVG) and the JSON of an analysis; return the HTML path."""
    started = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = write_figures(analysis, directory / "figures")
    (directory / "analysis.json").write_text(json.dumps(analysis.to_dict(), indent=1), encoding="utf-8")
    page = directory / REPORT_NAME
    page.write_text(_page(analysis, summary_rows(analysis), figures), encoding="utf-8")
    log.info("report of %s: %d figures in %.1f s", analysis.campaign_id, len(figures), time.perf_counter() - started)
    return page


def _page(analysis: CampaignAnalysis, rows: list[Row], figures: list[ReportFigure]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>simslab report: {e(analysis.campaign_id)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Campaign {e(analysis.campaign_id)}</h1>",
        f"<p>{e(analysis.description)}</p>",
        f"<p>{'Simulated lab (digital twin). ' if analysis.simulated else ''}Analysed "
        f"{len(analysis.runs_analysed)} runs in {analysis.elapsed_s:.1f} s on {e(time.strftime('%Y-%m-%d %H:%M'))}; "
        f"{e(analysis.method)}.</p>",
    ]
    notes = _notes(analysis)
    if notes:
        parts.append('<div class="note"><b>Read this first</b><ul>' + "".join(f"<li>{e(n)}</li>" for n in notes)
                     + "</ul></div>")
    parts.append("<h2>Results</h2>")
    parts.append(_table(rows))
    sections = (("Tracer diffusion", lambda f: not f.name.startswith(("charge_", "image_grid", "roi_", "dose"))),
                ("Operando", lambda f: f.name.startswith(("charge_", "image_grid", "roi_"))),
                ("Dose", lambda f: f.name.startswith("dose")))
    for title, chosen in sections:
        shown = [f for f in figures if chosen(f)]
        if shown:
            parts.append(f"<h2>{e(title)}</h2>")
            parts.extend(_figure(f) for f in shown)
    parts.append("<h2>Runs</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in analysis.runs_analysed) + "</ul>")
    parts.append(f"<p>Figure files (PNG and SVG) are in the folder <code>figures</code> beside this page; all numbers "
                 f"in SI units with their methods in <code>analysis.json</code>.</p></body></html>")
    return "\n".join(parts)


def _notes(analysis: CampaignAnalysis) -> list[str]:
    notes = [f"quench check failed: {flag}" for flag in analysis.quench_flags]
    notes += [f"run not analysed: {skipped}" for skipped in analysis.runs_skipped]
    d = analysis.diffusion
    if d is not None:
        if not d.settings.get("line_scans", True):
            notes.append("line scans not read: no depth check (a shortened analysis)")
        if d.settings.get("whole_map") != "all":
            notes.append(f"whole-map fit only on the {d.settings.get('whole_map')} map(s) (a shortened analysis)")
        if d.long_range is not None:
            notes.append(d.long_range.origin_note)
        if d.images and "registered" not in d.images[0].boundary_source:
            notes.append("No registered boundary map (etched optical image): grain boundaries were found from the "
                         "steps of C, which finds only a selection; per-boundary values are pooled in flux mode and "
                         f"the whole-map value is biased (measured {FOUND_IN_C_BIAS}). Register the etched image "
                         "(simslab report --boundaries FILE) for the whole-map value to count.")
        for image in d.images:
            if image.whole_map_note and image.whole_map_note != "not asked for":
                notes.append(f"whole-map fit of {image.label} ({image.uid[:8]}): {image.whole_map_note}")
    return notes


def _table(rows: list[Row]) -> str:
    e = html.escape
    body = ["<table><tr><th>section</th><th>quantity</th><th>value</th><th>error</th><th>unit</th><th>T</th>"
            "<th>method (JSON path)</th></tr>"]
    for row in rows:
        value, error = row.shown()
        body.append(f"<tr><td>{e(row.section)}</td><td>{e(row.quantity)}</td><td class=num>{e(value)}</td>"
                    f"<td class=num>{e(error)}</td><td>{e(row.unit)}</td><td>{e(row.temperature_c)}</td>"
                    f"<td class=method>{e(row.method)} <code>({e(row.path)})</code></td></tr>")
    body.append("</table>")
    return "\n".join(body)


def _figure(figure: ReportFigure) -> str:
    encoded = base64.b64encode(figure.png.read_bytes()).decode("ascii")
    files = ", ".join(p.name for p in figure.paths)
    return (f'<figure id="{html.escape(figure.name)}"><img alt="{html.escape(figure.name)}" '
            f'src="data:image/png;base64,{encoded}"><figcaption>{html.escape(figure.caption)} '
            f"<i>Files: {html.escape(files)}.</i></figcaption></figure>")

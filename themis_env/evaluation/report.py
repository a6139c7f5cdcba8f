"""``leaderboard.html``: the leaderboard as one self-contained page.

The page holds the ranked tables (click a heading to sort), each scenario's cost–attainment
frontier plot, each policy's timelines, the suite, package and env versions, and relative links
to the records and tables beside it. Images are inline (``data:`` URIs) and the one script is
inline, so the file opens offline and can be mailed on its own.

The script also writes what it found into ``<body data-report-status=...>`` once the page has
loaded (rows per table, images that failed to decode, errors raised), so a headless browser
can check the page without a DevTools client.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from themis_env.evaluation.leaderboard import (
    RANKING_DEFINITION,
    SCORE_DEFINITION,
    Leaderboard,
    footnotes,
    overall_table,
    scenario_table,
    write_atomic,
)
from themis_env.evaluation.run_record import RunRecord

__all__ = ["REPORT_FILE", "report_status", "to_html", "write_report"]

REPORT_FILE = "leaderboard.html"

# Links to the files a leaderboard folder holds beside the page.
_LINKS = (
    ("records.jsonl", "run records (one JSON line per run)"),
    ("run.json", "the invocation"),
    ("leaderboard.md", "Markdown tables"),
    ("leaderboard.csv", "CSV"),
    ("leaderboard.json", "JSON"),
)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:110em}
table{border-collapse:collapse;margin:0.5em 0 1em;font-size:0.85em}
th,td{border:1px solid #ccc;padding:0.25em 0.5em;text-align:right;white-space:nowrap}
th{background:#f0f0f0;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td:nth-child(2){text-align:left}
tr.met td:nth-child(3){color:#060}tr.unmet td:nth-child(3){color:#a00}
img{max-width:100%;border:1px solid #ddd}details{margin:0.3em 0}
.timelines img{max-width:48em;display:block;margin:0.3em 0}.meta td{text-align:left}
"""

# Sort on a click (numbers by value: "0.99 ± 0.01" by 0.99, "no −0.05" by −0.05; "—" and
# "n/a" last), then report what the page holds into the body's data-report-status.
_SCRIPT = r"""
(function(){
  const errors = [];
  window.addEventListener("error", e => errors.push(String(e.message || e)));
  const origError = console.error;
  console.error = function(...a){
    errors.push(a.map(String).join(" "));
    origError.apply(console, a);
  };
  function key(text){
    const t = text.replace(/^(yes|no)\s+/, "").replace("\u2212", "-").trim();
    const x = parseFloat(t);
    return isNaN(x) ? null : x;
  }
  function sortBy(table, col, th){
    const body = table.tBodies[0];
    const asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(h => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const ta = a.cells[col].textContent, tb = b.cells[col].textContent;
      const ka = key(ta), kb = key(tb);
      if (ka === null && kb === null) return asc ? ta.localeCompare(tb) : tb.localeCompare(ta);
      if (ka === null) return 1;
      if (kb === null) return -1;
      return asc ? ka - kb : kb - ka;
    });
    rows.forEach(r => body.appendChild(r));
  }
  document.querySelectorAll("table.ranked").forEach(table => {
    table.querySelectorAll("th").forEach((th, col) => {
      th.addEventListener("click", () => sortBy(table, col, th));
    });
  });
  window.addEventListener("load", () => {
    const imgs = Array.from(document.images);
    const status = {
      tables: Array.from(document.querySelectorAll("table.ranked")).map(
        t => ({id: t.id, rows: t.tBodies[0].rows.length})),
      images: imgs.length,
      broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
      errors: errors,
    };
    document.body.setAttribute("data-report-status", JSON.stringify(status));
  });
})();
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _png(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(
    table_id: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    met: Sequence[bool | None],
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for cells, ok in zip(rows, met, strict=True):
        cls = "" if ok is None else (' class="met"' if ok else ' class="unmet"')
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return (
        f'<table class="ranked" id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _versions(records: Iterable[RunRecord]) -> dict[str, str]:
    """Package and env versions the records were written by (several if they differ)."""
    package, env = set(), set()
    for r in records:
        package.add(r.package_version)
        if r.env_id:
            env.add(f"{r.env_id} (v{r.env_version})" if r.env_version is not None else r.env_id)
    return {
        "themis-env (records)": ", ".join(sorted(package)) or "n/a",
        "environment": ", ".join(sorted(env)) or "n/a",
    }


def to_html(
    board: Leaderboard,
    out_dir: str | Path,
    records: Sequence[RunRecord] = (),
    meta: Mapping[str, Any] | None = None,
) -> str:
    """The page for ``board``, embedding the figures found under ``out_dir/plots``.

    Args:
        board: The leaderboard.
        out_dir: The leaderboard folder (figures are read from its ``plots``).
        records: The runs (for the versions they were written by).
        meta: Extra lines for the header table (suite file, package version, ...).
    """
    from themis_env.evaluation.plots import safe_name

    out = Path(out_dir)
    plots = out / "plots"
    title = f"Leaderboard: {board.suite}" if board.suite else "Leaderboard"
    info = {
        "suite": board.suite or "n/a",
        "SLO-attainment target": str(board.slo_target),
        **{k: str(v) for k, v in (meta or {}).items()},
        **_versions(records),
        "reference policies": ", ".join(board.reference.policies),
    }
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        '<table class="meta">'
        + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in info.items())
        + "</table>",
        "<p>Files: "
        + " · ".join(
            f'<a href="{_e(name)}">{_e(name)}</a> ({_e(what)})'
            for name, what in _LINKS
            if (out / name).exists() or name == "records.jsonl"
        )
        + "</p>",
        f"<p><b>Ranking.</b> {_e(RANKING_DEFINITION)} Target: {_e(board.slo_target)}.</p>",
        f"<p><b>Score (secondary column).</b> {_e(SCORE_DEFINITION)}</p>",
        "<h2>Overall</h2>",
    ]
    headers, rows = overall_table(board)
    parts.append(_table("overall", headers, rows, [r.met for r in board.overall]))
    for n, (sc, table) in enumerate(board.scenarios.items()):
        parts.append(f'<h2 id="scenario-{n}">{_e(sc)}</h2>')
        headers, rows = scenario_table(board, sc)
        parts.append(_table(f"table-{n}", headers, rows, [r.met for r in table]))
        frontier = plots / f"frontier_{safe_name(sc)}.png"
        if frontier.is_file():
            parts.append(_png(frontier, f"frontier {sc}"))
        folder = plots / "timelines" / safe_name(sc)
        for row in table:
            pngs = sorted(folder.glob(f"{safe_name(row.policy)}_seed*.png"))
            if not pngs:
                continue
            parts.append(
                f'<details class="timelines"><summary>{_e(row.policy)}: '
                f"{len(pngs)} timeline{'s' if len(pngs) > 1 else ''}</summary>"
                + "".join(_png(p, f"timeline {sc} {p.stem}") for p in pngs)
                + "</details>"
            )
    parts.append("<h2>Notes</h2><ul>")
    parts += [f"<li>{_e(line)}</li>" for line in footnotes(board)]
    parts.append("</ul>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    board: Leaderboard,
    out_dir: str | Path,
    records: Sequence[RunRecord] = (),
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write :func:`to_html` to ``out_dir/leaderboard.html``."""
    path = Path(out_dir) / REPORT_FILE
    write_atomic(path, to_html(board, out_dir, records, meta))
    return path


def report_status(text: str) -> dict[str, Any]:
    """The ``data-report-status`` a browser wrote into a page's DOM (``--dump-dom`` output).

    Raises:
        ValueError: when the page's script never wrote it (it did not run, or failed early).
    """
    marker = 'data-report-status="'
    start = text.find(marker)
    if start < 0:
        raise ValueError("the page's script did not report (no data-report-status in the DOM)")
    end = text.index('"', start + len(marker))
    return json.loads(html.unescape(text[start + len(marker) : end]))

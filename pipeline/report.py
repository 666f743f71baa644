"""``newsbeam report``: one static HTML page about a date range of an output directory.

Plots (PNG, embedded as data URIs so the page is one self-contained file): articles per
publication day (``published_at``, else ``fetched_at``) by topic and by language. Tables: top
sources, dead letters by stage and reason, the runs (a run whose date was run again later is
marked "replaced": its rows are no longer in the output).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from pipeline.reading import connect

# Topic/language series beyond these many are folded into "other" to keep plots readable.
MAX_SERIES = 10
# The day an article belongs to in the plots: when it was published (else fetched), not the
# partition of the run that happened to fetch it.
PUBLICATION_DAY = "coalesce(published_at, fetched_at)::DATE"


def _range_clause(start: str | None, end: str | None, column: str = "date") -> tuple[str, list[str]]:
    where, params = [], []
    if start:
        where.append(f"{column} >= ?::DATE")
        params.append(start)
    if end:
        where.append(f"{column} <= ?::DATE")
        params.append(end)
    return (" where " + " and ".join(where) if where else ""), params


def _per_day(con, column: str, where: str, params: list[str]) -> tuple[list[str], dict[str, list[int]]]:
    rows = con.execute(
        f"select {PUBLICATION_DAY}::VARCHAR, coalesce({column}, 'unknown'), count(*) from articles{where} "
        "group by all order by 1", params
    ).fetchall()
    days = sorted({r[0] for r in rows})
    totals: dict[str, int] = {}
    for _, key, n in rows:
        totals[key] = totals.get(key, 0) + n
    keep = sorted(totals, key=lambda k: (-totals[k], k))[:MAX_SERIES]
    series: dict[str, list[int]] = {k: [0] * len(days) for k in keep}
    for day, key, n in rows:
        name = key if key in series else "other"
        series.setdefault(name, [0] * len(days))[days.index(day)] += n
    return days, series


def _plot(days: list[str], series: dict[str, list[int]], title: str) -> str:
    """A stacked bar chart as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    bottom = [0] * len(days)
    for name, values in series.items():
        ax.bar(days, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_title(title)
    ax.set_ylabel("articles")
    if series:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=45, labelsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(headers: list[str], rows: list[tuple[Any, ...]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    ) or f"<tr><td colspan='{len(headers)}'>none</td></tr>"
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}img{max-width:100%}
.figures{display:flex;flex-direction:column;gap:1em}"""


def build_report(output: str | Path, start: str | None = None, end: str | None = None) -> str:
    """The report page as HTML text."""
    con = connect(output)
    where, params = _range_clause(start, end)
    total = con.execute(f"select count(*) from articles{where}", params).fetchone()[0]
    span = con.execute(f"select min(date)::VARCHAR, max(date)::VARCHAR from articles{where}", params).fetchone()
    day_where, day_params = _range_clause(start, end, PUBLICATION_DAY)
    topic_days, topics = _per_day(con, "topic_label", day_where, day_params)
    lang_days, languages = _per_day(con, "language", day_where, day_params)
    sources = con.execute(
        f"select source, count(*) n from articles{where} group by all order by n desc, source limit 15", params
    ).fetchall()
    dead = con.execute(
        f"select stage, error_type, count(*) n from dead_letter{where} group by all order by n desc, stage",
        params,
    ).fetchall()
    found = con.execute(
        f"select date::VARCHAR, run_id, counters->>'entries', counters->>'written', counters->>'duplicate', "
        f"counters->>'dead_letter_stages', round(seconds, 1) from runs{where} order by started_at", params
    ).fetchall()
    latest = {row[0]: row[1] for row in found}  # the last run of a date is the one published
    runs = [(day, run if latest[day] == run else f"{run} (replaced)", entries, written, duplicate,
             sum(json.loads(stages or "{}").values()), seconds)
            for day, run, entries, written, duplicate, stages, seconds in found]
    label = f"{span[0]} to {span[1]}" if span[0] else "no articles"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>newsbeam report: {html.escape(label)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>newsbeam report: {html.escape(label)}</h1>",
        f"<p id='total'>{total} articles, {sum(r[2] for r in dead)} dead letters, "
        f"{len(runs)} run{'' if len(runs) == 1 else 's'}.</p>",
        "<div class='figures'>",
        f"<figure><img id='topics-per-day' alt='articles per day by topic' "
        f"src='data:image/png;base64,{_plot(topic_days, topics, 'Articles per day by topic')}'></figure>",
        f"<figure><img id='languages-per-day' alt='articles per day by language' "
        f"src='data:image/png;base64,{_plot(lang_days, languages, 'Articles per day by language')}'></figure>",
        "</div>",
        "<h2>Top sources</h2>", _table(["source", "articles"], sources, "sources"),
        "<h2>Dead letters by stage and reason</h2>", _table(["stage", "reason", "count"], dead, "dead-letters"),
        "<h2>Runs</h2>",
        _table(["date", "run", "entries", "written", "duplicates", "dead letters (all stages)", "seconds"], runs,
               "runs"),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(output: str | Path, target: str | Path, start: str | None = None,
                 end: str | None = None) -> Path:
    path = Path(target)
    path.write_text(build_report(output, start, end), encoding="utf-8")
    return path

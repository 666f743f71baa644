"""Reading newsbeam output with duckdb: the views behind ``query``, ``show`` and ``report``.

Views over an output directory:
- ``articles``: every article partition (hive ``date`` column included);
- ``dead_letter``: every dead-letter partition;
- ``runs``: one row per run manifest in ``_runs/``.
A directory without any file for a view still gets the view, empty, with the right columns, so
queries work on a fresh output too.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from transforms.records import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA

if TYPE_CHECKING:
    import duckdb

# Manifest fields exposed by the ``runs`` view; nested objects stay JSON for ->> access.
RUN_COLUMNS = (
    ("run_id", "VARCHAR"), ("date", "DATE"), ("newsbeam_version", "VARCHAR"),
    ("started_at", "TIMESTAMPTZ"), ("finished_at", "TIMESTAMPTZ"), ("seconds", "DOUBLE"),
    ("config_hash", "VARCHAR"), ("feeds", "JSON"), ("counters", "JSON"), ("balanced", "BOOLEAN"),
)


# What a newsbeam output directory holds; an empty directory is a fresh output.
NEWSBEAM_NAMES = ("articles", "dead_letter", "raw", "_runs", "_state", "_lock.json")


class OutputError(ValueError):
    """An output directory that cannot be read."""


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _empty_view(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
    table = schema.empty_table().append_column("date", pa.array([], pa.date32()))
    con.register(f"_{name}_empty", table)
    con.execute(f"create view {name} as select * from _{name}_empty")


def connect(output: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory duckdb connection with the ``articles``, ``dead_letter`` and ``runs`` views."""
    out = Path(output)
    if not out.is_dir():
        raise OutputError(f"no output directory at {out}")
    if any(out.iterdir()) and not any((out / name).exists() for name in NEWSBEAM_NAMES):
        raise OutputError(f"{out} is not a newsbeam output (it has none of {', '.join(NEWSBEAM_NAMES)})")
    # Imported here: the CLI imports this module for every command, and duckdb costs a quarter
    # of a second that ``newsbeam run`` would pay for nothing.
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")  # timestamps print as stored, whatever the host's zone
    for name, schema in (("articles", ARTICLE_SCHEMA), ("dead_letter", DEAD_LETTER_SCHEMA)):
        if any(out.glob(f"{name}/date=*/*.parquet")):
            glob = _sql_path(out / name / "date=*" / "*.parquet")
            con.execute(
                f"create view {name} as select * from read_parquet('{glob}', hive_partitioning=true, "
                "hive_types={'date': DATE}, union_by_name=true)"
            )
        else:
            _empty_view(con, name, schema)
    if any(out.glob("_runs/date=*/*.json")):
        glob = _sql_path(out / "_runs" / "date=*" / "*.json")
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in RUN_COLUMNS)
        con.execute(f"create view runs as select * from read_json('{glob}', columns={{{columns}}})")
    else:
        nulls = ", ".join(f"null::{kind} as {name}" for name, kind in RUN_COLUMNS)
        con.execute(f"create view runs as select {nulls} where false")
    return con


def query(output: str | Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` against the views; return (column names, rows)."""
    import duckdb

    con = connect(output)
    try:
        result = con.execute(sql)
    except duckdb.Error as exc:
        raise OutputError(str(exc).splitlines()[0]) from None
    names = [d[0] for d in result.description or []]
    return names, result.fetchall()


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def format_rows(names: list[str], rows: list[tuple[Any, ...]], fmt: str, width: int = 60) -> str:
    """Rows as an aligned text table, CSV or JSON lines."""
    if fmt == "json":
        return "\n".join(json.dumps(dict(zip(names, map(_plain, row))), ensure_ascii=False) for row in rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(names)
        writer.writerows([json.dumps(_plain(v), ensure_ascii=False) if isinstance(v, (list, dict)) else _plain(v)
                          for v in row] for row in rows)
        return buffer.getvalue().rstrip("\n")
    cells = [[_cell(v, width) for v in row] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def _cell(value: Any, width: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat(sep=" ", timespec="minutes") if hasattr(value, "hour") else value.isoformat()
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def show_sql(date: str | None, topic: str | None, language: str | None, source: str | None,
             limit: int) -> tuple[str, list[Any]]:
    """The query behind ``newsbeam show`` and its parameters."""
    where, params = [], []
    if date:
        where.append("date = ?::DATE")
        params.append(date)
    if topic:
        where.append("(topic = ? or lower(topic_label) = lower(?))")
        params += [topic, topic]
    if language:
        where.append("language = ?")
        params.append(language)
    if source:
        where.append("source ilike ?")
        params.append(f"%{source}%")
    sql = ("select coalesce(published_at, fetched_at) as time, source, language as lang, "
           "topic_label as topic, title from articles"
           + (" where " + " and ".join(where) if where else "")
           + " order by time desc nulls last, title limit ?")
    return sql, [*params, limit]


def show(output: str | Path, date: str | None = None, topic: str | None = None,
         language: str | None = None, source: str | None = None, limit: int = 20) -> tuple[list[str], list]:
    sql, params = show_sql(date, topic, language, source, limit)
    result = connect(output).execute(sql, params)
    return [d[0] for d in result.description], result.fetchall()

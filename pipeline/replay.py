"""Runs over WARC archives: ``run --warc`` (other tools' archives) and ``reprocess`` (our own).

Both read pages from WARC files through the article stages of a feed run (no feed stage, no
fetching, no network), then publish like a run: staged, then each date's partitions swapped in.

- ``run --warc``: rows go under the UTC date of their record (WARC-Date); ``--date D`` reads
  only the records of day D (like ``--since D --until D``). A run replaces the partitions of
  the dates it writes, so give it all the files of those days.
- ``reprocess``: the files of ``raw/date=D/`` rebuild date D, whatever the fetch times; ids,
  URLs and ``fetched_at`` come from the archive's metadata records. The dead letters of the
  stages before extraction (feeds, fetch) cannot be redone from an archive and are carried over
  from the partition as it was; those of extraction and later are made anew.

Memory: an id written under a date the run does not rewrite is not written again; the
partitions being rewritten are not remembered (a re-run reproduces them). Near-duplicate
links are found against the other dates, as in a feed run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import output, state
from pipeline.config import ConfigError, RunConfig
from pipeline.graph import WarcPlan, build_warc
from pipeline.run import (
    config_hash,
    counters_of,
    newsbeam_version,
    pipeline_options,
    prepare_process,
    run_staged,
    signals_deferred,
    warm_stages,
)
from transforms.sources.warc import WarcConfig
from transforms.storage.memory import apply_duplicates

# Dead-letter stages an archive cannot redo: they happened before the page was fetched.
REBUILT_STAGES = frozenset({"extract", "clean", "language", "topic", "read_warc"})
WARC_PATTERNS = ("*.warc.gz", "*.warc")


def warc_files(patterns: list[str]) -> list[str]:
    """Every file the patterns match, sorted and distinct; a pattern matching nothing is an error
    (a typo would otherwise be an empty run)."""
    found: list[str] = []
    for pattern in patterns:
        paths = output.match(pattern)
        if not paths and not any(ch in pattern for ch in "*?["):
            paths = [p for suffix in WARC_PATTERNS for p in output.match(output.join(pattern, suffix))]
        if not paths:
            raise ConfigError(f"--warc {pattern}: no such file, or no file matches")
        found += paths
    return sorted(set(found))


def archive_files(out: str, date: str) -> list[str]:
    return sorted(output.match(output.join(output.partition_dir(out, output.RAW, date), "*.warc.gz")))


def archived_dates(out: str) -> list[str]:
    dates = set()
    for path in output.match(output.join(out, output.RAW, "date=*", "*.warc.gz")):
        found = output._DATE_DIR.search(path.rsplit("/", 1)[0])
        if found:
            dates.add(found.group(1))
    return sorted(dates)


def _place_dated(flat: str, staged_sink: str) -> set[str]:
    """Move ``<date>~<name>`` files of a flat folder into ``date=<date>/<name>``; the dates."""
    dates = set()
    for path in output.match(output.join(flat, "*~*.parquet")):
        date, name = path.rsplit("/", 1)[-1].split("~", 1)
        target = output.join(staged_sink, f"date={date}")
        if not FileSystems.exists(target):
            FileSystems.mkdirs(target)
        FileSystems.rename([path], [output.join(target, name)])
        dates.add(date)
    return dates


def _carry_dead_letters(out: str, date: str, target_dir: str, run_id: str) -> int:
    """Copy the dead letters an archive cannot redo from the published partition to the staged
    one; how many."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from transforms.records import DEAD_LETTER_SCHEMA

    tables = []
    for path in output.match(output.join(output.partition_dir(out, "dead_letter", date), "*.parquet")):
        with FileSystems.open(path) as handle:
            table = pq.read_table(handle, schema=DEAD_LETTER_SCHEMA)
        keep = pc.invert(pc.is_in(table.column("stage"), value_set=pa.array(sorted(REBUILT_STAGES))))
        tables.append(table.filter(keep))
    rows = sum(t.num_rows for t in tables)
    if rows:
        if not FileSystems.exists(target_dir):
            FileSystems.mkdirs(target_dir)
        with FileSystems.create(output.join(target_dir, f"part-{run_id}-carried.parquet")) as handle:
            pq.write_table(pa.concat_tables(tables), handle, compression="zstd")
    return rows


def replay(
    cfg: RunConfig, out: str, files_by_date: dict[str | None, list[str]], warc: WarcConfig,
    kind: str, beam_args: list[str], patterns: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Read WARC files through the article stages and publish; the manifests written.

    ``files_by_date``: ``{None: files}`` puts rows under their record dates (``run --warc``);
    ``{date: files}`` rebuilds those dates (``reprocess``), one pipeline per date."""
    run_id = output.new_run_id()
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.monotonic()
    lock = state.acquire_lock(out, run_id, started)
    manifests = []
    try:
        output.recover_staging(out, keep=run_id)
        staged = output.staging_dir(out, run_id)
        prepare_process(cfg)
        warm_stages(cfg)
        counters: dict[str, int] = {}
        for forced, files in files_by_date.items():
            plan = WarcPlan(
                files=files, warc=warc, date=forced, memory=output.article_files(out),
                articles_dir=output.join(staged, "_flat", "articles"),
                dead_dir=output.join(staged, "_flat", "dead_letter"),
                prefix=f"part-{run_id}", temp_dir=output.join(staged, "_tmp"),
                duplicates_prefix=output.join(staged, f"duplicates-{forced or 'all'}"),
            )
            p = beam.Pipeline(options=pipeline_options(beam_args))
            build_warc(p, cfg, plan)
            result = run_staged(p, out, lock, run_id)
            for key, value in counters_of(result).items():
                counters[key] = counters.get(key, 0) + value
        dates = set()
        for sink in output.SINKS:
            dates |= _place_dated(output.join(staged, "_flat", sink), output.join(staged, sink))
        dates |= {d for d in files_by_date if d}
        duplicates = {row["id"]: row["duplicate_of"]
                      for row in output.json_lines(output.join(staged, "duplicates-*.jsonl"))}
        if duplicates:
            for path in output.match(output.join(staged, "articles", "date=*", "*.parquet")):
                apply_duplicates(path, duplicates)
        carried = {}
        if kind == "reprocess":
            for date in sorted(dates):
                carried[date] = _carry_dead_letters(
                    out, date, output.join(staged, "dead_letter", f"date={date}"), run_id)
        with signals_deferred():
            files = {date: output.commit(out, run_id, date) for date in sorted(dates)}
            output.discard(out, run_id)
            finished = dt.datetime.now(dt.timezone.utc)
            for date in sorted(dates):
                manifest = {
                    "run_id": run_id, "date": date, "kind": kind,
                    "newsbeam_version": newsbeam_version(),
                    "started_at": started.isoformat(), "finished_at": finished.isoformat(),
                    "seconds": round(time.monotonic() - clock, 3), "config_hash": config_hash(cfg),
                    "warc": {"patterns": patterns or [],
                             "files": sorted(files_by_date.get(date) or files_by_date.get(None) or []),
                             "since": str(warc.since) if warc.since else None,
                             "until": str(warc.until) if warc.until else None,
                             "hosts": list(warc.hosts)},
                    "counters": {
                        "written": _rows(files[date].get("articles", [])),
                        "dead_letter": _rows(files[date].get("dead_letter", [])),
                        "dead_letter_carried": carried.get(date, 0),
                        "duplicate_of": _linked(files[date].get("articles", [])),
                    },
                    "files": files[date],
                    "accounting": accounting(counters),
                    "balanced": accounting(counters)["balanced"],
                    "beam_counters": counters,
                }
                state.write_manifest(out, date, run_id, manifest)
                manifests.append(manifest)
    finally:
        state.release_lock(out, run_id)
    return manifests


def accounting(counters: dict[str, int]) -> dict[str, Any]:
    """Where every record of the run went (all dates together): a record is a page or a skip;
    a page is written, already written under another date, a repeat of a page of this run, or
    a dead letter of an article stage."""
    skipped = sum(v for k, v in counters.items() if k.startswith("warc/skipped:"))
    dead = sum(v for k, v in counters.items()
               if k.startswith("write/dead_letter:") and k != "write/dead_letter:read_warc")
    pages = counters.get("warc/pages", 0)
    written = counters.get("write/articles", 0)
    seen = counters.get("memory/seen_earlier", 0)
    repeats = counters.get("memory/duplicate_in_run", 0)
    return {
        "records": counters.get("warc/records", 0), "skipped": skipped, "pages": pages,
        "written": written, "seen_earlier": seen, "duplicate_in_run": repeats, "dead_letter": dead,
        "damaged_files": counters.get("warc/damaged", 0),
        "balanced": counters.get("warc/records", 0) == pages + skipped
        and pages == written + seen + repeats + dead,
    }


def _linked(paths: list[str]) -> int:
    """Articles of these files with ``duplicate_of`` set."""
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        with FileSystems.open(path) as handle:
            column = pq.read_table(handle, columns=["duplicate_of"]).column("duplicate_of")
        total += len(column) - column.null_count
    return total


def _rows(paths: list[str]) -> int:
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        with FileSystems.open(path) as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def reprocess_files(out: str, dates: list[str] | None) -> dict[str | None, list[str]]:
    """The archive files of each date to rebuild; a date without any is an error."""
    if dates is None:
        dates = archived_dates(out)
        if not dates:
            raise ConfigError(f"{out} has no archive (raw/date=…/*.warc.gz); runs write one with --archive")
    found: dict[str | None, list[str]] = {}
    for date in sorted(set(dates)):
        files = archive_files(out, date)
        if not files:
            raise ConfigError(f"no archive for {date}: {output.partition_dir(out, output.RAW, date)} "
                              "holds no .warc.gz files (runs write them with --archive)")
        found[date] = files
    return found


def manifest_json(manifests: list[dict[str, Any]]) -> str:
    return json.dumps(manifests, default=str)

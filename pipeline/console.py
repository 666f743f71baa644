"""What a run shows a person or a scheduler: progress, the summary, log lines.

- On a terminal: a progress line (feeds, entries, articles processed, rate) redrawn in place, then
  the summary.
- Not a terminal (cron, systemd, CI): no progress line, just the summary.
- ``--quiet``: nothing but errors.
- ``--log-format json``: log records as JSON lines on stderr and the summary as one JSON object
  (the run manifest) on stdout, for schedulers and log collectors.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading
import time
from typing import Any, TextIO

from transforms import progress

REFRESH_SECONDS = 0.5


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(verbose: bool, log_format: str, quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # --quiet: errors only; libraries' warnings (trafilatura's "discarding data") are not.
    root.setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)
    if quiet:  # also for loggers that set a level of their own
        handler.setLevel(logging.ERROR)
    # Extraction worker processes read it when they start (pipeline/worker_logging.py).
    os.environ["NEWSBEAM_WORKER_LOG_LEVEL"] = "ERROR" if quiet else "WARNING"
    if not verbose:
        # Beam logs its runner choice and worker chatter at INFO/WARNING, and every error a step
        # raises with its traceback, before the run raises it; users want our summary and one
        # line per error (-v shows Beam's logs).
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
        # Dask's scheduler, workers and nanny log every connection at INFO (--runner dask).
        logging.getLogger("distributed").setLevel(logging.WARNING)


def progress_line(counts: dict[str, int], feeds: int, seconds: float) -> str:
    processed = counts.get("extracted", 0)
    rate = processed / seconds if seconds > 0 else 0.0
    parts = [
        f"feeds {counts.get('feeds', 0)}/{feeds}",
        f"entries {counts.get('entries', 0)}",
        f"articles {processed}",
        f"written {counts.get('written', 0)}",
        f"dead letters {counts.get('dead_letters', 0)}",
        f"{rate:.1f} articles/s",
    ]
    return " · ".join(parts)


class Progress:
    """Redraws the progress line on ``stream`` while a run is going (a context manager)."""

    def __init__(self, feeds: int, stream: TextIO, enabled: bool) -> None:
        self._feeds = feeds
        self._stream = stream
        self._enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.monotonic()

    def _draw(self) -> None:
        line = progress_line(progress.snapshot(), self._feeds, time.monotonic() - self._started)
        self._stream.write("\r\x1b[2K" + line)
        self._stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            self._draw()

    def __enter__(self) -> Progress:
        progress.reset()
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._stop.set()
            self._thread.join()
            self._stream.write("\r\x1b[2K")
            self._stream.flush()


def summary_lines(summary: Any, counters: dict[str, int]) -> list[str]:
    """The end-of-run summary: the counts, then what the articles are."""
    lines = list(summary.lines())
    topics = _top(counters, "write", "topic:")
    languages = _top(counters, "language", "lang:")
    if topics:
        lines.insert(-1, f"  topics         {topics}")
    if languages:
        lines.insert(-1, f"  languages      {languages}")
    archived = counters.get("archive/records", 0)
    if archived:
        statuses = _top(counters, "archive", "http:")
        lines.insert(-1, f"  archived       {archived} answers as WARC (HTTP {statuses}) in raw/")
    return lines


def _top(counters: dict[str, int], namespace: str, prefix: str, n: int = 6) -> str:
    found = [(name.split("/", 1)[1].removeprefix(prefix), value) for name, value in counters.items()
             if name.startswith(f"{namespace}/{prefix}") and value]
    found.sort(key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v}" for k, v in found[:n])

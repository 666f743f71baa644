"""Logging of the extraction worker processes (``--workers N``), which do not inherit the run's.

The forkserver imports this module before the extraction modules, so it is in place before Beam
is imported there: Beam warns at import time about optional GCP client libraries we do not use
(through the root logger, which would print it as ``WARNING:root:apitools not found …``). Workers
log warnings and errors in the run's format, errors only when the run is ``--quiet``
(``NEWSBEAM_WORKER_LOG_LEVEL``, set by the run's process before it starts the forkserver).
"""

from __future__ import annotations

import logging
import os
import sys

LEVEL_VARIABLE = "NEWSBEAM_WORKER_LOG_LEVEL"


def drop_beam_import_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("apitools not found")


def _configure() -> None:
    root = logging.getLogger()
    root.addFilter(drop_beam_import_noise)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    level = logging.getLevelName(os.environ.get(LEVEL_VARIABLE, "WARNING"))
    root.setLevel(level if isinstance(level, int) else logging.WARNING)
    for handler in root.handlers:
        handler.setLevel(root.level)
    logging.getLogger("apache_beam").setLevel(max(root.level, logging.ERROR))


_configure()  # on import: this module exists for that (the forkserver imports it first)

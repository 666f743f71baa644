"""Importing the enrichment stages' compiled (numba) kernels, wherever numba may cache them.

The topic and language stages each keep their compiled code in a module of its own
(``topic_kernel``, ``language_kernel``), imported on first use: numba takes ~0.5 s to import,
which importing a stage should not cost.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from types import ModuleType

# Where compiled kernels are cached when numba finds no writable place of its own.
KERNEL_CACHE_FALLBACK = "newsbeam-numba"


def import_kernel(name: str) -> ModuleType:
    """The kernel module ``name``, its cache moved to $TMPDIR when numba has nowhere else."""
    try:
        return importlib.import_module(name)
    except RuntimeError:
        # numba raises this when neither NUMBA_CACHE_DIR, nor the package's __pycache__, nor
        # the user's cache directory is writable (a read-only image with a read-only home).
        import numba

        numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(), KERNEL_CACHE_FALLBACK)
        return importlib.import_module(name)

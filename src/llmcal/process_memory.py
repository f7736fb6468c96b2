"""The process's peak memory, and handing freed memory back between the steps of a long job."""

from __future__ import annotations

import ctypes
import gc
import resource
import sys
from contextlib import suppress

__all__ = ["peak_rss_gib", "release_memory"]


def peak_rss_gib() -> float:
    """The process's peak resident memory so far, in GiB (3 decimals)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 3)  # bytes on macOS, KiB on Linux


def release_memory() -> None:
    """Frees what the last step left unreachable and, on glibc, hands the freed heap back to the system.

    Without the trim the resident set only grows from step to step (freed model copies stay in the
    allocator's arenas), and every later step's peak would sit on top of the earlier ones.
    """
    gc.collect()
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)

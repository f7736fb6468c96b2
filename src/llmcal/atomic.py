"""Atomic file writes: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_bytes_atomic", "write_directory_atomic", "write_text_atomic"]


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` via a temporary file in the same directory and an atomic rename.

    A crash or kill mid-write leaves the previous file (or none) in place, never a truncated one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file private (0600); a result file gets the usual permissions instead.
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(current)
    return current


def write_text_atomic(path: str | Path, text: str) -> None:
    """Writes UTF-8 ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_directory_atomic(path: str | Path, fill: Callable[[Path], None]) -> None:
    """Builds a directory with ``fill`` under a temporary name beside ``path``, then moves it into place.

    A kill while ``fill`` writes (a model's weights, say) leaves the previous directory, or none, at
    ``path``, and a hidden ``.<name>.<random>.tmp`` folder that the next run in the directory removes.
    Replacing an existing directory takes two renames (the old one aside, the new one in): a kill
    between them leaves no directory at ``path``, never a mixed one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        fill(building)
        if target.exists():
            aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old.", suffix=".tmp"))
            os.replace(target, aside / target.name)
            os.replace(building, target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise

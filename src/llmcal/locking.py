"""One writer per output directory: an exclusive lock that dies with the process holding it.

Two runs writing into one ``--out`` would interleave their records and overwrite each other's results.
Every command that writes a run directory holds :class:`OutputLock` on it from before it reads what is
there (to resume) until its last file is written; a second run on the same directory is refused at once,
naming the holder.

The lock is the operating system's (``flock`` on a file in the directory), not a file whose existence
means "locked": the kernel releases it when the holder exits, however it exits (``kill -9`` included),
so a crashed run never leaves a stale lock behind. On Linux, ``flock`` on NFS is carried by the NFS
lock manager (``lockd``), so runs on different hosts sharing a directory exclude each other too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any

from llmcal.errors import InputError
from llmcal.jsonl import json_text, parse_json

__all__ = ["LOCK_NAME", "OutputLock", "output_lock"]

LOCK_NAME = ".llmcal.lock"


class OutputLock:
    """Exclusive, non-blocking lock on an output directory, held as a context manager.

    Creates the directory if needed. The lock file is removed when the lock is released (a killed holder
    leaves it, unlocked), and so is a directory this lock created that is empty then (the run was
    refused before writing anything), so a finished or refused run leaves no trace.

    Args:
        directory: The output directory.
        command: What holds it (``"llmcal eval"``), shown to a run that is refused.

    Raises:
        InputError: On entering, if another process holds the lock (naming its pid, host, command and
            start time), or the directory cannot be created.
    """

    def __init__(self, directory: str | Path, command: str) -> None:
        self.directory = Path(directory)
        self.command = command
        self._descriptor: int | None = None
        self._created: list[Path] = []

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.directory / LOCK_NAME

    def __enter__(self) -> OutputLock:
        # The directories this lock creates (the out directory and any missing parents), removed again
        # if a refused run leaves them empty.
        self._created = [path for path in (self.directory, *self.directory.parents) if not path.exists()]
        while True:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock_exclusively(descriptor)
            except BlockingIOError:
                holder = _read_holder(descriptor)
                os.close(descriptor)
                raise InputError(
                    f"`out` {self.directory} is being written by another llmcal run ({holder}). One run "
                    "writes to a directory at a time: wait for it to finish, or choose another `out`.",
                    parameter="out",
                ) from None
            except BaseException:
                os.close(descriptor)
                raise
            if _same_file(descriptor, self.path):
                break
            # The file was removed by a holder cleaning up between our open and our lock: lock the new one.
            os.close(descriptor)
        # Who holds it, for the message of a refused run; the lock itself is the flock, not this text.
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json_text(record) + "\n").encode("utf-8"), 0)
        self._descriptor = descriptor
        _remove_abandoned_temporaries(self.directory)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._descriptor is None:
            return
        descriptor, self._descriptor = self._descriptor, None
        try:
            # Removed while still held: a run that opened the file meanwhile finds, once it holds the
            # lock, that the path no longer names it, and locks afresh (see __enter__).
            self.path.unlink()
            for created in self._created:  # deepest first; a run refused before writing leaves no trace
                if any(created.iterdir()):
                    break
                created.rmdir()
        except OSError:
            pass  # cleaning up is a courtesy; the lock is released below either way
        finally:
            os.close(descriptor)  # releases the flock


def output_lock(directory: str | Path, command: str, *, main: bool = True) -> AbstractContextManager[Any]:
    """:class:`OutputLock` on ``directory`` in the main process of a launch; nothing in the others.

    The other processes of a data-parallel run write into the directory the main process holds; a
    launcher (torchrun, accelerate) stops them when the main process is refused.
    """
    return OutputLock(directory, command) if main else nullcontext()


def _lock_exclusively(descriptor: int) -> None:
    """Takes the lock or raises :class:`BlockingIOError` at once (POSIX ``flock``)."""
    import fcntl

    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_abandoned_temporaries(directory: Path) -> None:
    """Deletes what atomic writes of a killed run left: ``.<name>.<random>.tmp`` files and folders.

    Only the lock's holder writes in the directory, so every such file is a dead writer's.
    """
    for path in sorted(directory.rglob(".*.tmp"), reverse=True):
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path)  # a directory a killed run was building (llmcal.atomic)
            else:
                path.unlink()


def _same_file(descriptor: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``descriptor``."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _read_holder(descriptor: int) -> str:
    """The holder's pid, host, command and start time as the lock file records them."""
    try:
        holder = parse_json(os.pread(descriptor, 4096, 0).decode("utf-8"), where=LOCK_NAME)
        return f"pid {holder['pid']} on {holder['host']}, `{holder['command']}`, since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):  # InputError and UnicodeDecodeError are ValueErrors
        return "a process that has not recorded itself yet"

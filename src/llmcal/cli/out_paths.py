"""Checking output paths (``--out``) before a command does any work, with one message each.

A command calls :func:`check_out_dir` or :func:`check_out_file` first, so a path that cannot be written is
refused in a sentence before items are scored or a model is loaded, not with a traceback at the end.
Cheap: no torch, nothing written (``llmcal.cli.app`` imports it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from llmcal.errors import InputError

__all__ = ["check_out_dir", "check_out_file", "empty_out_option"]

OUT_OPTIONS = ("--out",)
"""Options naming an output path; an empty value is refused for all of them."""


def empty_out_option(argv: Sequence[str]) -> str | None:
    """The output option given an empty value in ``argv`` (``--out ""`` or ``--out=``), else ``None``.

    Checked on the raw arguments: the command sees ``Path("")``, which is ``Path(".")``, the working
    directory, and cannot tell it from ``--out .``.
    """
    for index, token in enumerate(argv):
        if token == "--":  # what follows is positional
            return None
        for option in OUT_OPTIONS:
            if token == f"{option}=" or (token == option and index + 1 < len(argv) and argv[index + 1] == ""):
                return option
    return None


def empty_out_error(option: str) -> InputError:
    """The error for :func:`empty_out_option`'s finding."""
    return InputError(f"{option} is empty (that would be the working directory); give the path to write to.")


def check_out_dir(path: Path, option: str = "--out") -> None:
    """Refuses ``path`` unless it is, or can be made, a directory this process can write into.

    Raises:
        InputError: If ``path`` is a file, lies under a file, or its nearest existing folder is not writable.
    """
    if path.is_symlink() and not path.exists():
        raise InputError(f"{option} {path} is a broken symbolic link; remove it or give another directory.")
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a directory; give a directory (it is created "
                         f"if missing) or remove the file.")  # fmt: skip
    _check_writable_under(path, path, option)


def check_out_file(path: Path, option: str = "--out", *, example: str) -> None:
    """Refuses ``path`` unless a file can be written there: not a directory, its folder writable.

    Args:
        path: The output file.
        option: The option that named it, for the message.
        example: A file name to suggest when ``path`` is a directory (``report.html``).

    Raises:
        InputError: If ``path`` is a directory, lies under a file, or its folder is not writable.
    """
    if path.is_dir():
        raise InputError(f"{option} {path} is a directory; give a file name, e.g. {option} {path / example}.")
    if path.is_symlink() and not path.exists():
        raise InputError(f"{option} {path} is a broken symbolic link; remove it or give another file name.")
    _check_writable_under(path.parent, path, option)


def _check_writable_under(folder: Path, path: Path, option: str) -> None:
    """``folder`` (to be created if missing) must lie under directories, the nearest existing writable."""
    existing = next((part for part in (folder, *folder.parents) if part.exists() or part.is_symlink()), None)
    if existing is None:  # an absolute path whose root vanished: left to the write to report
        return
    if not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is a file, so nothing can be created under it; "
                         f"give a path whose parent folders are directories.")  # fmt: skip
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: no permission to write in {existing}; choose a directory you "
                         f"can write to, or change its permissions.")  # fmt: skip

"""``run.json``: what a run was (its kind, model, settings and items), written first and checked on resume.

Every run directory llmcal writes starts with a manifest. A resumed run must match it section by section
(model, settings, tasks), so results never mix two configurations. ``format`` is the on-disk format of
the run directory: a reader refuses a newer one by name instead of misreading it. Manifests written
before the format was recorded carry no ``kind`` or ``format``; :mod:`llmcal.runs.kinds` reads them as
format 1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from llmcal import __version__
from llmcal.atomic import write_text_atomic
from llmcal.errors import InputError

__all__ = [
    "MANIFEST_NAME",
    "RUN_FORMAT",
    "as_json",
    "build_manifest",
    "check_format",
    "check_resume",
    "manifest_kind",
    "read_manifest",
    "records_digest",
    "write_manifest",
]

MANIFEST_NAME = "run.json"
# The on-disk format of run directories this llmcal writes; bump it when a reader of the previous format
# would misread the new one.
RUN_FORMAT = 1
# The sections a resumed run must match.
_COMPARED_SECTIONS = ("model", "settings", "tasks")


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


def records_digest(items: Sequence[_Identified]) -> str:
    """A short digest of the item ids in order, for run manifests."""
    return hashlib.sha256("\n".join(item.id for item in items).encode("utf-8")).hexdigest()[:16]


def as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so saved and fresh manifests compare."""
    return json.loads(json.dumps(value))


def build_manifest(
    kind: str,
    *,
    model: dict[str, Any],
    settings: dict[str, Any],
    tasks: dict[str, Sequence[_Identified]],
    **extra: Any,
) -> dict[str, Any]:
    """A manifest in its JSON form: the run's kind, model, settings and a digest of each task's items.

    Args:
        kind: The run kind, a name in :data:`llmcal.runs.kinds.RUN_KINDS`.
        model: How the model was loaded (name, revision, dtype, ...).
        settings: The settings that determine the results.
        tasks: Per task (or split), its items in order (anything with an ``id``).
        **extra: Further top-level entries (e.g. the source files of an import).
    """
    digests = {
        name: {"n_items": len(items), "item_ids": records_digest(items)} for name, items in tasks.items()
    }
    manifest: dict[str, Any] = as_json({"model": model, "settings": settings, "tasks": digests, **extra})
    return {"kind": kind, "format": RUN_FORMAT, "llmcal_version": __version__, **manifest}


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Writes ``out/run.json`` atomically (creating ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(out: Path) -> dict[str, Any]:
    """``out/run.json`` as written, after checking it is a manifest of a format this llmcal reads.

    Raises:
        InputError: If it is missing, unreadable or of a newer format.
    """
    path = out / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"{out}: no {MANIFEST_NAME} here; expected the --out directory of an llmcal run.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path}: unreadable run manifest; was the file edited?") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{path}: expected a JSON object; found {type(manifest).__name__}.")
    check_format(path, manifest)
    return manifest


def check_format(path: Path, data: dict[str, Any]) -> None:
    """Refuses a file of a run format newer than this llmcal reads, naming both versions.

    Raises:
        InputError: If ``data["format"]`` is above :data:`RUN_FORMAT` or not an integer.
    """
    found = data.get("format", RUN_FORMAT)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise InputError(f"{path}: 'format' must be a positive integer; found {found!r}.")
    if found > RUN_FORMAT:
        raise InputError(
            f"{path} was written by llmcal {data.get('llmcal_version', '(unknown version)')} in run format "
            f"{found}; this llmcal {__version__} reads run formats up to {RUN_FORMAT}. Upgrade llmcal "
            "(pip install -U llmcal) to read it."
        )


def check_resume(out: Path, manifest: dict[str, Any]) -> None:
    """Refuses to write into ``out`` if its ``run.json`` describes a different model, settings or items.

    Raises:
        InputError: Naming the section that differs, and how to proceed.
    """
    if not (out / MANIFEST_NAME).exists():
        return
    previous = read_manifest(out)
    for section in _COMPARED_SECTIONS:
        if previous.get(section) != manifest[section]:
            raise InputError(
                f"{out} holds a run with different {section} "
                f"({json.dumps(previous.get(section), sort_keys=True)} vs "
                f"{json.dumps(manifest[section], sort_keys=True)}). Resume only with identical settings, "
                "or choose a new --out directory."
            )


def manifest_kind(manifest: dict[str, Any]) -> str | None:
    """The run kind a manifest names; one written before manifests named it is told by its sections.

    Evaluations (and lm-eval imports) always recorded their extraction settings, and fine-tuning runs, the
    only other kind with a manifest then, their ``train`` items. ``None`` when neither says.
    """
    if "kind" in manifest:
        return str(manifest["kind"])
    settings, tasks = manifest.get("settings"), manifest.get("tasks")
    if isinstance(settings, dict) and "extraction" in settings:
        return "eval"
    return "finetune" if isinstance(tasks, dict) and "train" in tasks else None

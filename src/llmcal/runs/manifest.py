"""``run.json``: what a run was (its kind, model, settings and items), written first and checked on resume.

Every run directory llmcal writes starts with a manifest. A resumed run must match it section by section
(model, settings, tasks), so results never mix two configurations. What is compared is what the results
depend on, by content:

- each task's items: a digest of their ids in order *and* a digest of their content, so items edited
  under the same ids are caught (and, where few-shot examples are drawn, the content of the pool);
- the model: its ``fingerprint`` (a hash of its weight, config and tokenizer files, or its hub commit;
  see :func:`llmcal.scoring.models.model_fingerprint`), so weights swapped at one path are caught and the
  same model reached by another path is accepted: where both manifests carry fingerprints, the path the
  model was loaded from is not compared;
- the settings, entry by entry.

A mismatch is refused with a short list of what changed. A directory whose run never wrote a result
(``run.json`` and nothing else: it was refused or crashed before its first record) holds nothing that
could mix, so a corrected rerun replaces its manifest instead of being refused.

``format`` is the on-disk format of the run directory: a reader refuses a newer one by name instead of
misreading it. Manifests written before the format was recorded carry no ``kind`` or ``format``;
:mod:`llmcal.runs.kinds` reads them as format 1. Manifests written before content digests and
fingerprints were recorded lack them; a resume compares what both have.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from llmcal import __version__
from llmcal.atomic import write_text_atomic
from llmcal.errors import InputError
from llmcal.locking import LOCK_NAME

__all__ = [
    "MANIFEST_NAME",
    "RUN_FORMAT",
    "as_json",
    "build_manifest",
    "check_format",
    "check_resume",
    "composite_id",
    "content_digest",
    "manifest_changes",
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
# Entries added by later llmcal versions: a manifest written before lacks them, and is not refused for it.
_LATER_ENTRIES = ("fingerprint", "item_content", "fewshot_content")
# Where a model was loaded from (or served by); not compared when both manifests fingerprint the model.
_MODEL_LOCATIONS = ("model", "name", "gguf.file", "servers", "tokenizer")
# Differences listed in a refusal before "and N more".
_SHOWN_CHANGES = 6


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


def records_digest(items: Sequence[_Identified]) -> str:
    """A short digest of the item ids in order, for run manifests."""
    return hashlib.sha256("\n".join(item.id for item in items).encode("utf-8")).hexdigest()[:16]


def composite_id(*parts: str) -> str:
    """The id, in manifest digests, of an item that has none of its own: its texts as a JSON list.

    A preference pair is identified by its prompt and both completions; JSON keeps the parts apart
    whatever they hold.

    Examples:
        >>> composite_id("2 + 2 =", " 4", " 5")
        '["2 + 2 =", " 4", " 5"]'
    """
    return json.dumps(list(parts))


def content_digest(items: Sequence[Any]) -> str:
    """A short digest of the items' content in order: every field of each (dataclass) item.

    Two item lists digest alike exactly when they are equal field for field, so a question, an option,
    an answer or a metadata value edited under the same id changes it.
    """
    digest = hashlib.sha256()
    for item in items:
        is_instance = dataclasses.is_dataclass(item) and not isinstance(item, type)
        content = dataclasses.asdict(item) if is_instance else item
        digest.update(json.dumps(content, sort_keys=True, default=repr, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so saved and fresh manifests compare."""
    return json.loads(json.dumps(value))


def build_manifest(
    kind: str,
    *,
    model: dict[str, Any],
    settings: dict[str, Any],
    tasks: dict[str, Sequence[_Identified]],
    fewshot_pools: Mapping[str, Sequence[Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A manifest in its JSON form: the run's kind, model, settings and digests of each task's items.

    Args:
        kind: The run kind, a name in :data:`llmcal.runs.kinds.RUN_KINDS`.
        model: How the model was loaded (name, revision, dtype, ...) and its ``fingerprint``.
        settings: The settings that determine the results.
        tasks: Per task (or split), its items in order (anything with an ``id``; dataclass items are
            digested field by field, others by id only).
        fewshot_pools: Per task, the solved examples few-shot prompts are drawn from, where they are.
        **extra: Further top-level entries (e.g. the source files of an import).
    """
    digests: dict[str, dict[str, Any]] = {
        name: {
            "n_items": len(items),
            "item_ids": records_digest(items),
            "item_content": content_digest(items),
        }
        for name, items in tasks.items()
    }
    for name, pool in (fewshot_pools or {}).items():
        digests[name]["fewshot_content"] = content_digest(pool)
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
        raise InputError(
            f"{out}: no {MANIFEST_NAME} here; expected the `out` directory of an llmcal run.", parameter="out"
        )
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
    """Refuses to write into ``out`` if it holds results of a different model, settings or items.

    A directory with a manifest but no results (see the module docstring) is not refused: the caller
    overwrites its manifest.

    Raises:
        InputError: Listing what changed (at most a few entries), and how to proceed.
    """
    if not (out / MANIFEST_NAME).exists() or not _holds_results(out):
        return
    changes = manifest_changes(read_manifest(out), manifest)
    if changes:
        shown = "; ".join(changes[:_SHOWN_CHANGES])
        more = f"; and {len(changes) - _SHOWN_CHANGES} more" if len(changes) > _SHOWN_CHANGES else ""
        raise InputError(
            f"`out` {out} holds results of another run: {shown}{more}. Resume only with the same model, "
            "settings and items, or choose a new `out` directory.",
            parameter="out",
        )


def _holds_results(out: Path) -> bool:
    """Whether ``out`` holds anything besides its manifest and lock: records, results, checkpoints."""
    return any(entry.name not in (MANIFEST_NAME, LOCK_NAME) for entry in out.iterdir())


def manifest_changes(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two manifests' model, settings and tasks, one short phrase per entry.

    Entries only the newer manifest has (a fingerprint, content digests) are not differences, and the
    model's location is not compared where both manifests fingerprint the model.
    """
    old = dict(pair for section in _COMPARED_SECTIONS for pair in _flat(previous.get(section), section))
    new = dict(pair for section in _COMPARED_SECTIONS for pair in _flat(current.get(section), section))
    fingerprinted = any(key.startswith("model.fingerprint") for key in old) and any(
        key.startswith("model.fingerprint") for key in new
    )
    changes = []
    for key in sorted(old.keys() | new.keys(), key=_change_order):
        if old.get(key, _ABSENT) == new.get(key, _ABSENT):
            continue
        if key not in old and any(part in _LATER_ENTRIES for part in key.split(".")):
            continue
        if fingerprinted and key.removeprefix("model.") in _MODEL_LOCATIONS:
            continue
        changes.append(_describe_change(key, old.get(key, _ABSENT), new.get(key, _ABSENT)))
    return changes


_ABSENT = object()


def _flat(value: Any, prefix: str) -> list[tuple[str, Any]]:
    """``value``'s leaves under dotted keys (lists are leaves: a list of methods is one setting)."""
    if isinstance(value, Mapping):
        return [pair for key, inner in value.items() for pair in _flat(inner, f"{prefix}.{key}")]
    return [(prefix, value)]


def _change_order(key: str) -> tuple[int, str]:
    """Model first, then settings, then tasks; content changes before counts within a task."""
    return (_COMPARED_SECTIONS.index(key.split(".")[0]), key)


def _describe_change(key: str, old: Any, new: Any) -> str:
    """One difference in words: ``settings.n_bins 15 -> 10``, ``task 'arc': its items' content changed``."""
    section, _, rest = key.partition(".")
    if section == "tasks" and "." in rest:
        task, _, entry = rest.rpartition(".")
        if old is _ABSENT or new is _ABSENT:
            return f"task {task!r} is {'new' if old is _ABSENT else 'missing'}"
        what = {
            "n_items": f"{old} items before, {new} now",
            "item_ids": "other item ids",
            "item_content": "its items' content changed",
            "fewshot_content": "its few-shot examples changed",
        }.get(entry, f"{entry} {_short(old)} -> {_short(new)}")
        return f"task {task!r}: {what}"
    if key.startswith("model.fingerprint"):
        part = key.removeprefix("model.fingerprint.")
        return f"the model's {part} differs (other weights or files)"
    return f"{key} {_short(old)} -> {_short(new)}"


def _short(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


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

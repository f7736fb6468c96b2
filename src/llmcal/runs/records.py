"""``records.jsonl``: per-item records appended as batches finish, so a killed run resumes where it stopped.

Append-only and fsynced per chunk; a last line torn by a crash is ignored (and, by its writer, cut off).
In a data-parallel run every process appends to its own ``records.rank<N>.jsonl``; the main process merges
them into ``records.jsonl`` in item order once all have finished.

Each line is one record as JSON (:func:`record_line`, read back by :func:`parse_record_line`); an
open-ended item's record is told by its ``generation``. A multiple-choice record escapes non-ASCII
characters and an open-ended one writes them as UTF-8, as every llmcal has; neither holds NaN or infinity.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from llmcal.atomic import write_text_atomic
from llmcal.confidence.records import AnyRecord, GenerationRecord, ItemRecord
from llmcal.errors import InputError
from llmcal.scoring.requests import ContinuationScore, Generation
from llmcal.tasks.schema import MetadataValue

__all__ = [
    "RECORDS_NAME",
    "RecordStore",
    "has_rank_files",
    "load_records",
    "merge_records",
    "parse_record_line",
    "rank_records_name",
    "record_line",
    "write_records",
]

RECORDS_NAME = "records.jsonl"


_RANK_RECORDS_GLOB = "records.rank*.jsonl"


def rank_records_name(rank: int) -> str:
    """The records file process ``rank`` of a data-parallel run appends to."""
    return f"records.rank{rank}.jsonl"


class RecordStore:
    """One records file: append-only, fsynced per chunk, tolerant of a torn last line after a crash."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, *, repair: bool = True) -> dict[tuple[str, str], AnyRecord]:
        """Records already on disk; a last line cut off mid-write is ignored, and with ``repair`` cut off."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if repair and len(complete) != len(data):
            with self.path.open("r+b") as handle:  # drop the torn tail so appends start on a fresh line
                handle.truncate(len(complete))
        records: dict[tuple[str, str], AnyRecord] = {}
        for line, raw in enumerate(complete.split(b"\n")[:-1], start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    f"{self.path}:{line}: not valid UTF-8; not a records file llmcal wrote."
                ) from None
            record = parse_record_line(text, where=f"{self.path}:{line}")
            records[record.key] = record
        return records

    def append(self, records: Sequence[AnyRecord]) -> None:
        """Appends records durably: after this returns they survive a crash."""
        if not records:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(record_line(record) + "\n" for record in records))
            handle.flush()
            os.fsync(handle.fileno())


def _rank_files(out: Path) -> list[Path]:
    return sorted(out.glob(_RANK_RECORDS_GLOB))


def load_records(out: Path, *, own: Path | None = None) -> dict[tuple[str, str], AnyRecord]:
    """Records of the main file and of every per-process file in ``out``.

    Only ``own``, the file this process appends to, has a torn tail cut off: another process may be in
    the middle of appending to its own file.
    """
    records: dict[tuple[str, str], AnyRecord] = {}
    for path in [out / RECORDS_NAME, *_rank_files(out)]:
        records.update(RecordStore(path).load(repair=path == own))
    return records


def has_rank_files(out: Path) -> bool:
    """Whether per-process records files are waiting to be merged."""
    return bool(_rank_files(out))


def merge_records(out: Path, ordered: Mapping[str, Sequence[AnyRecord]]) -> None:
    """Rewrites records.jsonl in item order from every process's records, then drops the per-process files."""
    write_records(out, ordered)
    for path in _rank_files(out):  # after the atomic rewrite: a crash here leaves only duplicates
        path.unlink()


def write_records(out: Path, ordered: Mapping[str, Sequence[AnyRecord]]) -> None:
    """Writes ``out/records.jsonl`` atomically: per task, its records in the given order."""
    text = "".join(record_line(record) + "\n" for records in ordered.values() for record in records)
    write_text_atomic(out / RECORDS_NAME, text)


def record_line(record: AnyRecord) -> str:
    """``record`` as one line of ``records.jsonl`` (no trailing newline).

    Raises:
        ValueError: If the record holds a NaN or an infinity (its constructor refuses them in scores).
    """
    if isinstance(record, GenerationRecord):
        return json.dumps(_generation_record_dict(record), allow_nan=False, ensure_ascii=False)
    return json.dumps(_item_record_dict(record), allow_nan=False)


def parse_record_line(line: str, *, where: str) -> AnyRecord:
    """Parses a line written by :func:`record_line`, of either kind.

    Args:
        line: The line, without its newline.
        where: ``file:line``, for the error.

    Raises:
        InputError: Naming ``where``, if the line is not a valid record.
    """
    return _parsed(
        line, where, lambda data: _generation_record(data) if "generation" in data else _item_record(data)
    )


def _item_record_dict(record: ItemRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task": record.task,
        "id": record.id,
        "answer": record.answer,
        "n_options": record.n_options,
        "subject": record.subject,
        "options": None
        if record.options is None
        else [{"logprobs": list(o.token_logprobs), "greedy": o.is_greedy} for o in record.options],
        "letters": None if record.letters is None else list(record.letters),
    }
    if record.metadata:  # absent rather than empty: records of items without metadata stay as they were
        data["metadata"] = dict(record.metadata)
    return data


def _item_record(data: dict[str, Any]) -> ItemRecord:
    options = data["options"]
    return ItemRecord(
        task=str(data["task"]),
        id=str(data["id"]),
        answer=int(data["answer"]),
        n_options=int(data["n_options"]),
        subject=data.get("subject"),
        options=None if options is None else tuple(_option(option) for option in options),
        letters=None if data["letters"] is None else tuple(float(v) for v in data["letters"]),
        metadata=_metadata(data.get("metadata", {})),
    )


def _generation_dict(generation: Generation) -> dict[str, Any]:
    return {
        "text": generation.text,
        "tokens": list(generation.token_ids),
        "logprobs": list(generation.token_logprobs),
        "n_answer_tokens": generation.n_answer_tokens,
        "stop": generation.stop,
    }


def _generation_record_dict(record: GenerationRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task": record.task,
        "id": record.id,
        "answers": list(record.answers),
        "subject": record.subject,
        "generation": _generation_dict(record.generation),
        "p_true": None if record.p_true is None else list(record.p_true),
        "verbal": record.verbal,
    }
    if record.samples is not None:  # absent otherwise, so records of runs without samples stay as they were
        data["samples"] = [_generation_dict(sample) for sample in record.samples]
        data["sample_classes"] = list(record.sample_classes or ())
    if record.metadata:
        data["metadata"] = dict(record.metadata)
    return data


def _generation(generated: dict[str, Any]) -> Generation:
    stop = generated["stop"]
    if stop not in ("stop", "eos", "length"):
        raise ValueError(f"unknown stop reason {stop!r}")
    return Generation(
        text=str(generated["text"]),
        token_ids=tuple(int(token) for token in generated["tokens"]),
        token_logprobs=tuple(float(value) for value in generated["logprobs"]),
        n_answer_tokens=int(generated["n_answer_tokens"]),
        stop=stop,
    )


def _generation_record(data: dict[str, Any]) -> GenerationRecord:
    samples = data.get("samples")
    if samples is not None and (not isinstance(samples, list) or not samples):
        raise ValueError(f"samples must be a non-empty list of generations; found {samples!r}")
    p_true = data["p_true"]
    if p_true is not None and len(p_true) != 2:
        raise ValueError(f"p_true must hold 2 log-probabilities; found {p_true!r}")
    verbal = data["verbal"]
    if verbal is not None and not isinstance(verbal, str):
        raise ValueError(f"verbal must be a string; found {verbal!r}")
    return GenerationRecord(
        task=str(data["task"]),
        id=str(data["id"]),
        answers=tuple(str(answer) for answer in data["answers"]),
        subject=data.get("subject"),
        generation=_generation(data["generation"]),
        p_true=None if p_true is None else (float(p_true[0]), float(p_true[1])),
        verbal=verbal,
        samples=None if samples is None else tuple(_generation(sample) for sample in samples),
        sample_classes=None if samples is None else tuple(int(c) for c in data["sample_classes"]),
        metadata=_metadata(data.get("metadata", {})),
    )


def _metadata(metadata: Any) -> dict[str, MetadataValue]:
    if not isinstance(metadata, dict) or not all(
        isinstance(value, MetadataValue) for value in metadata.values()
    ):
        raise ValueError(f"metadata must be an object of scalar values; found {metadata!r}")
    return {str(key): value for key, value in metadata.items()}


def _option(option: dict[str, Any]) -> ContinuationScore:
    return ContinuationScore(tuple(float(value) for value in option["logprobs"]), bool(option["greedy"]))


Parsed = TypeVar("Parsed")


def _parsed(line: str, where: str, build: Callable[[dict[str, Any]], Parsed]) -> Parsed:
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object; found {type(data).__name__}")
        return build(data)
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{where}: not a valid llmcal record ({type(error).__name__}: {error}).") from None

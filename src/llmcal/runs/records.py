"""``records.jsonl``: per-item records appended as batches finish, so a killed run resumes where it stopped.

Append-only and fsynced per chunk; a last line torn by a crash is ignored (and, by its writer, cut off).
In a data-parallel run every process appends to its own ``records.rank<N>.jsonl``; the main process merges
them into ``records.jsonl`` in item order once all have finished.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from llmcal.atomic import write_text_atomic
from llmcal.confidence.records import AnyRecord, record_from_json
from llmcal.errors import InputError

__all__ = [
    "RECORDS_NAME",
    "RecordStore",
    "has_rank_files",
    "load_records",
    "merge_records",
    "rank_records_name",
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
            record = record_from_json(text, where=f"{self.path}:{line}")
            records[record.key] = record
        return records

    def append(self, records: Sequence[AnyRecord]) -> None:
        """Appends records durably: after this returns they survive a crash."""
        if not records:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(record.to_json() + "\n" for record in records))
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
    text = "".join(record.to_json() + "\n" for records in ordered.values() for record in records)
    write_text_atomic(out / RECORDS_NAME, text)

"""Running the study cell by cell: a finished cell is read back, an unfinished one is run and written.

A cell is the study's unit of work and of resumption (:class:`~llmcal.runs.study.Cell`). Its spec says
everything its result depends on; a rerun finds the cell's file with the same spec and skips the work, so a
killed study loses at most the cell it was in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from llmcal.process_memory import peak_rss_gib, release_memory
from llmcal.runs.study import Cell, ProbabilityTable, cell_path, read_cell, write_cell

__all__ = ["CellRunner", "CellWork"]

# What a cell's work returns: its named probability tables and its named values.
CellWork = Callable[[Path], tuple[dict[str, ProbabilityTable], dict[str, Any]]]


class CellRunner:
    """Runs cells into ``out/cells``, telling ``stage`` what it does; counts what was run and reused.

    Attributes:
        out: The study directory.
        ran: Names of the cells run by this process.
        reused: Names of the cells found finished.
    """

    def __init__(self, out: Path, stage: Callable[[str], None]) -> None:
        self.out = out
        self.stage = stage
        self.ran: list[str] = []
        self.reused: list[str] = []

    def __call__(self, name: str, spec: Mapping[str, Any], work: CellWork) -> Cell:
        """Cell ``name``: read back if it finished with ``spec``, else run by ``work`` and written.

        ``work`` gets the cell's directory (for files it keeps, such as a model) and returns the cell's
        tables and values; the cell's file is written when it returns, never before.

        Raises:
            InputError: If the cell finished earlier with another spec.
        """
        finished = read_cell(self.out, name, spec)
        if finished is not None:
            self.reused.append(name)
            return finished
        self.stage(name)
        start = time.perf_counter()
        directory = cell_path(self.out, name)
        directory.mkdir(parents=True, exist_ok=True)
        tables, values = work(directory)
        cell = Cell(name, dict(spec), tables, values, round(time.perf_counter() - start, 2), peak_rss_gib())
        write_cell(self.out, cell)
        self.ran.append(name)
        release_memory()
        # What was written (rounded to the cell format's digits), so a study decides the same from a fresh
        # cell as a rerun does from its file.
        written = read_cell(self.out, name, spec)
        assert written is not None
        return written

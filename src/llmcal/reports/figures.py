"""Matplotlib figures to PNG bytes and files, on their own Agg canvases: no pyplot, no global state.

Every figure llmcal draws ends here, so the core layer (:mod:`llmcal.atomic`) never knows matplotlib.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from llmcal.atomic import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["figure_png", "save_figure_atomic"]


def figure_png(figure: Figure) -> bytes:
    """A matplotlib figure rendered to PNG bytes on its own Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_figure_atomic(figure: Figure, path: str | Path) -> None:
    """Writes ``figure`` as a PNG atomically: a reader never sees half an image."""
    write_bytes_atomic(path, figure_png(figure))

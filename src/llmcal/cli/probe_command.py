"""``llmcal probe``: which items a model already knows, and how well the NLL-threshold detector tells.

Multiple-choice items are known when the model's top option is right; open-ended items (a file with
``answers``) when its greedy answer matches an accepted one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from llmcal.atomic import write_text_atomic
from llmcal.cli.option_values import MODEL_HELP, cloze_style_option, prompt_format_option
from llmcal.cli.out_paths import check_out_file
from llmcal.cli.server_options import (
    Concurrency,
    Servers,
    Timeout,
    Tokenizer,
    check_backend_options,
    server_backend,
)
from llmcal.knowledge.probe import ProbeResult, ProbeSettings, probe_knowledge
from llmcal.tasks.loading import load_any_items

if TYPE_CHECKING:
    from llmcal.scoring.requests import ScoringBackend

__all__ = ["probe"]


def probe(
    model: Annotated[
        str,
        typer.Option(help=f"Model before fine-tuning: {MODEL_HELP}; with --server, the served name."),
    ],
    data: Annotated[Path, typer.Option(help="Items to label (.jsonl/.csv/.parquet).")],
    out: Annotated[Path, typer.Option(help="Output JSONL: id, known, nll (and detector_known).")],
    calibration_data: Annotated[
        Path | None, typer.Option(help="Held-out items to fit the NLL threshold on (Youden's J).")
    ] = None,
    cloze_style: Annotated[str, typer.Option(help="qa | completion | partial.")] = "qa",
    format: Annotated[
        str, typer.Option("--format", help="cloze | letters: the prompt the model will be trained on.")
    ] = "cloze",
    slick_prompts: Annotated[
        int, typer.Option(min=0, help="Also give SliCK categories from this many few-shot prompt variants.")
    ] = 0,
    slick_fewshot: Annotated[int, typer.Option(min=1, help="Few-shot examples per SliCK prompt.")] = 2,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Open-ended items: the most tokens of the model's answer.")
    ] = 32,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto | float32 | float16 | bfloat16.")] = "auto",
    servers: Servers = None,
    tokenizer: Tokenizer = None,
    concurrency: Concurrency = 8,
    timeout: Timeout = 600.0,
) -> None:
    """Label items known/unknown by the model's own answers, and fit and score the NLL detector.

    \f
    Why it is long: typer reads a command's options from its parameters, one each; the work is in the
    named steps below.
    """  # noqa: D301 (the form feed ends the help text Click shows; what follows is for readers of the code)
    check_out_file(out, example="known.jsonl")
    settings = ProbeSettings(
        # Style is checked before format, as before, so a command with both wrong names the style first.
        style=cloze_style_option(cloze_style),
        format=prompt_format_option(format),
        slick_prompts=slick_prompts,
        slick_fewshot=slick_fewshot,
        max_new_tokens=max_new_tokens,
    )
    items = load_any_items(data)
    calibration = load_any_items(calibration_data) if calibration_data else []
    err = Console(stderr=True, markup=False)
    check_backend_options(
        servers, tokenizer, {"device": device, "dtype": dtype}, {"device": "auto", "dtype": "auto"}
    )
    backend: ScoringBackend
    if servers:
        backend = server_backend(
            model, servers, tokenizer=tokenizer, batch_size=None, concurrency=concurrency, timeout=timeout,
            on_status=lambda text: err.print(text, highlight=False),
        )  # fmt: skip
    else:
        backend = _backend(model, device=device, dtype=dtype, err=err)
    result = probe_knowledge(items, backend, settings, calibration_items=calibration)
    _write_and_summarise(result, data, out)


def _backend(model: str, *, device: str, dtype: str, err: Console) -> ScoringBackend:
    """The model to probe, loaded with its status lines (a GGUF conversion, say) on stderr."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from llmcal.scoring.hf import HFBackend

    return HFBackend(
        model, device=device, dtype=dtype, on_status=lambda text: err.print(text, highlight=False)
    )


def _write_and_summarise(result: ProbeResult, data: Path, out: Path) -> None:
    """Prints the probe's summary, then writes the labels to ``out`` and says so."""
    console = Console(markup=False)
    for line in result.summary_lines(data):
        console.print(line)
    write_text_atomic(out, result.to_jsonl())
    console.print(f"wrote {out}")

"""The options of ``llmcal eval`` for the methods over samples: how answers are sampled and grouped.

``--samples``, ``--temperature``, ``--top-k`` and ``--top-p`` set
:class:`~llmcal.scoring.sampling.SamplingSettings` (their defaults are the settings'; ``None`` here means
not given, so a run without them is the same run as one spelling the defaults out). ``--nli`` names an NLI
model whose labels are checked before anything loads; ``--answers`` gives answers made elsewhere
(:mod:`llmcal.cli.answers_option`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from llmcal.confidence.extraction import ExtractionSettings
from llmcal.confidence.generation_extraction import GenerationSettings, sampling_method_names
from llmcal.errors import InputError
from llmcal.scoring.sampling import DEFAULT_SAMPLES

__all__ = ["Answers", "Nli", "Samples", "Temperature", "TopK", "TopP", "with_nli"]

Samples = Annotated[
    int | None,
    typer.Option(
        help=f"Methods over samples: answers sampled per item (at least 2). Default: {DEFAULT_SAMPLES}."
    ),
]
Temperature = Annotated[
    float | None,
    typer.Option(
        help="Methods over samples: sampling temperature (0: always the likeliest token). Default: 1.0."
    ),
]
TopK = Annotated[
    int | None,
    typer.Option(help="Methods over samples: draw from the k likeliest tokens (0: all). Default: 50."),
]
TopP = Annotated[
    float | None,
    typer.Option(
        help="Methods over samples: draw from the likeliest tokens holding this much probability "
        "(nucleus). Default: 1.0."
    ),
]
Nli = Annotated[
    str | None,
    typer.Option(
        help="Methods over samples: an NLI model (folder or hub id; labels naming 'entailment') that "
        "groups answers by bidirectional entailment. Default: normalised match, aware of aliases."
    ),
]
Answers = Annotated[
    Path | None,
    typer.Option(
        help='Open-ended tasks: answers made elsewhere, one JSON line per item ({"id", "answer", '
        '"samples"}), scored by --model instead of generated; every method but verbal.'
    ),
]


def with_nli(
    settings: ExtractionSettings | GenerationSettings, name: str
) -> ExtractionSettings | GenerationSettings:
    """``settings`` grouping sampled answers with the NLI model ``name``, its labels checked first.

    Raises:
        InputError: If no method over samples is chosen, or the model has no entailment label (or none
            loads).
    """
    if not isinstance(settings, GenerationSettings) or settings.sampling is None:
        raise InputError(
            "--nli groups sampled answers by meaning; choose a method over samples in --methods "
            f"({', '.join(sampling_method_names())})."
        )
    from transformers import AutoConfig

    from llmcal.scoring.nli import entailment_label

    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise InputError(
            f"--nli {name}: could not load its config ({' '.join(str(error).split())[:160]}); give the "
            "folder or hub id of a sequence-classification model trained for NLI."
        ) from None
    entailment_label(config, name)
    return replace(settings, nli=name)

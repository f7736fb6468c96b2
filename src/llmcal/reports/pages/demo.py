"""The page of ``llmcal demo``: the story in figures, the variants, the real model, then the runs it made."""

from __future__ import annotations

from pathlib import Path

from llmcal.reports.cells import AT_TEMPERATURE_BOUND, number, temperature_at_bound, temperature_cell
from llmcal.reports.headline import demo_story_figures
from llmcal.reports.pages.parts import Part, Section, SubRun, calibration_table, escape, image
from llmcal.runs.comparison import COMPARISON_NAME
from llmcal.runs.demo import DemoResults, RealModelResults
from llmcal.runs.kinds import RunOutput
from llmcal.runs.manifest import MANIFEST_NAME

__all__ = ["demo_sections"]

# The demo's evaluations shown after its own sections: directory and what it evaluated.
_EVALUATIONS = (
    ("pretrained-test", "pretrained model on the test people"),
    ("aligned-test", "aligned model on the test people"),
)


def demo_sections(output: RunOutput, heading: str) -> list[Part]:
    """The story in figures first (variants, pretrained vs aligned, the real model), then every table.

    The demo's own headings replace ``heading``.
    """
    path, demo = output.path, output.run
    sections: list[Part] = [
        Section(f"Demo: {path}", _story(demo)),
        Section(
            "Knowledge world: calibration per variant on the test people",
            "<p>known = people whose facts were in pretraining.</p>" + calibration_table(demo.rows, "people"),
        ),
    ]
    if demo.real_model is not None:
        sections.append(_real_model_section(demo.real_model))
    sections.append(SubRun(path / "comparison", "Demo: pretrained vs aligned (DPO)", COMPARISON_NAME))
    evaluations = list(_EVALUATIONS)
    if demo.real_model is not None:
        evaluations.append(("real-model/test", f"{demo.real_model.model} on the test fact questions"))
    sections += [
        SubRun(path / name, f"Demo evaluation: {label}", MANIFEST_NAME) for name, label in evaluations
    ]
    return sections


def _story(demo: DemoResults) -> str:
    """The world's facts in a sentence, then the story's figures."""
    world = demo.world
    story = "".join(image(figure.png, figure.alt, figure.caption) for figure in demo_story_figures(demo))
    facts = (
        f"<p>World preset <code>{escape(demo.preset)}</code>, seed {escape(demo.seed)}: the pretrained "
        f"model recalls {number(world.get('recall_known'))} of the facts it read and "
        f"{number(world.get('recall_unknown'))} of the others "
        f"(chance {number(world.get('recall_chance'))}). "
        f"Temperature fitted on the calibration people: T = {number(demo.temperature)}.</p>"
    )
    return facts + f'<div class="story">{story}</div>'


def _real_model_section(real: RealModelResults) -> Section:
    gguf = real.gguf
    source = (
        f" (GGUF {escape(Path(gguf['file']).name)}, {escape(gguf['quantization'])}, de-quantized to float32)"
        if gguf
        else ""
    )
    temperatures = ", ".join(
        f"{escape(method)} {escape(temperature_cell(value))}" for method, value in real.temperatures.items()
    )
    if any(map(temperature_at_bound, real.temperatures.values())):
        temperatures += f" ({escape(AT_TEMPERATURE_BOUND)})"
    intro = (
        f"<p><code>{escape(real.model)}</code>{source} on {real.n_test} questions of the built-in "
        f"<code>{escape(real.task)}</code> task (real countries and cities, see docs/facts.md), every "
        f"confidence method; one temperature per method fitted on {real.n_calibration} held-out "
        f"questions: {temperatures}.</p>"
    )
    return Section(
        f"Real model: {real.model} on real facts, by {real.by}",
        intro
        + "<h3>All test questions</h3>"
        + calibration_table(real.overall_rows, "questions")
        + f"<h3>By {escape(real.by)} of the place asked about (rarest first)</h3>"
        + calibration_table(real.stratum_rows, real.by),
    )

"""The open-ended part of an evaluation's page: how good the answers are, and those without a confidence."""

from __future__ import annotations

from llmcal.reports.cells import number, reasons_cell
from llmcal.reports.pages.parts import escape
from llmcal.runs.evaluation import EvalResults, MissingConfidence

__all__ = ["answers_part"]


def answers_part(results: EvalResults) -> list[str]:
    """Open-ended tasks: exact match and token F1 of the answers, and the answers without a confidence."""
    lines = []
    for task, entry in results.tasks.items():
        stats = entry.answers
        if stats is None:
            continue
        missing = [_missing_line(missing, entry.n_items) for missing in stats.missing_confidences()]
        lines.append(
            f"<li><b>{escape(task)}</b>: exact match {number(stats.exact_match)}, token F1 "
            f"{number(stats.token_f1)} over {entry.n_items} generated answers"
            + ("; " + "; ".join(missing) if missing else "")
            + ".</li>"
        )
    if not lines:
        return []
    return [
        "<p>Answers are right when they match an accepted answer after SQuAD-style normalisation; n is "
        "the number of answers a method gave a confidence. The <code>p-true</code> and <code>verbal</code> "
        "prompts are zero-shot, whatever the answer prompt's number of examples: they show the question and "
        "the model's answer alone.</p>",
        f"<ul>{''.join(lines)}</ul>",
    ]


def _missing_line(missing: MissingConfidence, n_items: int) -> str:
    """How many answers a method gave no confidence, and why; all of them leave it without metrics."""
    method, reasons = escape(missing.method), escape(reasons_cell(missing.problems))
    if missing.n_answers >= n_items:
        return (
            f"<code>{method}</code> gave none of the {n_items} answers a confidence ({reasons}): "
            "it has no metrics and no diagram"
        )
    return (
        f"<code>{method}</code> gave {missing.n_answers} no confidence ({reasons}), left out of its metrics"
    )

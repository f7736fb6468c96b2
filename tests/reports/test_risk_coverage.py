"""Risk-coverage curves: a line per method from its answered predictions, over random and oracle rejection."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import llmcal.reports.pages.eval as eval_page
from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings, aurc, risk_coverage_curve
from llmcal.metrics.predictions import Predictions
from llmcal.reports.html import report_html
from llmcal.reports.risk_coverage import CURVE_POINTS, MethodRiskCoverage, plot_risk_coverage
from llmcal.runs import EvalSettings, read_eval_run
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import OpenItem

# Six answers, four right: ranked perfectly, the two wrong ones are the least confident.
CORRECT = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
RANKED = np.array([0.9, 0.8, 0.2, 0.7, 0.1, 0.6])
CITIES = ["Paris", "Lima", "Oslo", "Quito", "Rome"]


def _line(method: str, confidences: np.ndarray, correct: np.ndarray = CORRECT) -> MethodRiskCoverage:
    return MethodRiskCoverage.of(method, Predictions(confidences, correct, None, None, method))


def _drawn(lines):
    ax = Figure().add_subplot()
    plot_risk_coverage(lines, ax)
    return {line.get_label(): line for line in ax.get_lines()}


def test_each_method_is_a_line_of_its_curve_labelled_with_its_aurc():
    drawn = _drawn([_line("ranked", RANKED), _line("reversed", -RANKED)])
    ranked = drawn[f"ranked (AURC {aurc(RANKED, CORRECT):.3f})"]
    reversed_ = drawn[f"reversed (AURC {aurc(-RANKED, CORRECT):.3f})"]
    # Perfectly ranked: the right answers are kept first, so the risk starts at 0 and ends at the error rate.
    assert ranked.get_xdata().tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])
    assert ranked.get_ydata().tolist() == pytest.approx([0, 0, 0, 0, 1 / 5, 2 / 6])
    # Ranked backwards: the wrong answers are kept first.
    assert reversed_.get_ydata().tolist() == pytest.approx([1, 1, 2 / 3, 2 / 4, 2 / 5, 2 / 6])


def test_thirteen_methods_are_thirteen_different_lines():
    lines = [_line(f"m{index}", RANKED + 0.001 * index) for index in range(13)]
    drawn = _drawn(lines)
    methods = [line for label, line in drawn.items() if label.startswith("m")]
    assert len({(line.get_color(), line.get_linestyle()) for line in methods}) == 13
    assert not {line.get_linestyle() for line in methods} & {"--", ":"}  # the references' styles


def test_methods_judged_on_the_same_answers_share_one_grey_pair_of_references():
    drawn = _drawn([_line("ranked", RANKED), _line("flat", np.full(6, 0.5))])
    random_rejection = drawn["random rejection (error rate 0.333)"]
    assert random_rejection.get_linestyle() == "--"
    assert list(random_rejection.get_ydata()) == pytest.approx([2 / 6, 2 / 6])
    oracle = drawn["oracle"]
    assert oracle.get_ydata().tolist() == pytest.approx([0, 0, 0, 0, 1 / 5, 2 / 6])  # max(0, (k - 4) / k)
    assert random_rejection.get_color() == oracle.get_color() == "0.5"
    # Every confidence tied: each kept subset errs at the overall rate, in expectation.
    assert drawn["flat (AURC 0.333)"].get_ydata().tolist() == pytest.approx([2 / 6] * 6)
    assert len(drawn) == 4


def test_methods_judged_on_different_answers_each_get_their_references_by_name():
    subset = _line("verbal", RANKED[:3], CORRECT[:3])  # 3 answers, 1 wrong
    drawn = _drawn([_line("ranked", RANKED), subset])
    assert "random rejection, ranked (error rate 0.333)" in drawn
    assert "random rejection, verbal (error rate 0.333)" in drawn  # the same rate, over other items
    assert drawn["oracle, verbal"].get_ydata().tolist() == pytest.approx([0, 0, 1 / 3])
    assert drawn["oracle, verbal"].get_color() == drawn["verbal (AURC 0.111)"].get_color()


def test_long_curves_are_thinned_to_about_the_plotted_points_keeping_both_ends():
    rng = np.random.default_rng(0)
    confidences, correct = rng.uniform(size=5000), (rng.uniform(size=5000) < 0.7).astype(float)
    line = _line("seq-prob", confidences, correct)
    plotted = _drawn([line])[f"seq-prob (AURC {line.aurc:.3f})"]
    full = risk_coverage_curve(confidences, correct)
    assert len(plotted.get_xdata()) <= CURVE_POINTS
    assert plotted.get_ydata()[0] == full.risk[0]
    assert plotted.get_ydata()[-1] == full.risk[-1] == pytest.approx(1 - correct.mean())
    assert plotted.get_xdata()[-1] == 1.0


@pytest.fixture(scope="module")
def open_run(tmp_path_factory):
    """An open-ended evaluation: five methods, verbal without a confidence on some answers."""
    out = tmp_path_factory.mktemp("open-run")
    items = [
        OpenItem(f"q{index}", f"What is city number {index}?", (CITIES[index % 5],)) for index in range(60)
    ]
    settings = EvalSettings(GenerationSettings(), MetricSettings(n_resamples=10))
    evaluate([EvalTask("cities", items)], FakeBackend(answers=CITIES), settings, out)
    return out


def test_the_report_draws_one_figure_per_task_with_each_methods_curve_of_its_answers(open_run, monkeypatch):
    drawn: dict[str, list[MethodRiskCoverage]] = {}

    def capture(lines, title):
        drawn[title] = list(lines)
        return b"\x89PNG\r\n\x1a\n"

    monkeypatch.setattr(eval_page, "risk_coverage_png", capture)
    page = report_html([open_run])
    assert "<h3>Risk-coverage curves</h3>" in page
    assert 'alt="risk-coverage curves cities: seq-prob, mean-prob, min-prob, p-true, verbal"' in page
    (lines,) = drawn.values()
    run = read_eval_run(open_run)
    summaries = run.results().tasks["cities"].methods
    assert [line.method for line in lines] == list(summaries) == ["seq-prob", "mean-prob", "min-prob",
                                                                    "p-true", "verbal"]  # fmt: skip
    for line in lines:
        predictions = run.answered_predictions("cities", line.method)
        assert predictions is not None
        expected = risk_coverage_curve(predictions.confidences, predictions.correct)
        np.testing.assert_array_equal(line.curve.risk, expected.risk)
        assert line.n_items == summaries[line.method].n_items
        assert line.aurc == pytest.approx(aurc(predictions.confidences, predictions.correct))
    assert lines[-1].n_items < lines[0].n_items  # verbal's unreadable answers are not on its curve

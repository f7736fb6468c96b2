"""``llmcal report``: one self-contained HTML page from eval, compare and fine-tuning outputs."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest

from llmcal import InputError
from llmcal.cli.app import main
from llmcal.confidence import ExtractionSettings
from llmcal.evaluation import evaluate
from llmcal.metrics import CalibrationRow, MetricSettings
from llmcal.reports.html import report_html, write_report
from llmcal.runs import EvalSettings, TrainingResults, build_manifest, write_manifest, write_training_results
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem

from ..headless_browser import dump_dom, requires_chromium, screenshot

ITEMS = [
    MCItem(f"q{i}", f"Question {i} about topic {i % 5}?", ("alpha", "beta", "gamma", "delta"), i % 4,
           subject=["physics", "law"][i % 2])
    for i in range(80)
]  # fmt: skip
SETTINGS = EvalSettings(ExtractionSettings(methods=("sum", "choice")), MetricSettings(n_resamples=30))


class Outline(HTMLParser):
    """Headings, table count, image sources and external references of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tables = 0
        self.images: list[str] = []
        self.external: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self._in_heading = tag in ("h1", "h2", "h3")
        if self._in_heading:
            self.headings.append("")
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(values["src"])
        for name in ("src", "href"):
            if values.get(name, "").startswith(("http:", "https:", "//")):
                self.external.append(values[name])

    def handle_endtag(self, tag):
        self._in_heading = self._in_heading and tag not in ("h1", "h2", "h3")

    def handle_data(self, data):
        if self._in_heading:
            self.headings[-1] += data


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An evaluation (with subjects), a second one, their comparison and a fine-tuning result."""
    root = tmp_path_factory.mktemp("report-runs")
    evaluate([EvalTask("toy<script>", ITEMS)], FakeBackend(favoured=["alpha"]), SETTINGS, root / "base")
    evaluate([EvalTask("toy<script>", ITEMS)], FakeBackend(favoured=["alpha"], bonus=6.0), SETTINGS,
             root / "aligned")  # fmt: skip
    assert main(["compare", str(root / "base"), str(root / "aligned"), "--out", str(root / "cmp"),
                 "--n-resamples", "20"]) == 0  # fmt: skip
    finetune = root / "ft"
    settings = {"method": "cogcalib-ls"}
    write_manifest(finetune, build_manifest("finetune", model={"name": "tiny"}, settings=settings, tasks={}))
    row = CalibrationRow(n_items=80, accuracy=0.5, ece=0.2, sce=0.1, brier=0.6, mean_confidence=0.7)
    write_training_results(finetune, TrainingResults(
        "finetune", settings, n_examples=100, train_loss=1.25, log=[{"epoch": 1.0, "loss": 1.25}],
        main_process=True, before=row, after=replace(row, ece=0.05),
    ))  # fmt: skip
    return root


def test_report_has_every_section_inline_images_and_escaped_text(runs):
    page = report_html([runs / "base", runs / "cmp", runs / "ft"])
    outline = Outline()
    outline.feed(page)
    headings = outline.headings
    assert headings[0] == "llmcal report"
    assert f"Evaluation: {runs / 'base'}" in headings
    assert f"Comparison: {runs / 'cmp'}" in headings
    assert f"Fine-tuning: {runs / 'ft'}" in headings
    for heading in ("Summary", "Reliability diagrams and confidence histograms", "Risk-coverage curves",
                    "Per-subject breakdown", "Before and after", "Training log", "Settings"):  # fmt: skip
        assert heading in headings
    assert outline.tables >= 5
    # 2 methods of the evaluation, its task's risk-coverage curves and the comparison plot; all inline PNGs
    # that decode as PNGs.
    assert len(outline.images) == 4
    for source in outline.images:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert outline.external == []
    assert "<script>" not in page  # the task name is escaped
    assert "toy&lt;script&gt;" in page
    assert '"method": "cogcalib-ls"' in page  # the exact settings
    assert 'alt="risk-coverage curves toy&lt;script&gt;: sum, choice"' in page
    assert re.search(r"<td>0\.200</td><td>0\.050</td>|-0\.150", page)  # ECE before/after change


def test_cli_writes_the_report_and_refuses_unknown_directories(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(runs / "base"), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 2
    assert "not an llmcal output directory" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    with pytest.raises(InputError, match="No directories"):
        report_html([])


def test_a_hand_edited_output_is_an_input_error_and_markup_in_it_is_escaped(runs, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "comparison.json").write_text('{"settings": {}, "pairs": []}')
    with pytest.raises(
        InputError, match=r"not a comparison as llmcal \S+ writes them \(KeyError: 'changes'\)"
    ):
        report_html([broken])
    edited = tmp_path / "edited"
    write_manifest(edited, build_manifest("finetune", model={}, settings={}, tasks={}))
    row = {"n_items": 80, "accuracy": 0.5, "ece": 0.2, "sce": 0.1, "brier": 0.6, "mean_confidence": 0.7}
    results = {"settings": {"<b>": "</b>"}, "n_train": 1, "before": row, "after": row, "train_loss": 1.0,
               "log": [{"epoch": 1, "<i>loss</i>": 1.0}], "main_process": True}  # fmt: skip
    (edited / "results.json").write_text(json.dumps(results))
    page = report_html([edited])
    assert "<b>" not in page
    assert "<i>" not in page
    (edited / "results.json").write_text(json.dumps({**results, "before": {**row, "n_items": "<b>80</b>"}}))
    with pytest.raises(
        InputError,
        match=r"results of a fine-tuning or alignment run as llmcal .*\(ValueError.*llmcal \S+ wrote it",
    ):
        report_html([edited])


def test_plots_leave_pyplot_state_alone(runs, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    write_report([runs / "base"], tmp_path / "r.html")
    assert plt.get_fignums() == before


@pytest.mark.slow
@requires_chromium
def test_report_renders_in_headless_chromium(runs, tmp_path):
    import matplotlib.image

    page = write_report([runs / "base", runs / "cmp", runs / "ft"], tmp_path / "report.html")
    dom = dump_dom(page)
    outline = Outline()
    outline.feed(dom)
    assert "Reliability diagrams and confidence histograms" in outline.headings
    assert "Per-subject breakdown" in outline.headings
    assert outline.tables >= 5
    pixels = matplotlib.image.imread(screenshot(page, tmp_path / "shot.png"))[..., :3]
    assert pixels.std() > 0.05  # not a blank page
    # The diagrams' bar colour (#4C72B0) covers a real area, so the inline images were decoded and drawn.
    bar = np.all(np.abs(pixels - np.array([0x4C, 0x72, 0xB0]) / 255) < 0.03, axis=-1)
    assert bar.sum() > 5000


def _table_after(page, heading):
    """The rows of the first table after ``heading``, as lists of cell texts (intervals left out)."""
    section = page[page.index(f"<h3>{heading}</h3>") :]
    table = section[: section.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    return [
        [
            re.sub(r"<span.*?</span>|<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
        ]
        for row in rows
    ]


@pytest.mark.filterwarnings("ignore:.*bootstrap resamples gave an undefined metric")  # strata of 20 items
def test_a_stratified_evaluation_has_a_table_and_a_figure_per_method_of_its_strata(tmp_path):
    from llmcal.runs import Stratification

    items = [replace(item, metadata={"popularity": float(index)}) for index, item in enumerate(ITEMS)]
    evaluate([EvalTask("facts", items)], FakeBackend(favoured=["alpha"]), SETTINGS, tmp_path / "run",
             stratification=Stratification("popularity", 4))  # fmt: skip
    page = report_html([tmp_path / "run"])
    outline = Outline()
    outline.feed(page)
    assert "Calibration by popularity" in outline.headings
    assert "Reliability diagrams by popularity" in outline.headings
    assert "Per-subject breakdown" in outline.headings  # subjects are not what the strata are of
    # 2 methods: a diagram pair each and a figure with a panel per stratum each; one risk-coverage figure.
    assert len(outline.images) == 5
    assert 'alt="reliability diagram per popularity stratum, facts sum"' in page
    rows = _table_after(page, "Calibration by popularity")
    assert rows[0][:6] == ["task", "method", "popularity", "n", "accuracy", "mean confidence"]
    assert [row[1:4] for row in rows[1:]] == [
        [method, label, "20"] for method in ("sum", "choice") for label in ("0–19", "20–39", "40–59", "60–79")
    ]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    first = results["tasks"]["facts"]["strata"]["groups"][0]["methods"]["sum"]
    assert rows[1][4] == f"{first['metrics']['accuracy']['value']:.3f}"
    assert rows[1][5] == f"{first['mean_confidence']:.3f}"

    evaluate([EvalTask("facts", items)], FakeBackend(favoured=["alpha"]), SETTINGS, tmp_path / "run",
             stratification=Stratification("subject"))  # fmt: skip
    outline = Outline()
    outline.feed(report_html([tmp_path / "run"]))
    assert "Calibration by subject" in outline.headings
    assert "Per-subject breakdown" not in outline.headings  # the strata table has its rows, with intervals


def test_every_table_row_is_told_apart_by_its_key_columns(runs):
    """The left-aligned key columns of each table (task, method, subject, ...) differ on every row.

    A per-subject table once repeated ``task | subject`` once per method with no method column.
    """
    page = report_html([runs / "base", runs / "cmp", runs / "ft"])
    tables = re.findall(r"<table>(.*?)</table>", page, flags=re.S)
    assert len(tables) >= 5
    for table in tables:
        keys = [
            tuple(re.findall(r'<td class="text">(.*?)</td>', row))
            for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[-1])
        ]
        assert all(keys), table[:200]
        assert len(set(keys)) == len(keys), f"rows share their keys: {keys}"
    subjects = _table_after(page, "Per-subject breakdown")
    assert subjects[0][:3] == ["task", "method", "subject"]
    assert sorted((row[1], row[2]) for row in subjects[1:]) == [
        ("choice", "law"), ("choice", "physics"), ("sum", "law"), ("sum", "physics")
    ]  # fmt: skip

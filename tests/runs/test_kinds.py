"""Run directories of every kind, including those the previous version wrote, read back as typed results."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from llmcal import InputError, __version__
from llmcal.reports.html import SECTIONS, report_html
from llmcal.runs import (
    RUN_FORMAT,
    RUN_KINDS,
    ComparisonResults,
    DemoResults,
    EvalResults,
    EvalRun,
    TrainingRun,
    read_output,
    run_kind,
)

# Written by llmcal before run directories named their kind and format (commit 755847d): an evaluation
# of the fake backend, and the demo's fine-tuning, alignment, comparison and demo files.
PREVIOUS = Path(__file__).parents[1] / "golden" / "previous-version"


@pytest.mark.parametrize(
    ("folder", "kind", "typed"),
    [
        ("eval", "eval", EvalRun),
        ("finetune/sft", "finetune", TrainingRun),
        ("aligned", "align", TrainingRun),
        ("comparison", "comparison", ComparisonResults),
        (".", "demo", DemoResults),
    ],
)
def test_directories_the_previous_version_wrote_are_read_as_their_kind(folder, kind, typed):
    output = read_output(PREVIOUS / folder)
    assert (output.kind, type(output.run)) == (kind, typed)


@pytest.mark.parametrize(
    ("file", "read"),
    [
        ("eval/results.json", lambda: read_output(PREVIOUS / "eval").run.results()),
        ("finetune/sft/results.json", lambda: read_output(PREVIOUS / "finetune/sft").run.results),
        ("aligned/results.json", lambda: read_output(PREVIOUS / "aligned").run.results),
        ("comparison/comparison.json", lambda: read_output(PREVIOUS / "comparison").run),
        ("demo.json", lambda: read_output(PREVIOUS).run),
    ],
)
def test_typed_results_write_back_the_previous_versions_bytes(file, read):
    """The typed form loses nothing and reorders nothing: written again, each file is byte-identical."""
    typed = read()
    written = json.dumps(typed.to_dict(), indent=2, default=str) + "\n"
    assert written == (PREVIOUS / file).read_text()


def test_a_newer_run_format_is_refused_naming_both_versions(tmp_path):
    run = shutil.copytree(PREVIOUS / "eval", tmp_path / "eval")
    manifest = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**manifest, "format": RUN_FORMAT + 1, "llmcal_version": "9.0"}))
    with pytest.raises(InputError) as error:
        read_output(run)
    message = str(error.value)
    assert f"written by llmcal 9.0 in run format {RUN_FORMAT + 1}" in message
    assert f"this llmcal {__version__} reads run formats up to {RUN_FORMAT}" in message


def test_an_unknown_kind_is_refused_with_suggestions(tmp_path):
    run = shutil.copytree(PREVIOUS / "eval", tmp_path / "eval")
    manifest = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**manifest, "kind": "evall"}))
    with pytest.raises(InputError, match=r"Unknown run kind 'evall'\. Did you mean: eval"):
        run_kind(run)


def test_a_results_file_of_another_structure_names_the_version_that_wrote_it(tmp_path):
    run = shutil.copytree(PREVIOUS / "eval", tmp_path / "eval")
    results = json.loads((run / "results.json").read_text())
    del results["tasks"]
    (run / "results.json").write_text(json.dumps(results))
    expected = (
        rf"not the results of an evaluation as llmcal {__version__} writes.*"
        rf"KeyError: 'tasks'.*llmcal {results['llmcal_version']} wrote it"
    )
    with pytest.raises(InputError, match=expected):
        read_output(run).run.results()


def test_new_runs_name_their_kind_and_format(tmp_path):
    from llmcal.confidence import ExtractionSettings
    from llmcal.evaluation import evaluate
    from llmcal.metrics import MetricSettings
    from llmcal.runs import EvalSettings
    from llmcal.scoring import FakeBackend
    from llmcal.tasks import EvalTask
    from llmcal.tasks.schema import MCItem

    items = [MCItem(f"q{i}", f"Question {i}?", ("a", "b"), i % 2) for i in range(12)]
    settings = EvalSettings(ExtractionSettings(("sum",)), MetricSettings(n_resamples=10))
    results = evaluate([EvalTask("toy", items)], FakeBackend(), settings, tmp_path)
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert (manifest["kind"], manifest["format"], manifest["llmcal_version"]) == (
        "eval",
        RUN_FORMAT,
        __version__,
    )
    assert isinstance(results, EvalResults)
    assert read_output(tmp_path).run.results().to_dict() == results.to_dict()


def test_every_run_kind_has_a_report_section_and_the_report_draws_the_previous_versions_runs():
    assert set(SECTIONS) == set(RUN_KINDS.names())
    folders = [PREVIOUS / name for name in ("eval", "finetune/sft", "aligned", "comparison", ".")]
    page = report_html(folders)
    for heading in ("Evaluation: ", "Fine-tuning: ", "Alignment: ", "Comparison: ", "Demo: "):
        assert heading in page


def test_an_evaluation_reader_refuses_another_kind_by_name(tmp_path):
    from llmcal.runs import read_eval_run

    with pytest.raises(
        InputError, match=r"run\.json: a finetune run, not an evaluation; pass the `out` directory"
    ):
        read_eval_run(PREVIOUS / "finetune" / "sft")  # a manifest without a kind, recognised as fine-tuning
    run = shutil.copytree(PREVIOUS / "eval", tmp_path / "eval")
    manifest = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**manifest, "kind": "align"}))
    with pytest.raises(InputError, match="a align run, not an evaluation"):
        read_eval_run(run)


def test_manifests_are_sorted_indented_json_with_digests_of_the_item_ids(tmp_path):
    import hashlib

    from llmcal.runs import build_manifest, write_manifest
    from llmcal.tasks.schema import MCItem

    items = [MCItem("b", "Q?", ("x", "y"), 0), MCItem("a", "Q?", ("x", "y"), 1)]
    manifest = build_manifest("eval", model={"name": "m"}, settings={"z": 1, "a": (1, 2)}, tasks={"t": items})
    digest = hashlib.sha256(b"b\na").hexdigest()[:16]
    content = manifest["tasks"]["t"]["item_content"]
    assert manifest["tasks"] == {"t": {"n_items": 2, "item_ids": digest, "item_content": content}}
    edited = build_manifest(
        "eval", model={}, settings={}, tasks={"t": [items[0], replace(items[1], question="R?")]}
    )
    assert edited["tasks"]["t"]["item_ids"] == digest
    assert edited["tasks"]["t"]["item_content"] != content
    assert manifest["settings"] == {"z": 1, "a": [1, 2]}  # as JSON reads it back, so resumes compare equal
    write_manifest(tmp_path / "new" / "run", manifest)
    text = (tmp_path / "new" / "run" / "run.json").read_text()
    assert text == json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def test_training_runs_carry_their_manifest_and_a_results_file_alone_is_only_a_legacy_alignment(tmp_path):
    assert read_output(PREVIOUS / "finetune" / "sft").run.manifest["model"]["known_calibration_items"] == 60
    assert read_output(PREVIOUS / "aligned").run.manifest is None
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "results.json").write_text('{"n_train": 3}')
    with pytest.raises(InputError, match="not an llmcal output directory"):
        run_kind(stray)

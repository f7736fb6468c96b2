"""Issue 26 B: file names built from task names, methods and --by fields are safe and never collide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmcal.confidence.generation_extraction import GenerationSettings
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.reports.reliability import reliability_png_name, save_reliability_pngs, strata_png_name
from llmcal.runs import EvalSettings, Stratification
from llmcal.runs.evaluation import FILE_PART_MAX, file_part, strata_bins_name
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import OpenItem

HOSTILE = [
    "../../x",
    "..",
    ".",
    ".hidden",
    "a/b",
    "a\\b",
    "a_b",
    "a\x00b",
    "é",  # NFC
    "e\u0301",  # the same letter, NFD
    "e",
    "Foo",
    "foo",
    "FOO",
    "x" * 300,
    "x" * 299 + "y",
    "",
    " ",
    "日本",
    "a:b*c?d<e>f|g\"h'",
    "\ud800",  # a lone surrogate
]
SAFE_PART = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


@pytest.mark.parametrize("text", HOSTILE)
def test_a_file_part_is_a_short_run_of_safe_characters_never_a_path(text: str) -> None:
    part = file_part(text)
    assert SAFE_PART.fullmatch(part), part
    assert len(part) <= FILE_PART_MAX
    for forbidden in ("/", "\\", "\x00"):
        assert forbidden not in part
    assert not part.startswith(".")


def test_distinct_texts_give_distinct_parts() -> None:
    parts = [file_part(text) for text in HOSTILE]
    assert len(set(parts)) == len(HOSTILE), parts


@pytest.mark.parametrize(
    "text", ["popularity", "seq-prob", "facts_open", "mmlu.v2", "p-true", "quiz", "MyQuiz", "MMLU"]
)
def test_safe_names_stay_as_they_are(text: str) -> None:
    assert file_part(text) == text


def test_a_shortened_or_changed_name_ends_in_a_short_hash_of_the_original() -> None:
    assert re.fullmatch(r"a_b-[0-9a-f]{8}", file_part("a/b"))
    long = file_part("x" * 300)
    assert len(long) == FILE_PART_MAX
    assert re.fullmatch(r"x+-[0-9a-f]{8}", long)


def test_every_name_built_from_user_data_is_one_safe_file_name() -> None:
    for name in (
        strata_bins_name("../../x"),
        reliability_png_name("../../x", "a/b"),
        strata_png_name("a/b", "../m", "/etc/passwd"),
        strata_png_name("x" * 300, "y" * 300, "z" * 300),
    ):
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
        assert len(name.encode()) <= 255
    assert strata_bins_name("popularity") == "bins_popularity.csv"
    assert reliability_png_name("quiz", "sum") == "reliability_quiz_sum.png"
    assert strata_png_name("facts", "sum", "popularity") == "reliability_facts_sum_by_popularity.png"


def _items(field: str) -> list[OpenItem]:
    return [
        OpenItem(f"q{i}", f"What is city number {i}?", ("Paris",), metadata={field: i % 2}) for i in range(12)
    ]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # tiny strata
def test_hostile_task_and_field_names_write_inside_the_run_and_do_not_overwrite_each_other(
    tmp_path: Path,
) -> None:
    by = "../../by/field"
    names = ["../../x", "a/b", "a_b", "é", "e\u0301", "Foo", "foo", "t" * 300]
    tasks = [EvalTask(name, _items(by)) for name in names]
    out = tmp_path / "deep" / "run"
    settings = EvalSettings(GenerationSettings(("seq-prob",)), MetricSettings(n_resamples=5))
    evaluate(
        tasks,
        FakeBackend(answers=["Paris", "Rome"]),
        settings,
        out,
        render=save_reliability_pngs,
        stratification=Stratification(by, 2),
    )
    written = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file())
    assert all(path.parts[:2] == ("deep", "run") and len(path.parts) == 3 for path in written), written
    pngs = [path.name for path in written if path.suffix == ".png"]
    assert len(pngs) == 2 * len(names)  # one diagram and one per-stratum figure per task: none overwritten
    assert len(set(pngs)) == len(pngs)
    assert strata_bins_name(by) in {path.name for path in written}
    for name in pngs:
        assert len(name.encode()) <= 255

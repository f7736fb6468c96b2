"""Evaluation outputs pinned byte for byte: a change that moves any number in results.json fails here.

Byte for byte up to the last bits of a float: numpy's SIMD reductions sum in another order on CPUs with
other vector units (the same code gave ECE 0.26561047638177143 on one CPU, ...715 on another), so numbers
are compared to 1e-12 relative and everything around them, keys, order and formatting, exactly.

The golden files were written by llmcal before the run format moved into ``llmcal.runs`` (commit 755847d)
and must keep matching: every refactor leaves results unchanged. A deliberate change of results (a new
metric, a fixed bug) regenerates them with ``python -m tests.test_golden_outputs`` (``--rescore`` to score
the tiny model's records anew) and says why in its commit.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from llmcal.confidence import ExtractionSettings
from llmcal.evaluation import evaluate, summarize_records
from llmcal.metrics import MetricSettings
from llmcal.runs import EvalSettings, RecordStore, write_eval_results
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem

GOLDEN = Path(__file__).parent / "golden"
OPTIONS = ("alpha", "beta", "gamma", "delta", "eps")
ITEMS = [
    MCItem(f"g{i}", f"Golden question {i} about topic {i % 5}?", OPTIONS[: 3 + i % 3], i % 3,
           subject=["physics", "law"][i % 2])
    for i in range(60)
]  # fmt: skip
METRICS = MetricSettings(n_bins=10, n_resamples=200, seed=3)
FAKE_SETTINGS = EvalSettings(ExtractionSettings(methods=("sum", "mean", "min", "choice")), METRICS)
TINY_SETTINGS = EvalSettings(ExtractionSettings(methods=("sum", "mean", "min")), METRICS)
WRITTEN = ("results.json", "bins.csv", "records.jsonl")


_NUMBER = re.compile(rb"-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+")


def assert_same_file(written: bytes, golden: bytes, name: str) -> None:
    """``written`` equals ``golden`` byte for byte, except that floats may differ in their last bits."""
    assert _NUMBER.sub(b"<f>", written) == _NUMBER.sub(b"<f>", golden), f"{name}: the text around the numbers"
    for ours, theirs in zip(_NUMBER.findall(written), _NUMBER.findall(golden), strict=True):
        assert math.isclose(float(ours), float(theirs), rel_tol=1e-12, abs_tol=1e-15), (name, ours, theirs)


def test_the_golden_comparison_fails_on_a_moved_number_or_changed_text():
    assert_same_file(b'{"ece": 0.26561047638177143}', b'{"ece": 0.2656104763817715}', "rounding")
    with pytest.raises(AssertionError):
        assert_same_file(b'{"ece": 0.26561048}', b'{"ece": 0.2656104763817715}', "moved")
    with pytest.raises(AssertionError):
        assert_same_file(b'{"ece": 0.5, "n": 3}', b'{"ece": 0.5, "n": 4}', "integer")
    with pytest.raises(AssertionError):
        assert_same_file(b'{"mce": 0.5}', b'{"ece": 0.5}', "key")


def _evaluate_fake(out: Path) -> None:
    evaluate([EvalTask("golden", ITEMS)], FakeBackend(favoured=["alpha", "gamma"]), FAKE_SETTINGS, out)


def _summarize_tiny(out: Path, records_file: Path) -> None:
    records = [RecordStore(records_file).load(repair=False)[("golden", item.id)] for item in ITEMS]
    out.mkdir(parents=True, exist_ok=True)
    write_eval_results(out, summarize_records({"golden": records}, TINY_SETTINGS))


def test_an_evaluation_writes_the_golden_files_byte_for_byte(tmp_path):
    _evaluate_fake(tmp_path)
    for name in WRITTEN:
        assert_same_file((tmp_path / name).read_bytes(), (GOLDEN / "eval-fake" / name).read_bytes(), name)


@pytest.mark.filterwarnings("ignore:.*bootstrap resamples gave an undefined metric")  # AUROC, 3 of 200
def test_a_real_models_records_give_the_golden_results_byte_for_byte(tmp_path):
    _summarize_tiny(tmp_path, GOLDEN / "eval-tiny-gpt2" / "records.jsonl")
    for name in ("results.json", "bins.csv"):
        golden = (GOLDEN / "eval-tiny-gpt2" / name).read_bytes()
        assert_same_file((tmp_path / name).read_bytes(), golden, name)


def test_the_tiny_model_still_scores_the_golden_records(tiny_model_dir):
    """The scoring path: log-probabilities as the golden run got them (to float32 rounding across CPUs)."""
    from llmcal.confidence.extraction import extract_records
    from llmcal.scoring.hf import HFBackend

    backend = HFBackend(tiny_model_dir, device="cpu", dtype="float32")
    live = extract_records(ITEMS, backend, TINY_SETTINGS.extraction, task="golden")
    golden = RecordStore(GOLDEN / "eval-tiny-gpt2" / "records.jsonl").load(repair=False)
    for record in live:
        expected = golden[record.key]
        assert (record.answer, record.n_options) == (expected.answer, expected.n_options)
        for option, golden_option in zip(record.options, expected.options, strict=True):
            np.testing.assert_allclose(option.token_logprobs, golden_option.token_logprobs, rtol=0, atol=1e-4)


def _regenerate() -> None:
    """Rewrites the golden files this llmcal writes differently; ``--rescore`` also rescores the tiny model.

    A file that still matches (to the last bits of its floats) is left alone, so a new metric rewrites
    results.json and leaves records and bins as they were pinned. The tiny model's records are kept unless
    ``--rescore`` asks for them anew (a fixed scoring bug); its results are summarised from them.
    """
    import tempfile

    from tests.conftest import _TINY_CORPUS
    from tests.tiny_gpt2 import build_tiny_gpt2

    def keep_or_replace(written: Path, golden: Path) -> None:
        try:
            assert_same_file(written.read_bytes(), golden.read_bytes(), golden.name)
        except (AssertionError, FileNotFoundError, ValueError):
            golden.write_bytes(written.read_bytes())
            print(f"rewrote {golden}")

    with tempfile.TemporaryDirectory() as folder:
        fake = Path(folder) / "fake"
        _evaluate_fake(fake)
        for name in WRITTEN:
            keep_or_replace(fake / name, GOLDEN / "eval-fake" / name)
        tiny = GOLDEN / "eval-tiny-gpt2"
        if "--rescore" in sys.argv:
            from llmcal.scoring.hf import HFBackend

            model = build_tiny_gpt2(folder, _TINY_CORPUS * 20, vocab_size=400, seed=0)
            backend = HFBackend(str(model), device="cpu", dtype="float32")
            scored = Path(folder) / "tiny"
            evaluate([EvalTask("golden", ITEMS)], backend, TINY_SETTINGS, scored)
            keep_or_replace(scored / "records.jsonl", tiny / "records.jsonl")
        summarised = Path(folder) / "summarised"
        _summarize_tiny(summarised, tiny / "records.jsonl")
        for name in ("results.json", "bins.csv"):
            keep_or_replace(summarised / name, tiny / name)


if __name__ == "__main__":
    sys.exit(_regenerate())

"""Resume by content: what a run's results depend on is fingerprinted, and nothing else is compared.

Items edited under the same ids, few-shot examples edited, weights swapped at one path: refused, naming
what changed. The same weights under another path, a rerun after a refused start, the default stop
spelt out: accepted. A chunk torn by a kill is scored again whole, so the resumed run is byte-identical
to an uninterrupted one even on a model whose numbers depend on the batch.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from llmcal import InputError
from llmcal.confidence import ExtractionSettings
from llmcal.evaluation import evaluate
from llmcal.metrics import MetricSettings
from llmcal.runs import EvalSettings
from llmcal.scoring import FakeBackend
from llmcal.tasks import EvalTask
from llmcal.tasks.schema import MCItem

ITEMS = [
    MCItem(f"q{index}", f"Question {index} about topic {index % 7}?", ("alpha", "beta", "gamma"), index % 3)
    for index in range(150)
]
SETTINGS = EvalSettings(ExtractionSettings(methods=("sum", "mean")), MetricSettings(n_resamples=20))


def run(out: Path, backend: FakeBackend, items=ITEMS, settings=SETTINGS, pool=()):
    return evaluate([EvalTask("toy", list(items), fewshot_pool=list(pool))], backend, settings, out)


def test_items_edited_under_the_same_ids_are_refused_naming_the_task(tmp_path):
    run(tmp_path, FakeBackend())
    edited = [replace(ITEMS[0], question="Another question?"), *ITEMS[1:]]
    with pytest.raises(InputError, match="task 'toy': its items' content changed"):
        run(tmp_path, FakeBackend(), items=edited)


def test_few_shot_examples_edited_are_refused_when_few_shot_prompts_use_them(tmp_path):
    settings = EvalSettings(
        ExtractionSettings(methods=("sum",), num_fewshot=2), MetricSettings(n_resamples=5)
    )
    run(tmp_path, FakeBackend(), ITEMS[:20], settings, pool=ITEMS[100:110])
    with pytest.raises(InputError, match="its few-shot examples changed"):
        run(tmp_path, FakeBackend(), ITEMS[:20], settings, pool=ITEMS[110:120])


def test_a_refusal_lists_what_changed_not_the_whole_settings(tmp_path):
    run(tmp_path, FakeBackend())
    other = EvalSettings(ExtractionSettings(methods=("sum",)), MetricSettings(n_bins=10, n_resamples=20))
    with pytest.raises(InputError) as refused:
        run(tmp_path, FakeBackend(), settings=other)
    message = str(refused.value)
    assert "settings.n_bins 15 -> 10" in message
    assert 'settings.extraction.methods ["sum", "mean"] -> ["sum"]' in message
    assert "n_resamples" not in message
    assert len(message) < 400


def test_a_directory_with_a_manifest_and_no_results_is_not_a_run_to_protect(tmp_path):
    # A run refused (or killed) after run.json but before its first record: a corrected rerun starts.
    run(tmp_path, FakeBackend(), items=ITEMS[:10])
    for name in ("records.jsonl", "results.json", "bins.csv"):
        (tmp_path / name).unlink()
    for png in tmp_path.glob("*.png"):
        png.unlink()
    run(tmp_path, FakeBackend(), items=ITEMS[:20])
    assert json.loads((tmp_path / "run.json").read_text())["tasks"]["toy"]["n_items"] == 20


def test_manifests_written_before_fingerprints_are_compared_on_what_both_have():
    from llmcal.runs.manifest import manifest_changes

    old = {
        "model": {"model": "m"},
        "settings": {"n_bins": 15},
        "tasks": {"t": {"n_items": 3, "item_ids": "a"}},
    }
    new = {
        "model": {"model": "m", "fingerprint": {"files": {"model.safetensors": "f"}}},
        "settings": {"n_bins": 15},
        "tasks": {"t": {"n_items": 3, "item_ids": "a", "item_content": "c"}},
    }
    assert manifest_changes(old, new) == []
    moved = {**new, "model": {"model": "elsewhere", "fingerprint": {"files": {"model.safetensors": "f"}}}}
    assert manifest_changes(new, moved) == []  # both fingerprinted: the path is not compared
    assert manifest_changes(old, {**old, "model": {"model": "elsewhere"}}) == [
        'model.model "m" -> "elsewhere"'
    ]
    swapped = {**new, "model": {"model": "m", "fingerprint": {"files": {"model.safetensors": "g"}}}}
    assert manifest_changes(new, swapped) == [
        "the model's files.model.safetensors differs (other weights or files)"
    ]


class BatchSensitiveBackend(FakeBackend):
    """A fake model whose log-probabilities move in the last bits with the batch, as real kernels do."""

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__(favoured=["alpha"])
        self.crash_after = crash_after

    def score(self, requests, *, on_progress=None):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        scores = super().score(requests, on_progress=on_progress)
        shift = 1e-7 * len(requests)
        return [
            [replace(score, token_logprobs=tuple(lp - shift for lp in score.token_logprobs)) for score in row]
            for row in scores
        ]


def test_a_resume_from_a_torn_chunk_is_byte_identical_on_a_batch_sensitive_model(tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    run(reference, BatchSensitiveBackend())
    with pytest.raises(KeyboardInterrupt):
        run(resumed, BatchSensitiveBackend(crash_after=1))  # dies scoring the second 64-item chunk
    lines = (resumed / "records.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 64
    # The kill tore the second chunk's append: 30 of its records, and half of the 31st.
    whole = (reference / "records.jsonl").read_bytes().splitlines(keepends=True)
    (resumed / "records.jsonl").write_bytes(b"".join(lines + whole[64:94]) + whole[94][:40])
    run(resumed, BatchSensitiveBackend())
    for name in ("results.json", "bins.csv", "records.jsonl"):
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    return copy


def hf_run(out: Path, model: Path):
    from llmcal.scoring.hf import HFBackend

    settings = EvalSettings(ExtractionSettings(methods=("sum",)), MetricSettings(n_resamples=5))
    return evaluate([EvalTask("toy", ITEMS[:6])], HFBackend(str(model), batch_size=8), settings, out)


def test_the_same_weights_under_another_path_resume_and_swapped_weights_are_refused(model_copy, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    out = tmp_path / "run"
    first = hf_run(out, model_copy)
    moved = tmp_path / "moved"
    shutil.copytree(model_copy, moved)
    assert hf_run(out, moved).to_dict() == first.to_dict()  # accepted: same files, another path

    weights = moved / "model.safetensors"
    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + torch.full_like(tensors[name], 0.01)
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(InputError, match=r"the model's files\.model\.safetensors differs"):
        hf_run(out, moved)

"""``sum`` log-likelihoods equal lm-evaluation-harness's on the same model, task and items.

Runs real lm-eval (a dev dependency) on a local custom task over a tiny local GPT-2, with --log_samples,
and compares each (context, continuation) pair's log-likelihood with llmcal's scorer.
"""

from __future__ import annotations

import os

import pytest

from llmcal.confidence.extraction import ExtractionSettings, extract_records
from llmcal.scoring.hf import HFBackend
from llmcal.tasks.prompts import option_pairs
from llmcal.tasks.schema import MCItem

from ..lm_eval_tasks import write_local_task

ITEMS = [
    MCItem("q0", "What is the capital of France?", ("Paris", "Lyon", "the quick brown fox"), 0),
    MCItem("q1", "Which colour is the sky on a clear day?", ("blue", "green", "red", "yellow"), 0),
    MCItem(
        "q2", "Who rides north to the old city?", ("the king and the queen", "a dog", "nobody at all", "x"), 0
    ),
    MCItem("q3", "Mountains rise above the", ("valley", "river bank", "lazy dog near the river"), 0),
    MCItem("q4", "A. red B. green. Which one is first?", ("A", "B"), 0),
]


@pytest.fixture(scope="module")
def lm_eval_samples(tiny_model_dir, tmp_path_factory):
    import lm_eval  # a dev dependency: this test must run, never skip
    from lm_eval.tasks import TaskManager

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = write_local_task(
        tmp_path_factory.mktemp("lm-eval-task"), "llmcal_parity", [item.to_record() for item in ITEMS]
    )
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny_model_dir},dtype=float32",
        tasks=["llmcal_parity"],
        task_manager=TaskManager(include_path=str(folder)),
        device="cpu",
        batch_size=4,
        log_samples=True,
    )
    return results["samples"]["llmcal_parity"]


@pytest.mark.slow
def test_sum_loglikelihoods_match_lm_eval(lm_eval_samples, tiny_model_dir):
    backend = HFBackend(tiny_model_dir, device="cpu", dtype="float32", batch_size=3)
    records = extract_records(ITEMS, backend, ExtractionSettings(methods=("sum",)), task="parity")
    by_id = {record.id: record for record in records}
    compared, worst = 0, 0.0
    for sample in lm_eval_samples:
        item = ITEMS[sample["doc_id"]]
        pairs = [tuple(argument) for argument in sample["arguments"]]
        # The same prompt text on both sides ...
        assert pairs == option_pairs(item, format="cloze")
        # ... and the same log-likelihoods.
        theirs = [float(response[0][0]) for response in sample["resps"]]
        ours = [option.total for option in by_id[item.id].options]
        assert ours == pytest.approx(theirs, abs=1e-4)
        worst = max([worst, *(abs(a - b) for a, b in zip(ours, theirs, strict=True))])
        compared += len(theirs)
    assert compared == sum(len(item.choices) for item in ITEMS)
    print(f"compared {compared} pairs; largest difference {worst:.2e}")

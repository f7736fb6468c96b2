"""One LoRA step on SmolLM2-135M-Instruct, the packaged real LLM, on a handful of real fact items.

Marked ``real_model``: CI runs it in the step that has the packaged models installed.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from llmcal.finetune.run import FinetuneSettings, LoraSettings, evaluate_model, finetune
from llmcal.runs.training import read_training_results
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.models import PACKAGED_MODELS
from llmcal.tasks.selection import select_tasks

pytestmark = pytest.mark.real_model

MODEL = "smollm2-135m-instruct"


def test_one_lora_step_on_smollm2_changes_only_the_adapted_weights_and_the_merged_model_evaluates(tmp_path):
    if not PACKAGED_MODELS[MODEL].is_installed():
        pytest.fail(f"install it: {PACKAGED_MODELS[MODEL].install}")
    (task,) = select_tasks(["facts"], limit=12)
    train, evaluation = list(task.items[:8]), list(task.items[8:])
    backend = HFBackend(MODEL, device="cpu", dtype="float32")
    before = {name: tensor.clone() for name, tensor in backend.model.state_dict().items()}
    settings = FinetuneSettings(
        loss="sft", epochs=1, learning_rate=1e-3, batch_size=8, lora=LoraSettings(rank=8, alpha=16),
        style=task.style, seed=0,
    )  # fmt: skip
    trained, results = finetune(
        backend.model, backend.tokenizer, train, settings, tmp_path, eval_items=evaluation
    )

    after = trained.state_dict()
    assert set(after) == set(before)  # merged and unloaded: no adapter tensors left
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    # LoRA's default targets on a Llama model are the query and value projections, in all 30 layers.
    assert changed == {f"model.layers.{i}.self_attn.{p}_proj.weight" for i in range(30) for p in "qv"}
    # One step moves a rank-8 update: small next to the weights, but not round-off.
    weight = "model.layers.0.self_attn.q_proj.weight"
    relative = (after[weight] - before[weight]).norm() / before[weight].norm()
    assert 1e-5 < relative < 0.1

    written = read_training_results(tmp_path)
    assert written.to_dict() == json.loads(json.dumps(results.to_dict()))  # in memory: tuples
    assert len(written.log) == 1  # one step (8 items, batch 8), logged once at the epoch's end
    assert math.isfinite(written.train_loss)
    assert written.before is not None
    assert written.after is not None
    assert written.before.n_items == written.after.n_items == 4
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["lora"] == {
        "rank": 8, "alpha": 16, "target_modules": []
    }  # fmt: skip

    reloaded = HFBackend(str(tmp_path / "model"), device="cpu", dtype="float32")
    reloaded_state = reloaded.model.state_dict()
    assert torch.equal(reloaded_state[weight], after[weight])
    table = evaluate_model(reloaded.model, reloaded.tokenizer, evaluation, format="cloze", style=task.style)
    assert table.probs.shape == (4, 4)
    assert torch.allclose(torch.from_numpy(table.probs).sum(dim=1).float(), torch.ones(4), atol=1e-6)
    assert written.after.accuracy == pytest.approx(float((table.probs.argmax(1) == table.labels).mean()))

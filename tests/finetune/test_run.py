"""`finetune`: every loss trains, LoRA saves a merged model, CogCalib needs ground truth, style adaptation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llmcal.finetune.losses import (
    LOSSES,
    CogCalibConfig,
    LabelSmoothingConfig,
    MarginCogCalibConfig,
)
from llmcal.finetune.run import FinetuneSettings, LoraSettings, finetune
from llmcal.scoring.hf import HFBackend
from llmcal.tasks.schema import MCItem

ITEMS = [
    MCItem("a", "What is the capital of France?", ("Paris", "Lyon is a city", "blue"), 0, context="Europe."),
    MCItem("b", "Which colour is the sky?", ("blue", "green"), 0),
    MCItem("c", "Who rides north to the old city?", ("the king", "a dog", "the queen and the king", "x"), 2),
    MCItem("d", "Mountains rise above the", ("valley", "river bank"), 1),
]


@pytest.mark.parametrize("loss", sorted(LOSSES.names()))
def test_one_step_of_every_loss_changes_the_weights_and_gives_a_finite_loss(
    loss, tiny_model_dir, tmp_path, load_tiny_model
):
    model, tokenizer = load_tiny_model()
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    configs = (LabelSmoothingConfig(0.2), CogCalibConfig(0.5), MarginCogCalibConfig(0.5, 1.0))
    settings = FinetuneSettings(loss=loss, epochs=1, batch_size=4, learning_rate=1e-2, style="qa",
                                loss_configs=configs)  # fmt: skip
    trained, results = finetune(
        model, tokenizer, ITEMS, settings, tmp_path, calibration_items=ITEMS,
        calibration_known=[True, False, True, False], save_model=False,
    )  # fmt: skip
    results = results.to_dict()
    assert np.isfinite(results["train_loss"])
    changed = [
        name for name, parameter in trained.named_parameters() if not torch.equal(parameter, before[name])
    ]
    assert len(changed) == len(before), f"unchanged: {set(before) - set(changed)}"
    if loss.startswith("cogcalib"):
        assert "threshold" in results["epochs"][0]
        assert results["detector_forward_items"] == len(
            ITEMS
        )  # one pass over the calibration split per epoch
    if loss == "rcft":
        assert sum(results["epochs"][0]["bin_count"]) == len(ITEMS)


def test_lora_trains_adapters_only_and_saves_a_merged_model(tiny_model_dir, tmp_path, load_tiny_model):
    model, tokenizer = load_tiny_model()
    embedding_before = model.transformer.wte.weight.detach().clone()
    settings = FinetuneSettings(loss="sft", epochs=2, batch_size=2, learning_rate=5e-2, style="qa",
                                lora=LoraSettings(rank=4, alpha=8, target_modules=("c_attn",)))  # fmt: skip
    trained, results = finetune(model, tokenizer, ITEMS, settings, tmp_path, eval_items=ITEMS)
    results = results.to_dict()
    assert torch.equal(trained.transformer.wte.weight, embedding_before)  # frozen under LoRA
    assert results["after"] != results["before"]
    reloaded = HFBackend(str(tmp_path / "model"), device="cpu", dtype="float32")  # loads like any model
    assert reloaded.model.config.n_layer == trained.config.n_layer
    assert json.loads((tmp_path / "results.json").read_text())["settings"]["lora"]["rank"] == 4


def test_cogcalib_without_calibration_ground_truth_is_refused(tiny_model_dir, tmp_path, load_tiny_model):
    from llmcal import InputError

    model, tokenizer = load_tiny_model()
    with pytest.raises(InputError, match="needs calibration items"):
        finetune(model, tokenizer, ITEMS, FinetuneSettings(loss="cogcalib-ls", style="qa"), tmp_path)


def test_style_adaptation_runs_a_short_sft_pass_first(tiny_model_dir, tmp_path, load_tiny_model):
    model, tokenizer = load_tiny_model()
    configs = (CogCalibConfig(alpha=0.3),)
    settings = FinetuneSettings(loss="cogcalib-ls", epochs=1, batch_size=2, learning_rate=1e-2, style="qa",
                                style_adaptation_items=2, loss_configs=configs)  # fmt: skip
    _, adapted = finetune(model, tokenizer, ITEMS, settings, tmp_path / "a", calibration_items=ITEMS,
                          calibration_known=[True, False, True, False], save_model=False)  # fmt: skip
    model, tokenizer = load_tiny_model()
    plain = FinetuneSettings(loss="cogcalib-ls", epochs=1, batch_size=2, learning_rate=1e-2, style="qa",
                             loss_configs=configs)  # fmt: skip
    _, direct = finetune(model, tokenizer, ITEMS, plain, tmp_path / "b", calibration_items=ITEMS,
                         calibration_known=[True, False, True, False], save_model=False)  # fmt: skip
    assert adapted.style_adaptation is not None
    assert adapted.style_adaptation["items"] == 2
    assert direct.style_adaptation is None
    # The threshold is fitted on the adapted model, so it differs from the one fitted on the base model.
    assert adapted.epochs is not None
    assert direct.epochs is not None
    assert adapted.epochs[0]["threshold"] != direct.epochs[0]["threshold"]


@pytest.mark.parametrize("lora", [None, LoraSettings(rank=4, alpha=8)])
def test_on_epoch_end_reads_the_model_after_each_epoch_in_eval_mode_and_training_goes_on(
    tmp_path, load_tiny_model, lora
):
    """What a training-length study needs: the model as it is after epochs 1, 2 and 3 of one run."""
    model, tokenizer = load_tiny_model()
    seen = []

    def read(epoch, current):
        seen.append(
            (epoch, current.training, [p.detach().clone() for p in current.parameters() if p.requires_grad])
        )

    settings = FinetuneSettings(loss="sft", epochs=3, batch_size=2, learning_rate=1e-2, style="qa", lora=lora)
    _trained, results = finetune(model, tokenizer, ITEMS, settings, tmp_path / "run", save_model=False,
                                on_epoch_end=read)  # fmt: skip
    assert [epoch for epoch, _, _ in seen] == [1, 2, 3]
    assert not any(training for _, training, _ in seen)
    first, last = seen[0][2], seen[-1][2]
    assert any(not torch.equal(a, b) for a, b in zip(first, last, strict=True))  # later epochs still trained
    assert len(results.log) == 3

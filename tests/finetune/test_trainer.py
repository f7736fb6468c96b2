"""The calibration trainer: eval-mode known flags, epoch hooks, the configured loss, where it packs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llmcal.finetune.losses import (
    LOSSES,
    CogCalibConfig,
    EpochUpdate,
    LabelSmoothingConfig,
    LossInputs,
    LossPlugin,
    NoHyperparameters,
    gold_nll,
)
from llmcal.finetune.packing import collate, option_log_likelihoods, pack_items
from llmcal.finetune.run import FinetuneSettings, finetune
from llmcal.scoring.attention import packing_pattern
from llmcal.tasks.schema import MCItem

ITEMS = [
    MCItem("a", "What is the capital of France?", ("Paris", "Lyon is a city", "blue"), 0, context="Europe."),
    MCItem("b", "Which colour is the sky?", ("blue", "green"), 0),
    MCItem("c", "Who rides north to the old city?", ("the king", "a dog", "the queen and the king", "x"), 2),
    MCItem("d", "Mountains rise above the", ("valley", "river bank"), 1),
]


def _trainer_on(model, tokenizer, items, tmp_path, loss="cogcalib-ls"):
    from transformers import TrainingArguments

    from llmcal.finetune.trainer import CalibrationTrainer

    packed = pack_items(items, tokenizer, max_length=512, style="qa")
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer = CalibrationTrainer(model=model, args=arguments, loss=loss, train_examples=packed,
                                 pad_id=pad_id)  # fmt: skip
    return trainer, collate(packed, pad_id, packing_pattern(model.config))


def with_dropout(model_dir, rate):
    return AutoModelForCausalLM.from_pretrained(model_dir, resid_pdrop=rate, embd_pdrop=rate, attn_pdrop=rate)


MANY_ITEMS = [
    MCItem(f"m{i}", f"Question {i}: who rides north to the {('old', 'new', 'far')[i % 3]} city?",
           ("the king", "a dog", "the queen", "blue"), i % 4)
    for i in range(48)
]  # fmt: skip


def test_known_flags_use_the_eval_mode_nll_the_threshold_was_fitted_on(tiny_model_dir, tmp_path):
    from llmcal.knowledge.detector import ThresholdDetector

    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, resid_pdrop=0.5, embd_pdrop=0.5, attn_pdrop=0.5
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer, batch = _trainer_on(model, tokenizer, MANY_ITEMS, tmp_path)
    model.eval()
    with torch.no_grad():
        eval_nll = -option_log_likelihoods(model, batch).gather(1, batch["labels"].unsqueeze(1)).squeeze(1)
    threshold = float(eval_nll.median())
    trainer.epoch_state.detector = ThresholdDetector(threshold, 1.0, 1.0)
    seen = []
    real = LOSSES.get("cogcalib-ls")

    def spy(inputs, config, epoch_state):
        seen.append(inputs.known.clone())
        return real(inputs, config, epoch_state)

    model.train()
    torch.manual_seed(0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LOSSES, "get", lambda name: spy)
        trainer.compute_loss(model, batch)
    assert seen[0].tolist() == (eval_nll <= threshold).tolist()
    assert model.training  # the eval-mode forward leaves the model as it found it
    assert trainer.epoch_state.known_flag_forwards == len(MANY_ITEMS)


def test_models_without_dropout_reuse_the_training_forward(tiny_model_dir, tmp_path):
    from llmcal.finetune.trainer import has_dropout

    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0
    )
    assert not has_dropout(model)
    assert has_dropout(AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_pdrop=0.1))
    from llmcal.knowledge.detector import ThresholdDetector

    trainer, batch = _trainer_on(model, AutoTokenizer.from_pretrained(tiny_model_dir), MANY_ITEMS, tmp_path)
    trainer.epoch_state.detector = ThresholdDetector(5.0, 1.0, 1.0)
    model.train()
    trainer.compute_loss(model, batch)
    assert trainer.epoch_state.known_flag_forwards == 0


def test_detector_scoring_pads_ragged_chunks_and_keeps_the_training_mode(tiny_model_dir, load_tiny_model):
    from llmcal.finetune.trainer import option_scores_of

    model, tokenizer = load_tiny_model()
    items = [ITEMS[1], ITEMS[1], ITEMS[2]]  # two 2-option items, then a 4-option one in another chunk
    packed = pack_items(items, tokenizer, max_length=512, style="qa")
    model.train()
    scores = option_scores_of(model, packed, pad_id=tokenizer.eos_token_id, batch_size=2)
    assert model.training
    assert scores.shape == (3, 4)
    assert torch.isinf(scores[:2, 2:]).all()
    assert (scores[:2, 2:] < 0).all()  # padding is -inf, never a likely option
    assert torch.isfinite(scores[2]).all()
    whole = option_scores_of(model, packed, pad_id=tokenizer.eos_token_id)  # default: one chunk of 64
    torch.testing.assert_close(whole, scores, atol=1e-5, rtol=0)  # other batch shapes: float noise only


def test_known_flag_forwards_add_up_over_batches(tiny_model_dir, tmp_path):
    from llmcal.knowledge.detector import ThresholdDetector

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer, batch = _trainer_on(with_dropout(tiny_model_dir, 0.1), tokenizer, MANY_ITEMS[:5], tmp_path)
    trainer.epoch_state.detector = ThresholdDetector(5.0, 1.0, 1.0)
    trainer.model.train()
    trainer.compute_loss(trainer.model, batch)
    trainer.compute_loss(trainer.model, batch)
    assert trainer.epoch_state.known_flag_forwards == 10


# --- the loss plug-in contract ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ShiftConfig:
    """Config of the test-only loss: a constant added to the mean gold NLL."""

    shift: float = 0.0


def _register(monkeypatch, name, plugin):
    # Registry has no removal (registering twice is a bug in library code); the test entry must not leak
    # into other tests, e.g. the one that checks the registry's exact names.
    monkeypatch.setitem(LOSSES._entries, name, plugin)


def test_a_registered_loss_s_epoch_hook_runs_once_per_epoch_and_its_state_reaches_the_loss(
    tiny_model_dir, tmp_path, monkeypatch, load_tiny_model
):
    hook_calls = []
    states_seen = []

    def e_step(data, config):
        scores, labels = data.training_scores()
        hook_calls.append((scores.shape, labels.tolist(), config))
        return EpochUpdate(state=len(hook_calls), record={"e_step_call": len(hook_calls)})

    def shifted_nll(inputs, config, epoch_state):
        states_seen.append(epoch_state)
        return gold_nll(inputs).mean() + config.shift

    _register(monkeypatch, "test-e-step", LossPlugin(shifted_nll, _ShiftConfig, epoch_hook=e_step))
    model, tokenizer = load_tiny_model()
    settings = FinetuneSettings(loss="test-e-step", epochs=3, batch_size=2, learning_rate=1e-2, style="qa",
                                loss_configs=(_ShiftConfig(0.5),))  # fmt: skip
    _, results = finetune(model, tokenizer, ITEMS, settings, tmp_path, save_model=False)
    results = results.to_dict()
    assert [call[2] for call in hook_calls] == [_ShiftConfig(0.5)] * 3  # one call per epoch, its config
    assert all(shape == (len(ITEMS), 4) and labels == [0, 0, 2, 1] for shape, labels, _ in hook_calls)
    # Two steps per epoch, each with the state of the hook call that began its epoch.
    assert states_seen == [1, 1, 2, 2, 3, 3]
    assert results["epochs"] == [{"epoch": e, "e_step_call": e + 1} for e in range(3)]
    assert results["detector_forward_items"] == 0  # the loss did not ask for known flags


def test_an_epoch_hook_runs_only_before_the_first_epoch_without_refresh_every_epoch(
    tiny_model_dir, tmp_path, monkeypatch, load_tiny_model
):
    calls = []

    def e_step(data, config):
        calls.append(config)
        return EpochUpdate(state="fitted")

    _register(monkeypatch, "test-e-step", LossPlugin(lambda i, c, s: gold_nll(i).mean(), _ShiftConfig,
                                                      epoch_hook=e_step))  # fmt: skip
    model, tokenizer = load_tiny_model()
    settings = FinetuneSettings(loss="test-e-step", epochs=2, batch_size=4, learning_rate=1e-2, style="qa",
                                refresh_every_epoch=False)  # fmt: skip
    _, results = finetune(model, tokenizer, ITEMS, settings, tmp_path, save_model=False)
    results = results.to_dict()
    assert calls == [_ShiftConfig()]  # the default config, since settings carry none of this type
    assert results["epochs"] == [{"epoch": 0}]


def test_a_registered_loss_needing_known_flags_gets_them_and_is_refused_without_ground_truth(
    tiny_model_dir, tmp_path, monkeypatch, load_tiny_model
):
    from llmcal import InputError

    flags_seen = []

    def flagged_nll(inputs, config, epoch_state):
        flags_seen.append(None if inputs.known is None else inputs.known.tolist())
        return gold_nll(inputs).mean()

    _register(monkeypatch, "test-known", LossPlugin(flagged_nll, NoHyperparameters, needs_known_flags=True))
    model, tokenizer = load_tiny_model()
    settings = FinetuneSettings(loss="test-known", epochs=1, batch_size=4, learning_rate=1e-2, style="qa")
    with pytest.raises(InputError) as refused:
        finetune(model, tokenizer, ITEMS, settings, tmp_path / "refused", calibration_items=ITEMS)
    assert str(refused.value) == (
        "`loss` test-known needs calibration items with known/unknown ground truth; got 4 calibration "
        "items and 0 known flags. Pass `calibration_items` (in Python: calibration_items and their "
        "calibration_known flags), or choose a loss that does not read known flags."
    )
    _, results = finetune(model, tokenizer, ITEMS, settings, tmp_path / "run", calibration_items=ITEMS,
                          calibration_known=[True, False, True, False], save_model=False)  # fmt: skip
    results = results.to_dict()
    assert len(flags_seen) == 1  # one step of batch 4
    assert flags_seen[0] is not None
    assert len(flags_seen[0]) == len(ITEMS)
    assert set(results["epochs"][0]) == {"epoch", "threshold", "tpr", "tnr"}
    assert results["detector_forward_items"] == len(ITEMS)


def test_the_trainer_refuses_a_config_of_another_loss(tiny_model_dir, tmp_path, load_tiny_model):
    from transformers import TrainingArguments

    from llmcal import InputError
    from llmcal.finetune.trainer import CalibrationTrainer

    model, tokenizer = load_tiny_model()
    packed = pack_items(ITEMS, tokenizer, max_length=512, style="qa")
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    with pytest.raises(InputError, match="loss 'ls' takes a LabelSmoothingConfig; got a "
                                         "CogCalibConfig"):  # fmt: skip
        CalibrationTrainer(model=model, args=arguments, loss="ls", loss_config=CogCalibConfig(),
                           train_examples=packed, pad_id=tokenizer.eos_token_id)  # fmt: skip
    with pytest.raises(InputError, match="Did you mean: rcft"):
        CalibrationTrainer(model=model, args=arguments, loss="rcf", train_examples=packed,
                           pad_id=tokenizer.eos_token_id)  # fmt: skip


def test_a_config_attention_dropout_counts_as_dropout_without_dropout_layers():
    import transformers

    from llmcal.finetune.trainer import has_dropout

    def llama(rate: float) -> object:
        config = transformers.LlamaConfig(
            vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            attention_dropout=rate,
        )  # fmt: skip
        return transformers.LlamaForCausalLM(config)

    assert not has_dropout(llama(0.0))
    assert has_dropout(llama(0.5))  # Llama passes the rate to its attention kernel: no Dropout module
    assert not any(isinstance(module, torch.nn.Dropout) for module in llama(0.5).modules())


def test_each_refresh_fits_the_threshold_on_the_calibration_nll_and_counts_its_forwards(
    tiny_model_dir, tmp_path, load_tiny_model
):
    from transformers import TrainingArguments

    from llmcal.finetune.trainer import CalibrationTrainer, option_scores_of
    from llmcal.knowledge.detector import youden_threshold

    model, tokenizer = load_tiny_model()
    known = [i % 3 != 0 for i in range(12)]
    calibration = pack_items(MANY_ITEMS[:12], tokenizer, max_length=512, style="qa", known=known)
    train = pack_items(MANY_ITEMS[12:20], tokenizer, max_length=512, style="qa")
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = CalibrationTrainer(model=model, args=arguments, loss="cogcalib-ls", train_examples=train,
                                 calibration_examples=calibration, pad_id=tokenizer.eos_token_id,
                                 refresh_every_epoch=False)  # fmt: skip
    scores = option_scores_of(model, calibration, tokenizer.eos_token_id)
    nll = -scores[torch.arange(12), torch.tensor([e.label for e in calibration])]
    expected = youden_threshold(nll.numpy(), np.array(known))
    trainer.refresh(epoch=0)
    assert trainer.epoch_state.detector == expected
    assert trainer.epoch_state.calibration_forwards == 12
    assert trainer.epoch_state.history == [
        {"epoch": 0, "threshold": expected.threshold, "tpr": expected.tpr, "tnr": expected.tnr}
    ]
    trainer.refresh(epoch=0)  # epoch 0 always fits: a resumed run starts from restored weights
    assert trainer.epoch_state.calibration_forwards == 24
    trainer.refresh(epoch=1)  # fitted, not refreshed every epoch: nothing runs
    assert trainer.epoch_state.calibration_forwards == 24
    assert len(trainer.epoch_state.history) == 2
    trainer.refresh_every_epoch = True
    trainer.refresh(epoch=1)
    trainer.refresh(epoch=2)
    assert trainer.epoch_state.calibration_forwards == 48
    assert [entry["epoch"] for entry in trainer.epoch_state.history] == [0, 0, 1, 2]


def test_compute_loss_is_the_configured_loss_and_returns_the_option_scores_when_asked(
    tiny_model_dir, tmp_path, load_tiny_model
):
    from transformers import TrainingArguments

    from llmcal.finetune.trainer import CalibrationTrainer

    model, tokenizer = load_tiny_model()
    packed = pack_items(MANY_ITEMS[:4], tokenizer, max_length=512, style="qa")
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    config = LabelSmoothingConfig(smoothing=0.4)  # not the default, which a dropped config would fall back to
    trainer = CalibrationTrainer(model=model, args=arguments, loss="ls", loss_config=config,
                                 train_examples=packed, pad_id=tokenizer.eos_token_id)  # fmt: skip
    batch = collate(packed, tokenizer.eos_token_id, packing_pattern(model.config))
    loss, outputs = trainer.compute_loss(model, batch, return_outputs=True)
    assert set(outputs) == {"option_scores"}
    loss, scores = loss.detach(), outputs["option_scores"].detach()
    inputs = LossInputs(scores, batch["labels"], None, batch["option_mask"])
    assert float(loss) == pytest.approx(float(LOSSES.get("ls")(inputs, config, None)), abs=1e-6)
    assert float(loss) != pytest.approx(
        float(LOSSES.get("ls")(inputs, LabelSmoothingConfig(), None)), abs=1e-6
    )
    assert trainer.compute_loss(model, batch).shape == ()


def test_the_trainer_packs_where_packing_is_proven_and_gives_each_option_a_row_elsewhere(
    tiny_model_dir, tmp_path, load_tiny_model
):
    import transformers
    from transformers import TrainingArguments

    from llmcal.finetune.trainer import CalibrationTrainer

    model, tokenizer = load_tiny_model()
    packed = pack_items(ITEMS, tokenizer, max_length=512, style="qa")
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)

    def rows_of(trained) -> tuple[int, bool]:
        trainer = CalibrationTrainer(model=trained, args=arguments, loss="sft", train_examples=packed,
                                     pad_id=tokenizer.eos_token_id)  # fmt: skip
        batch = trainer.data_collator(packed)
        return batch["input_ids"].shape[0], "position_ids" in batch

    assert rows_of(model) == (len(packed), True)  # GPT-2: one packed row per item
    bloom = transformers.BloomForCausalLM(
        transformers.BloomConfig(vocab_size=len(tokenizer), hidden_size=16, n_layer=1, n_head=2)
    )
    options = sum(len(example.targets) for example in packed)
    assert rows_of(bloom) == (options, False)  # ALiBi: one row per option, the model's own mask

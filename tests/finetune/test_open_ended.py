"""Fine-tuning on open-ended items: the gold answer as the one option, token-level CogCalib regularisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llmcal.errors import InputError
from llmcal.finetune.losses import LOSSES, AnswerTokenTerms, CogCalibConfig, LabelSmoothingConfig, LossInputs
from llmcal.finetune.packing import collate, option_forward, pack_items
from llmcal.finetune.run import FinetuneSettings, check_item_kinds, finetune
from llmcal.finetune.trainer import CalibrationTrainer
from llmcal.scoring.attention import packing_pattern
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import ScoringRequest
from llmcal.tasks.prompts import open_prompt
from llmcal.tasks.schema import MCItem, OpenItem

ITEMS = [
    OpenItem("a", "What is the capital of France?", ("Paris", "Paree")),
    OpenItem("b", "What does the fox jump over?", ("the lazy dog",)),
    OpenItem("c", "Who rides north?", ("the king and the queen",)),
    OpenItem("d", "What rises above the valley?", ("Mountains",)),
]


def _inputs(
    nll: list[float], uniform: list[float], negative_entropy: list[float], known: list[bool]
) -> LossInputs:
    terms = AnswerTokenTerms(torch.tensor(uniform), torch.tensor(negative_entropy))
    return LossInputs(-torch.tensor(nll).unsqueeze(1), torch.zeros(len(nll), dtype=torch.long),
                      torch.tensor(known), answer_tokens=terms)  # fmt: skip


def test_token_level_label_smoothing_and_entropy_penalty_apply_to_known_answers_only() -> None:
    inputs = _inputs([2.0, 3.0], [9.0, 11.0], [-1.5, -0.5], [True, False])
    alpha = 0.25
    ls = LOSSES.get("cogcalib-ls")(inputs, CogCalibConfig(alpha))
    # Known: (1 - alpha) NLL + alpha U (label smoothing with eps = alpha over the vocabulary); unknown: NLL.
    assert float(ls) == pytest.approx(((1 - alpha) * 2.0 + alpha * 9.0 + 3.0) / 2)
    ecp = LOSSES.get("cogcalib-ecp")(inputs, CogCalibConfig(alpha))
    assert float(ecp) == pytest.approx((2.0 + alpha * -1.5 + 3.0) / 2)
    plain_ls = LOSSES.get("ls")(inputs, LabelSmoothingConfig(0.1))
    assert float(plain_ls) == pytest.approx((0.9 * 2.0 + 0.1 * 9.0 + 0.9 * 3.0 + 0.1 * 11.0) / 2)
    assert float(LOSSES.get("sft")(inputs)) == pytest.approx(2.5)


@pytest.mark.parametrize("loss", ["cogcalib-mbls", "rcft"])
def test_losses_over_options_refuse_open_ended_examples(loss: str) -> None:
    assert not LOSSES.get(loss).open_ended
    inputs = _inputs([2.0], [9.0], [-1.0], [True])
    with pytest.raises(InputError, match="compares answer options"):
        LOSSES.get(loss)(inputs, None, None) if loss == "rcft" else LOSSES.get(loss)(inputs)


def test_answer_token_terms_must_match_the_batch() -> None:
    with pytest.raises(InputError, match=r"answer_tokens\.uniform_cross_entropy must be finite with shape"):
        LossInputs(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long),
                   answer_tokens=AnswerTokenTerms(torch.zeros(3), torch.zeros(2)))  # fmt: skip


def test_open_items_pack_their_first_answer_and_the_terms_equal_a_plain_forward(
    tiny_model_dir: str, load_tiny_model
) -> None:
    model, tokenizer = load_tiny_model()
    examples = pack_items(ITEMS, tokenizer, max_length=256, style="qa")
    assert [example.label for example in examples] == [0, 0, 0, 0]
    assert all(len(example.targets) == 1 for example in examples)
    batch = collate(examples, tokenizer.eos_token_id, packing_pattern(model.config))
    with torch.no_grad():
        scores, terms = option_forward(model, batch, answer_tokens=True)
    assert terms is not None
    backend = HFBackend(tiny_model_dir, device="cpu", dtype="float32")
    scored = backend.score([ScoringRequest(open_prompt(item), (f" {item.answers[0]}",)) for item in ITEMS])
    assert scores[:, 0].tolist() == pytest.approx([options[0].total for options in scored], abs=1e-4)
    for row, item in enumerate(ITEMS):
        context = tokenizer(open_prompt(item))["input_ids"]
        answer = tokenizer(open_prompt(item) + f" {item.answers[0]}")["input_ids"][len(context) :]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([context + answer])).logits[0].float()
        log_p = logits.log_softmax(-1)[len(context) - 1 : -1]
        assert float(terms.uniform_cross_entropy[row]) == pytest.approx(
            float(-log_p.mean(-1).sum()), rel=1e-4
        )
        negative_entropy = float((log_p.exp() * log_p).sum())
        assert float(terms.negative_entropy[row]) == pytest.approx(negative_entropy, rel=1e-4)
    _, none = option_forward(model, batch)
    assert none is None


@pytest.mark.parametrize("loss", ["sft", "ls", "cogcalib-ls", "cogcalib-ecp"])
def test_fine_tuning_on_open_items_trains_and_evaluates_generated_answers(
    loss: str, load_tiny_model, tmp_path
) -> None:
    model, tokenizer = load_tiny_model()
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    settings = FinetuneSettings(loss=loss, epochs=1, batch_size=2, learning_rate=1e-2, style="qa",
                                loss_configs=(CogCalibConfig(0.5), LabelSmoothingConfig(0.2)))  # fmt: skip
    trained, results = finetune(
        model, tokenizer, ITEMS, settings, tmp_path, calibration_items=ITEMS,
        calibration_known=[True, False, True, False], eval_items=ITEMS, save_model=False,
    )  # fmt: skip
    assert np.isfinite(results.train_loss)
    assert any(not torch.equal(p, before[name]) for name, p in trained.named_parameters())
    assert results.before is not None
    assert results.after is not None
    assert results.after.n_items == len(ITEMS)
    assert math.isnan(results.after.sce)  # needs options; the JSON holds null
    assert 0.0 <= results.after.mean_confidence <= 1.0
    written = (tmp_path / "results.json").read_text()
    assert '"sce": null' in written
    assert "NaN" not in written
    if loss.startswith("cogcalib"):
        assert results.epochs is not None
        assert "threshold" in results.epochs[0]


def test_cogcalib_regulariser_changes_the_update_on_open_items(tiny_model_dir: str, tmp_path) -> None:
    trained = {}
    for loss in ("sft", "cogcalib-ecp"):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
        settings = FinetuneSettings(loss=loss, epochs=1, batch_size=4, learning_rate=1e-2, style="qa",
                                    loss_configs=(CogCalibConfig(5.0),))  # fmt: skip
        trained[loss], _ = finetune(
            model, tokenizer, ITEMS, settings, tmp_path / loss, calibration_items=ITEMS,
            calibration_known=[True, True, False, False], save_model=False,
        )  # fmt: skip
    differs = [
        name
        for (name, a), (_, b) in zip(
            trained["sft"].named_parameters(), trained["cogcalib-ecp"].named_parameters(), strict=True
        )
        if not torch.allclose(a, b)
    ]
    assert differs


def test_mixed_kinds_and_option_losses_are_refused_before_training(load_tiny_model, tmp_path) -> None:
    mc = [MCItem("m", "Q?", ("a", "b"), 0)]
    with pytest.raises(InputError, match="training items open-ended, calibration items multiple-choice"):
        check_item_kinds("sft", ITEMS, mc)
    with pytest.raises(InputError, match=r"`loss` rcft compares answer options.*sft, cft, ls, cogcalib-ls"):
        check_item_kinds("rcft", ITEMS)
    model, tokenizer = load_tiny_model()
    with pytest.raises(InputError, match="`loss` cogcalib-mbls compares answer options"):
        finetune(model, tokenizer, ITEMS, FinetuneSettings(loss="cogcalib-mbls"), tmp_path)
    with pytest.raises(InputError, match="`loss` rcft compares answer options"):
        CalibrationTrainer(model=model, loss="rcft", train_examples=[], pad_id=0, open_ended=True)


def test_the_trainer_hands_open_items_answer_token_terms_to_the_loss(load_tiny_model, tmp_path) -> None:
    from transformers import TrainingArguments

    from llmcal.finetune.losses import LOSSES, LabelSmoothingConfig
    from llmcal.finetune.trainer import CalibrationTrainer

    model, tokenizer = load_tiny_model()
    examples = pack_items(ITEMS, tokenizer, max_length=256, style="qa")
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = CalibrationTrainer(model=model, args=arguments, loss="ls", train_examples=examples,
                                 pad_id=tokenizer.eos_token_id, open_ended=True)  # fmt: skip
    batch = trainer.data_collator(examples)
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
        scores, terms = option_forward(model, batch, answer_tokens=True)
    inputs = LossInputs(scores, batch["labels"], None, batch["option_mask"], terms)
    expected = LOSSES.get("ls")(inputs, LabelSmoothingConfig(), None)
    assert float(loss) == pytest.approx(float(expected), abs=1e-6)
    # Without the terms, label smoothing over one option would be a different number.
    alone = LOSSES.get("ls")(
        LossInputs(scores, batch["labels"], None, batch["option_mask"]), LabelSmoothingConfig(), None
    )
    assert float(alone) != pytest.approx(float(expected), abs=1e-3)

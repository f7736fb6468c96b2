"""Preference pairs from items or files, and DPO alignment through TRL on a tiny local model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llmcal import InputError
from llmcal.cli.app import main
from llmcal.finetune.alignment import (
    PreferencePair,
    align,
    preference_pairs_from_items,
    read_preference_pairs,
)
from llmcal.finetune.settings import AlignSettings, LoraSettings
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import ScoringRequest
from llmcal.tasks.prompts import option_pairs
from llmcal.tasks.schema import MCItem

ITEMS = [
    MCItem(f"q{i}", f"Which word goes with river number {i}?", ("bank", "sky", "the old king", "blue"), i % 4)
    for i in range(16)
]


def test_pairs_use_the_scorers_prompt_and_a_wrong_option():
    pairs = preference_pairs_from_items(ITEMS, style="completion", seed=3)
    assert len(pairs) == len(ITEMS)
    for item, pair in zip(ITEMS, pairs, strict=True):
        options = option_pairs(item, format="cloze", style="completion")
        assert (pair.prompt, pair.chosen) == options[item.answer]
        assert pair.rejected in [continuation for _, continuation in options]
        assert pair.rejected != pair.chosen
    assert preference_pairs_from_items(ITEMS, style="completion", seed=3) == pairs  # deterministic
    assert preference_pairs_from_items(ITEMS[:5], style="completion", seed=3) == pairs[:5]  # per item
    every = preference_pairs_from_items(ITEMS, rejected="all")
    assert len(every) == 3 * len(ITEMS)
    letters = preference_pairs_from_items(ITEMS[:1], format="letters", rejected="all")
    assert [pair.rejected for pair in letters] == [" B", " C", " D"]  # item q0: gold is A


def test_pairs_refuse_items_without_a_shared_prompt_or_a_wrong_option():
    with pytest.raises(InputError, match="partial"):
        preference_pairs_from_items([MCItem("w", "The _ fell.", ("cup", "rain"), 0)], style="partial")
    with pytest.raises(InputError, match="at least two options"):
        preference_pairs_from_items([MCItem("one", "Only?", ("yes",), 0)])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"prefs\.jsonl:2: not valid JSON"),
        ('["a"]', r"prefs\.jsonl:2: expected a JSON object"),
        ('{"prompt": "p", "chosen": "a"}', r"prefs\.jsonl:2: field 'rejected' must be a non-empty string"),
        ('{"prompt": "p", "chosen": "a", "rejected": "a"}', r"prefs\.jsonl:2: 'chosen' and 'rejected'"),
    ],
)
def test_preference_file_errors_name_the_line_and_field(tmp_path, line, message):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": "Q", "chosen": " yes", "rejected": " no"}\n' + line + "\n")
    with pytest.raises(InputError, match=message):
        read_preference_pairs(path)


def test_preference_file_reads_pairs(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": "Q", "chosen": " yes", "rejected": " no"}\n\n')
    assert read_preference_pairs(path) == [PreferencePair("Q", " yes", " no")]
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no preference pairs"):
        read_preference_pairs(tmp_path / "empty.jsonl")


def margins(model, tokenizer, pairs):
    """log p(chosen) - log p(rejected) per pair under ``model`` (the scorer's sum method)."""
    backend = HFBackend("in-memory", device="cpu", dtype="float32", model_object=model, tokenizer=tokenizer)
    requests = [
        ScoringRequest(pair.prompt, (pair.chosen, pair.rejected), key=str(i)) for i, pair in enumerate(pairs)
    ]
    return np.array([chosen.total - rejected.total for chosen, rejected in backend.score(requests)])


def test_dpo_widens_the_preference_margin_and_saves_a_loadable_model(
    tiny_model_dir, tmp_path, load_tiny_model
):
    model, tokenizer = load_tiny_model()
    pairs = preference_pairs_from_items(ITEMS)
    before = margins(model, tokenizer, pairs)
    settings = AlignSettings(epochs=3, learning_rate=5e-3, batch_size=8, beta=0.1)
    trained, results = align(model, tokenizer, pairs, settings, tmp_path, eval_items=ITEMS)
    results = results.to_dict()
    after = margins(trained, tokenizer, pairs)
    assert after.mean() > before.mean() + 0.5
    assert results["log"][-1]["rewards/accuracies"] > 0.5
    assert results["after"]["accuracy"] >= results["before"]["accuracy"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["n_pairs"] == len(ITEMS)
    assert saved["settings"]["method"] == "dpo"
    reloaded = HFBackend(str(tmp_path / "model"), device="cpu", dtype="float32")
    assert margins(reloaded.model, reloaded.tokenizer, pairs) == pytest.approx(after, abs=1e-4)


def test_lora_dpo_keeps_the_base_weights_and_merges(tiny_model_dir, tmp_path, load_tiny_model):
    model, tokenizer = load_tiny_model()
    embedding = model.transformer.wte.weight.detach().clone()
    pairs = preference_pairs_from_items(ITEMS[:8])
    lora = LoraSettings(rank=4, alpha=8, target_modules=("c_attn",))
    settings = AlignSettings(loss="ipo", epochs=1, learning_rate=1e-2, batch_size=4, lora=lora)
    trained, _ = align(model, tokenizer, pairs, settings, tmp_path, save_model=False)
    assert torch.equal(trained.transformer.wte.weight, embedding)
    assert not hasattr(trained, "peft_config")  # merged back into a plain model
    assert not (tmp_path / "model").exists()


def test_lora_fine_tuning_after_lora_dpo_still_trains_the_adapters(tiny_model_dir, tmp_path, load_tiny_model):
    # CFT / RCFT on an aligned model. TRL left activation checkpointing on in the model it returned, and
    # with frozen base weights no gradient reached the new adapters (grad norm 0, weights unchanged); on a
    # Llama model the undecorated forward accelerate's unwrapping left behind cut the graph as well.
    from llmcal.finetune.run import FinetuneSettings, finetune

    model, tokenizer = load_tiny_model()
    lora = LoraSettings(rank=4, alpha=8, target_modules=("c_attn",))
    aligned, _ = align(
        model, tokenizer, preference_pairs_from_items(ITEMS[:8]),
        AlignSettings(epochs=1, learning_rate=1e-2, batch_size=4, lora=lora), tmp_path / "dpo",
        save_model=False,
    )  # fmt: skip
    assert not aligned.is_activation_checkpointing
    assert "forward" not in vars(aligned)  # the class's forward, decorators and all
    before = aligned.transformer.h[0].attn.c_attn.weight.detach().clone()
    settings = FinetuneSettings(loss="sft", epochs=1, learning_rate=1e-2, batch_size=4, lora=lora)
    tuned, results = finetune(aligned, tokenizer, ITEMS[:8], settings, tmp_path / "cft", save_model=False)
    assert results.log[-1]["grad_norm"] > 0
    assert not torch.equal(tuned.transformer.h[0].attn.c_attn.weight, before)


def test_align_refuses_bad_settings(tiny_model_dir, tmp_path, load_tiny_model):
    model, tokenizer = load_tiny_model()
    pairs = preference_pairs_from_items(ITEMS[:2])
    with pytest.raises(InputError, match="`loss` must be one of dpo, ipo"):
        align(model, tokenizer, pairs, AlignSettings(loss="ppo"), tmp_path)
    with pytest.raises(InputError, match="No preference pairs"):
        align(model, tokenizer, [], AlignSettings(), tmp_path)
    with pytest.raises(InputError, match="must be positive"):
        align(model, tokenizer, pairs, AlignSettings(beta=0.0), tmp_path)


def test_cli_aligns_from_items_and_from_a_preference_file(tiny_model_dir, tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": i.id, "question": i.question, "choices": list(i.choices),
                                         "answer": i.answer}) + "\n" for i in ITEMS[:8]))  # fmt: skip
    common = ["--model", tiny_model_dir, "--epochs", "1", "--batch-size", "4", "--lr", "1e-3"]
    assert main(["align", *common, "--data", str(items), "--out", str(tmp_path / "a"),
                 "--eval-data", str(items)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "aligned on 8 preference pairs" in printed
    assert "before" in printed
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"prompt": "The sky is", "chosen": " blue", "rejected": " bank"}) + "\n")
    assert main(["align", *common, "--data", str(prefs), "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "results.json").read_text())["n_pairs"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "ppo"], "--method must be one of dpo, ipo"),
        (["--rejected", "some"], "--rejected must be"),
        (["--cloze-style", "chat"], "--cloze-style must be"),
    ],
)
def test_cli_bad_input_exits_2_without_output(tiny_model_dir, tmp_path, capsys, extra, message):
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"prompt": "The sky is", "chosen": " blue", "rejected": " bank"}) + "\n")
    out = tmp_path / "out"
    assert main(["align", "--model", tiny_model_dir, "--data", str(prefs), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_align_settings_record_the_loss_under_its_historical_key():
    record = AlignSettings(loss="ipo", lora=LoraSettings(4, 8)).record()
    assert json.dumps(record) == (
        '{"method": "ipo", "beta": 0.1, "epochs": 3, "learning_rate": 5e-06, "batch_size": 8, '
        '"lora": {"rank": 4, "alpha": 8, "target_modules": []}, "seed": 0}'
    )

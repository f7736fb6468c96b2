"""`llmcal finetune`: a loadable model and before/after results, its options and refusals, torchrun."""

from __future__ import annotations

import json

import pytest

from llmcal.cli.app import main

ITEMS = [
    {"id": f"q{i}", "question": f"Question {i} about the river?", "choices": ["Paris", "blue", "the king"],
     "answer": i % 3}
    for i in range(12)
]  # fmt: skip


def test_finetune_writes_a_loadable_model_and_before_after_results(
    tiny_model_dir, tmp_path, capsys, write_jsonl
):
    data = write_jsonl(tmp_path / "train.jsonl", ITEMS)
    out = tmp_path / "run"
    options = ["--method", "ls", "--epochs", "1", "--batch-size", "4", "--lr", "1e-3"]
    arguments = ["finetune", "--model", tiny_model_dir, "--data", str(data), "--out", str(out), "--eval-data"]
    assert main([*arguments, str(data), *options]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"before", "after", "train_loss", "settings"}
    assert results["settings"]["method"] == "ls"
    assert [path.name for path in (out / "checkpoints").iterdir()] == [
        "checkpoint-3"
    ]  # one epoch, 12 / 4 steps
    assert main(["eval", "--model", str(out / "model"), "--data", str(data), "--out", str(tmp_path / "eval"),
                 "--methods", "sum", "--n-resamples", "5"]) == 0  # fmt: skip


def test_finetune_rejects_unknown_methods(tiny_model_dir, tmp_path, capsys, write_jsonl):
    data = write_jsonl(tmp_path / "train.jsonl", ITEMS)
    assert main(["finetune", "--model", tiny_model_dir, "--data", str(data), "--out", str(tmp_path / "o"),
                 "--method", "cogcalib-lss"]) == 2  # fmt: skip
    assert "Did you mean: cogcalib-ls" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_finetune_runs_data_parallel_under_torchrun(tiny_model_dir, tmp_path, write_jsonl):
    """Two CPU processes (gloo): the Trainer shards the data, one process evaluates and writes."""
    import subprocess
    import sys
    from pathlib import Path

    data = write_jsonl(tmp_path / "train.jsonl", ITEMS[:8])
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    launch = [str(torchrun), "--nproc_per_node", "2", "-m", "llmcal.cli.app", "finetune"]
    options = ["--method", "cogcalib-ls", "--calibration-data", str(data), "--eval-data", str(data)]
    command = [*launch, "--model", tiny_model_dir, "--data", str(data), "--out", str(out), *options,
               "--epochs", "1", "--batch-size", "2"]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["log"][-1]["step"] == 2  # 8 items / (2 processes x batch 2) = 2 steps, not 4
    assert "after" in results


def test_rcft_authors_code_sets_every_released_behaviour(tiny_model_dir, tmp_path, write_jsonl):
    data = write_jsonl(tmp_path / "train.jsonl", ITEMS)
    out = tmp_path / "run"
    options = ["--method", "rcft", "--rcft-authors-code", "--epochs", "1", "--batch-size", "6"]
    assert (
        main(["finetune", "--model", tiny_model_dir, "--data", str(data), "--out", str(out), *options]) == 0
    )
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["refresh_every_epoch"] is False  # E-step once
    assert settings["loss"]["rcft_include_top_bin"] is False
    assert settings["loss"]["rcft_target_gradient"] is True


def test_finetune_option_defaults_are_those_of_the_settings_and_loss_configs():
    import inspect

    from llmcal.cli.finetune_command import finetune_command
    from llmcal.finetune.losses import LabelSmoothingConfig, MarginCogCalibConfig, RcftConfig
    from llmcal.finetune.settings import FinetuneSettings

    defaults = {name: p.default for name, p in inspect.signature(finetune_command).parameters.items()}
    settings, rcft = FinetuneSettings(), RcftConfig()
    assert (defaults["method"], defaults["epochs"], defaults["lr"], defaults["batch_size"]) == (
        settings.loss,
        settings.epochs,
        settings.learning_rate,
        settings.batch_size,
    )
    assert (defaults["cloze_style"], defaults["format"], defaults["seed"]) == (
        settings.style,
        settings.format,
        settings.seed,
    )
    assert (defaults["smoothing"], defaults["alpha"], defaults["margin"]) == (
        LabelSmoothingConfig().smoothing,
        MarginCogCalibConfig().alpha,
        MarginCogCalibConfig().margin,
    )
    assert (defaults["rcft_alpha"], defaults["rcft_scale"]) == (rcft.rcft_alpha, rcft.rcft_scale)
    assert defaults["style_adaptation"] == settings.style_adaptation_items


OPEN_ITEMS = [
    {
        "id": f"o{i}",
        "question": f"What is {i} about the river?",
        "answers": [["Paris", "blue", "the king"][i % 3]],
    }
    for i in range(8)
]


def test_open_ended_items_are_probed_and_fine_tuned(tiny_model_dir, tmp_path, capsys, write_jsonl):
    data = write_jsonl(tmp_path / "open.jsonl", OPEN_ITEMS)
    labels = tmp_path / "labels.jsonl"
    argv = ["probe", "--model", tiny_model_dir, "--data", str(data), "--out", str(labels), "--device", "cpu",
            "--max-new-tokens", "4"]  # fmt: skip
    assert main(argv) == 0
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [row["id"] for row in rows] == [item["id"] for item in OPEN_ITEMS]
    assert all(row["nll"] > 0 for row in rows)
    out = tmp_path / "tuned"
    argv = ["finetune", "--model", tiny_model_dir, "--data", str(data), "--eval-data", str(data),
            "--method", "sft", "--epochs", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["after"]["n_items"] == len(OPEN_ITEMS)
    assert results["after"]["sce"] is None
    assert "before" in capsys.readouterr().out


def test_finetune_refuses_option_losses_and_mixed_kinds_for_open_items_before_loading(
    tmp_path, capsys, write_jsonl
):
    data = write_jsonl(tmp_path / "open.jsonl", OPEN_ITEMS)
    mc = write_jsonl(tmp_path / "mc.jsonl", ITEMS)
    # No model is loaded before the items are checked: a model name that does not exist is never reached.
    argv = [
        "finetune",
        "--model",
        str(tmp_path / "no-model"),
        "--data",
        str(data),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main([*argv, "--method", "rcft"]) == 2
    assert "--method rcft compares answer options" in capsys.readouterr().err
    assert main([*argv, "--eval-data", str(mc)]) == 2
    assert "must be of one kind" in capsys.readouterr().err


def test_a_loss_hyperparameter_out_of_range_is_shown_as_its_option(tmp_path, capsys, write_jsonl):
    data = write_jsonl(tmp_path / "train.jsonl", ITEMS)
    argv = [
        "finetune",
        "--model",
        str(tmp_path / "no-model"),
        "--data",
        str(data),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main([*argv, "--smoothing", "1.5"]) == 2
    assert capsys.readouterr().err == (
        "error: LabelSmoothingConfig.smoothing must be in [0, 1); got 1.5 (--smoothing).\n"
    )
    assert not (tmp_path / "o").exists()

from __future__ import annotations

import json

from llmcal.cli.app import main

ITEMS = [
    {"id": f"q{i}", "question": f"Question {i} about the river?", "choices": ["Paris", "blue", "the king"],
     "answer": i % 3}
    for i in range(12)
]  # fmt: skip


def write(path, items):
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def test_probe_labels_items_and_scores_the_detector(tiny_model_dir, tmp_path, capsys):
    data = write(tmp_path / "items.jsonl", ITEMS)
    labels = tmp_path / "labels.jsonl"
    assert (
        main(
            ["probe", "--model", tiny_model_dir, "--data", str(data), "--out", str(labels), "--device", "cpu"]
        )
        == 0
    )
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [row["id"] for row in rows] == [item["id"] for item in ITEMS]
    assert {row["known"] for row in rows} == {True, False}  # the fixed tiny model knows some, not all
    # The detector fitted on these labels separates them at least as well as chance.
    detected = tmp_path / "detected.jsonl"
    assert main(["probe", "--model", tiny_model_dir, "--data", str(data), "--out", str(detected),
                 "--calibration-data", str(data), "--device", "cpu"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in detected.read_text().splitlines()]
    agreement = sum(row["known"] == row["detector_known"] for row in rows) / len(rows)
    assert agreement >= 0.5
    assert "NLL threshold" in capsys.readouterr().out
    slick = tmp_path / "slick.jsonl"
    arguments = [
        "probe",
        "--model",
        tiny_model_dir,
        "--data",
        str(data),
        "--out",
        str(slick),
        "--device",
        "cpu",
    ]
    assert main([*arguments, "--slick-prompts", "2"]) == 0
    categories = {json.loads(line)["slick"] for line in slick.read_text().splitlines()}
    assert categories <= {"HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"}
    assert "SliCK categories" in capsys.readouterr().out


def test_finetune_writes_a_loadable_model_and_before_after_results(tiny_model_dir, tmp_path, capsys):
    data = write(tmp_path / "train.jsonl", ITEMS)
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


def test_finetune_rejects_unknown_methods(tiny_model_dir, tmp_path, capsys):
    data = write(tmp_path / "train.jsonl", ITEMS)
    assert main(["finetune", "--model", tiny_model_dir, "--data", str(data), "--out", str(tmp_path / "o"),
                 "--method", "cogcalib-lss"]) == 2  # fmt: skip
    assert "Did you mean: cogcalib-ls" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_finetune_runs_data_parallel_under_torchrun(tiny_model_dir, tmp_path):
    """Two CPU processes (gloo): the Trainer shards the data, one process evaluates and writes."""
    import subprocess
    import sys
    from pathlib import Path

    data = write(tmp_path / "train.jsonl", ITEMS[:8])
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


def _known_under(model_dir, items_path, prompt_format):
    """Whether the model's argmax option is the gold one under ``prompt_format``, per item."""
    from llmcal.confidence.extraction import ExtractionSettings, extract_records
    from llmcal.knowledge.ground_truth import known_from_records
    from llmcal.scoring.hf import HFBackend
    from llmcal.tasks.loading import load_items

    backend = HFBackend(model_dir, device="cpu", dtype="float32")
    settings = ExtractionSettings(("sum",), format=prompt_format)
    truth = known_from_records(extract_records(load_items(items_path), backend, settings, task="t"))
    return [truth[item["id"]] for item in ITEMS]


def test_letters_ground_truth_comes_from_the_letters_prompt(tiny_model_dir, tmp_path):
    data = write(tmp_path / "items.jsonl", ITEMS)
    letters, cloze = (_known_under(tiny_model_dir, data, f) for f in ("letters", "cloze"))
    assert sum(letters) != sum(cloze)  # the fixed tiny model: the two prompts label these items differently
    # probe --format letters labels with the letters prompt ...
    labels = tmp_path / "labels.jsonl"
    assert main(["probe", "--model", tiny_model_dir, "--data", str(data), "--out", str(labels),
                 "--format", "letters", "--device", "cpu"]) == 0  # fmt: skip
    assert [json.loads(line)["known"] for line in labels.read_text().splitlines()] == letters
    # ... and so does finetune --format letters for its CogCalib calibration split.
    out = tmp_path / "run"
    assert main(["finetune", "--model", tiny_model_dir, "--data", str(data), "--out", str(out),
                 "--calibration-data", str(data), "--format", "letters", "--method", "cogcalib-ls",
                 "--epochs", "1", "--batch-size", "6"]) == 0  # fmt: skip
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["model"]["known_calibration_items"] == sum(letters)


def test_rcft_authors_code_sets_every_released_behaviour(tiny_model_dir, tmp_path):
    data = write(tmp_path / "train.jsonl", ITEMS)
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


def test_open_ended_items_are_probed_and_fine_tuned(tiny_model_dir, tmp_path, capsys):
    data = write(tmp_path / "open.jsonl", OPEN_ITEMS)
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


def test_finetune_refuses_option_losses_and_mixed_kinds_for_open_items_before_loading(tmp_path, capsys):
    data = write(tmp_path / "open.jsonl", OPEN_ITEMS)
    mc = write(tmp_path / "mc.jsonl", ITEMS)
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

"""`llmcal probe`: labels items known or unknown under the prompt format the fine-tuning uses."""

from __future__ import annotations

import json

from llmcal.cli.app import main

ITEMS = [
    {"id": f"q{i}", "question": f"Question {i} about the river?", "choices": ["Paris", "blue", "the king"],
     "answer": i % 3}
    for i in range(12)
]  # fmt: skip


def test_probe_labels_items_and_scores_the_detector(tiny_model_dir, tmp_path, capsys, write_jsonl):
    data = write_jsonl(tmp_path / "items.jsonl", ITEMS)
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


def test_letters_ground_truth_comes_from_the_letters_prompt(tiny_model_dir, tmp_path, write_jsonl):
    data = write_jsonl(tmp_path / "items.jsonl", ITEMS)
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

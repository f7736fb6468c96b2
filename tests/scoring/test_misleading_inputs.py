"""Inputs that used to mislead: a mistyped local path sent to the hub, prompts cut silently, a spelt-out
default refused on resume."""

from __future__ import annotations

import json
import time

import pytest

from llmcal import InputError
from llmcal.cli.app import main
from llmcal.scoring.models import resolve_model
from llmcal.scoring.requests import GenerationRequest, ScoringRequest


@pytest.mark.parametrize(
    "name", ["./my-model", "../models/llama", "/no/such/folder", "~/nope", "a/b/c", "x y"]
)
def test_a_missing_local_path_is_refused_at_once_instead_of_asking_the_hub(name):
    started = time.monotonic()
    with pytest.raises(InputError, match="no such folder"):
        resolve_model(name)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("name", "meant"),
    [("smollm2", "smollm2-135m-instruct"), ("Gemma-3", "gemma-3-270m"), ("gemma-3-207m", "gemma-3-270m")],
)
def test_a_shortened_or_misspelt_packaged_name_is_refused_at_once_naming_it(name, meant):
    started = time.monotonic()
    with pytest.raises(InputError, match=f"did you mean '{meant}'"):
        resolve_model(name)
    assert time.monotonic() - started < 1.0


def test_hub_ids_and_existing_folders_still_resolve_as_before(tmp_path, monkeypatch):
    for hub_id in ("gpt2", "distilgpt2", "gpt2-medium", "google/gemma-3-270m", "HuggingFaceTB/SmolLM2-135M"):
        assert resolve_model(hub_id).path == hub_id
    assert resolve_model("Qwen/Qwen2.5-0.5B").path == "Qwen/Qwen2.5-0.5B"
    assert resolve_model("gpt2").path == "gpt2"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(InputError, match="no such folder"):
        resolve_model("models/llama")  # ./models exists: a path into it, not the hub org "models"
    (tmp_path / "models" / "llama").mkdir()
    assert resolve_model("models/llama").path == "models/llama"


def test_prompts_longer_than_the_context_are_counted_and_reported(tiny_model_dir):
    from llmcal.scoring.hf import HFBackend

    messages: list[str] = []
    backend = HFBackend(tiny_model_dir, max_length=32, on_status=messages.append)
    long = "the king and the queen ride north " * 20
    backend.score([ScoringRequest(long, (" yes", " no")), ScoringRequest("Short?", (" yes",))])
    assert [m for m in messages if "cut on the left" in m] == [
        "warning: 1 prompt(s) longer than the model's context of 32 tokens were cut on the left (as "
        "lm-evaluation-harness does); their scores see only the end of the prompt. Shorten the items or "
        "lower --num-fewshot to score whole prompts."
    ]
    backend.generate([GenerationRequest(long), GenerationRequest(long)], max_new_tokens=4)
    assert "warning: 2 prompt(s)" in messages[-1]


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # a random tiny model: all wrong
def test_the_default_stop_spelt_out_resumes_the_run_made_without_it(tiny_model_dir, tmp_path):
    data = tmp_path / "open.jsonl"
    rows = [{"id": f"o{i}", "question": f"Capital number {i}?", "answers": ["Paris"]} for i in range(4)]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    base = ["eval", "--model", tiny_model_dir, "--data", str(data), "--out", str(tmp_path / "run"),
            "--methods", "seq-prob", "--max-new-tokens", "3", "--n-resamples", "5"]  # fmt: skip
    assert main(base) == 0
    assert main([*base, "--stop", "\\n"]) == 0
    assert main([*base, "--stop", "."]) == 2  # another stop is another run

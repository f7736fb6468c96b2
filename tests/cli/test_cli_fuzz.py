"""Fuzzing the command line: every run ends with exit code 0 or 2, never a traceback, never a partial file.

Hypothesis draws whole command lines of ``metrics``, ``report``, ``compare``, ``calibrate``, ``eval`` (on a
tiny local GPT-2, sampling and ``--answers`` included) and ``from-lm-eval``: input files that are missing,
empty, directories, binary, torn, in UTF-16 or Latin-1, with a huge field or wrong-typed JSON; run
directories with one file deleted, replaced or one JSON value changed; option values out of range, empty or
odd unicode; output paths that are empty, taken by a
file or a directory. Each example runs in-process (``llmcal.cli.app.main``) in a fresh working directory:

- the exit code is 0 or 2, and no exception escapes ``main`` (an escaping exception is a traceback);
- stderr holds no ``Traceback``;
- a run that exits 2 leaves the working directory as it found it (no partial output file);
- a run that exits 0 wrote what it says.

``LLMCAL_FUZZ_EXAMPLES`` (default 60, as in tests/test_fuzz.py) is the number of ``metrics`` examples;
``compare``, ``calibrate`` and ``from-lm-eval`` get half of it, ``eval`` (a model) and ``report``
(diagrams) a sixth: about 30 s in all on 2 CPU cores. ``-m slow`` runs ten times as many and shrinks a
failure to a minimal command
line (the default run reports it as drawn). Command lines that once failed run every time
(``test_command_lines_the_fuzzing_found``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from llmcal.cli.app import main
from llmcal.errors import CalibrationWarning

EXAMPLES = int(os.environ.get("LLMCAL_FUZZ_EXAMPLES", "60"))
HEAVY = max(EXAMPLES // 6, 4)  # eval loads a model, report draws diagrams: about a second an example
SLOW_FACTOR = 10

MISSING = None
DIRECTORY = "<directory>"
Body = bytes | str | None  # file content, DIRECTORY, or MISSING


# -- values --------------------------------------------------------------------------------------------

ODD = [" ", "é", "ß", "💥", "名前", "\u200b", "\ufeff", "[/x]", "[bold]", "-", "--x", "a\nb", "\x7f",
       "NaN", "\u202e", "a,b", ",", "..", "~", "%s", "{0}", "\\n", "Ǆ", "İ", "ﬀ", "٣"]  # fmt: skip
odd_text = st.sampled_from(["", *ODD]) | st.text(max_size=8).filter(lambda text: "\x00" not in text)
HUGE = str(2**64)
DEVICES = st.sampled_from(["cuda", "cuda:1", "mps", "meta"]) | odd_text  # none of them on a CPU-only torch


def integer_option(valid: st.SearchStrategy[int], *, huge: bool = True) -> st.SearchStrategy[str]:
    """An integer option's value: mostly valid; else out of range, huge, or not an integer."""
    hostile = ["0", "-1", "x", "", "1.5", "1e3", " 2", "٣"] + ([HUGE, f"-{HUGE}"] if huge else [])
    return mostly(valid.map(str), st.sampled_from(hostile))


def float_option(valid: st.SearchStrategy[float]) -> st.SearchStrategy[str]:
    hostile = st.sampled_from(["0", "1", "-1", "nan", "inf", "-inf", "1e999", "x", "", "0,9"])
    return mostly(valid.map(str), hostile)


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any], odds: int = 8
) -> st.SearchStrategy[Any]:
    """``hostile`` once in ``odds`` draws, else ``valid``: with a dozen options each often hostile, a command
    line would hardly ever get past parsing to the code that reads files and computes."""
    # Hypothesis draws the ends of an integer range often and dedupes equal branches of one_of; a hostile
    # last element of sampled_from comes up about once in `odds` draws, as measured.
    return st.sampled_from([False] * (odds - 1) + [True]).flatmap(lambda bad: hostile if bad else valid)


def choice(valid: list[str]) -> st.SearchStrategy[str]:
    """One of the ``valid`` names, or odd text."""
    return mostly(st.sampled_from(valid), odd_text)


N_BINS = integer_option(st.integers(1, 20))
# A few resamples: the examples stay fast. Not 2**64: it is accepted and allocates until the machine runs
# out of memory (a MemoryError at best), which a test must not try.
N_RESAMPLES = integer_option(st.integers(1, 4), huge=False)
LEVEL = float_option(st.floats(0.5, 0.999))
SEED = integer_option(st.integers(0, 9))
STRATEGY = choice(["uniform", "quantile"])

scalars = st.none() | st.booleans() | st.integers(-5, 10) | st.floats() | st.text(max_size=8)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=6), inner, max_size=4), max_leaves=10)  # fmt: skip


def options(**drawn: st.SearchStrategy[str | None]) -> st.SearchStrategy[list[str]]:
    """``--name value`` pairs, each present or not (a drawn ``None`` leaves it out too); flags are FLAG."""
    parts = [st.none() | value.map(lambda text, name=name: (name, text)) for name, value in drawn.items()]
    return st.tuples(*parts).map(_flatten)


def _flatten(pairs: tuple[tuple[str, str] | None, ...]) -> list[str]:
    argv: list[str] = []
    for pair in pairs:
        if pair is not None and pair[1] is not None:  # a value of None: the option is left out
            name, value = pair
            argv += (
                [f"--{name.replace('_', '-')}"] if value == FLAG else [f"--{name.replace('_', '-')}", value]
            )
    return argv


FLAG = "<flag>"
flag = st.just(FLAG)


# -- files ---------------------------------------------------------------------------------------------

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1"]
HUGE_TOKENS = [json.dumps("x" * 200_000), "9" * 5000, "[" * 3000 + "]" * 3000, "1e999", "-1e999", "NaN"]


def file_content(valid: st.SearchStrategy[list[dict[str, Any]]], keys: list[str]) -> st.SearchStrategy[bytes]:
    """JSONL content: valid records in any encoding, wrong types, a huge field, junk, torn, binary."""
    valid_text = valid.map(lambda records: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    wrong = st.dictionaries(st.sampled_from(keys) | st.text(max_size=4), json_values, max_size=len(keys) + 1)
    wrong_text = st.lists(wrong.map(json.dumps) | st.text(max_size=30), min_size=1, max_size=5).map("\n".join)
    huge = st.tuples(valid, st.integers(0, 50), st.sampled_from(HUGE_TOKENS)).map(_with_huge_field)
    return mostly(valid_text.map(str.encode), st.one_of(hostile_bytes(valid_text), wrong_text.map(str.encode),
                                                        huge.map(str.encode)), odds=3)  # fmt: skip


def csv_content(valid: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """CSV content: valid in any encoding, header only, a huge cell, torn, binary, empty."""
    header_only = valid.map(lambda text: text.split("\n")[0] + "\n")
    huge_cell = st.tuples(valid, st.sampled_from(HUGE_TOKENS)).map(
        lambda p: p[0].replace(",0", f",{p[1]}", 1)
    )
    hostile = st.one_of(hostile_bytes(valid), header_only.map(str.encode), huge_cell.map(str.encode))
    return mostly(valid.map(str.encode), hostile, odds=3)


def hostile_bytes(valid_text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    torn = st.tuples(valid_text, st.integers(0, 300)).map(lambda pair: pair[0][: pair[1]])
    return st.one_of(
        st.tuples(valid_text, st.sampled_from(ENCODINGS)).map(lambda p: p[0].encode(p[1], "replace")),
        torn.map(str.encode),
        st.binary(max_size=64),
        st.sampled_from([b"", b"\n", b"\n \r\n", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00\x00\x00", b"{" * 5000]),
    )


def _with_huge_field(drawn: tuple[list[dict[str, Any]], int, str]) -> str:
    """The records as JSONL with one value (the ``index``-th of all records' values) a huge raw token."""
    records, index, token = drawn
    slots = [(row, key) for row, record in enumerate(records) for key in record]
    if not slots:
        return token + "\n"
    row, key = slots[index % len(slots)]
    marker = "\x01huge\x01"
    records = [dict(record) for record in records]
    records[row][key] = marker
    return "".join(json.dumps(r) + "\n" for r in records).replace(json.dumps(marker), token)


STEMS = ["data", "é ß", "💥", "[/x]", "a b", "名前", ".hidden", "\u202e", "-x"]


def input_file(
    jsonl: st.SearchStrategy[bytes], csv: st.SearchStrategy[bytes], suffixes: list[str]
) -> st.SearchStrategy[tuple[str, Body]]:
    """A ``(name, body)`` input, JSONL or CSV content under its own suffix or, at times, an odd stem or
    suffix; at times missing or a directory."""
    odd_name = st.tuples(st.sampled_from(STEMS), st.sampled_from(suffixes)).map("".join)
    contents = st.tuples(st.just("data.jsonl"), jsonl) | st.tuples(st.just("data.csv"), csv)
    named = st.tuples(contents, mostly(st.none(), odd_name)).map(lambda p: (p[1] or p[0][0], p[0][1]))
    return mostly(named, st.tuples(odd_name, st.sampled_from([MISSING, DIRECTORY])))


# Output paths (valid ones, then hostile ones): the workspace holds an empty directory `existing_dir` and a
# file `existing_file`.
DIR_OUTS = mostly(
    st.sampled_from(["out", "new/deeper/out", "existing_dir", "é 💥", "[/x]", ".", "out/"]),
    st.sampled_from(["", "existing_file", "existing_file/out"]),
)
FILE_OUTS = mostly(
    st.sampled_from(["out.json", "new/deeper/out.json", "é 💥.json", "[/x].html", "out"]),
    st.sampled_from(["", "existing_dir", "existing_file", "existing_file/out.json", "."]),
)


# -- cases ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One command line and the files it reads; ``expect`` checks a run that exited 0."""

    argv: list[str]
    files: dict[str, Body] = field(default_factory=dict)
    runs: dict[str, RunDir] = field(default_factory=dict)
    expect: list[str] = field(default_factory=list)  # paths a successful run must have written


@dataclass(frozen=True)
class RunDir:
    """A copy of a base output directory with one change.

    A file deleted, replaced or torn, or one JSON value set to another or deleted; ``index`` picks the file
    and the value (a base's files are known only when the case runs).
    """

    base: str
    change: str = "none"
    index: int = 0
    payload: Any = None


def run_dirs(bases: list[str]) -> st.SearchStrategy[RunDir]:
    changes = mostly(st.just(("none", None)), st.one_of(
        st.just(("delete", None)),
        st.tuples(st.just("replace"), st.binary(max_size=40) | st.sampled_from([b"", b"{}", b"[]", b"null"])),
        st.tuples(st.just("truncate"), st.none()),
        st.tuples(st.just("json"), json_values),
        st.tuples(st.just("json-delete"), st.none()),
    ), odds=2)  # fmt: skip
    return st.builds(
        lambda base, change, index: RunDir(base, change[0], index, change[1]),
        st.sampled_from(bases),
        changes,
        st.integers(0, 10_000),
    )


def with_out(
    argv: list[str], out: str | None, default: str | None, written: list[str]
) -> tuple[list[str], list[str]]:
    """``argv`` with ``--out`` (if drawn), and what a successful run must have written under it."""
    target = out if out is not None else default
    expect = [] if target is None else [str(Path(target, name)) if name else target for name in written]
    return (argv if out is None else [*argv, "--out", out]), expect


# metrics ------------------------------------------------------------------------------------------------

probabilities = st.integers(2, 4).flatmap(
    lambda n: st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n).map(lambda v: [x / sum(v) for x in v])
)
probability_rows = st.builds(
    lambda probs, label: {"probs": probs, "label": label % len(probs)}, probabilities, st.integers(0, 3)
)
top_label_rows = st.builds(lambda c, ok: {"confidence": c, "correct": ok}, st.floats(0, 1), st.booleans())
predictions = (st.lists(probability_rows, min_size=1, max_size=8) | st.lists(top_label_rows, min_size=1,
               max_size=8)).map(lambda rows: [dict(row, subject=["law", "[/art]"][i % 2], popularity=i)
                                              for i, row in enumerate(rows)])  # fmt: skip
prediction_csv = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=1, max_size=6).map(
    lambda rows: "probs_0,probs_1,label\n" + "".join(f"{p},{1 - p},{label}\n" for p, label in rows)
)


@st.composite
def metrics_cases(draw: st.DrawFn) -> Case:
    content = file_content(predictions, ["probs", "label", "confidence", "correct"])
    name, body = draw(
        input_file(content, csv_content(prediction_csv), [".jsonl", ".csv", ".json", ".txt", ""])
    )
    drawn = options(
        n_bins=N_BINS,
        strategy=STRATEGY,
        n_resamples=N_RESAMPLES,
        level=LEVEL,
        seed=SEED,
        input_kind=choice(["probs", "logits"]),
        probs_key=choice(["probs"]),
        label_key=choice(["label"]),
        json=flag,
        by=choice(["subject", "popularity"]),
        strata=integer_option(st.integers(1, 5)),
    )
    argv = ["metrics", name, *draw(drawn)]
    if "--n-resamples" not in argv:
        argv += ["--n-resamples", "3"]
    argv, expect = with_out(argv, draw(st.none() | FILE_OUTS), None, [""])
    return Case(argv, {name: body}, expect=expect)


# report and compare -------------------------------------------------------------------------------------


@st.composite
def report_cases(draw: st.DrawFn) -> Case:
    runs = draw(st.lists(run_dirs(["eval", "eval", "comparison", "training", "missing", "empty", "file"]),
                         min_size=1, max_size=3))  # fmt: skip
    names = [f"run{i}" for i in range(len(runs))]
    argv = ["report", *names, *draw(options(title=odd_text))]
    argv, expect = with_out(argv, draw(st.none() | FILE_OUTS), "report.html", [""])
    return Case(argv, runs=dict(zip(names, runs, strict=True)), expect=expect)


@st.composite
def compare_cases(draw: st.DrawFn) -> Case:
    count = draw(mostly(st.sampled_from([2, 4]), st.sampled_from([1, 3]), odds=6))
    runs = draw(st.lists(run_dirs(["eval"] * 6 + ["comparison", "training", "missing", "empty", "file"]),
                         min_size=count, max_size=count))  # fmt: skip
    names = [f"run{i}" for i in range(count)]
    drawn = options(
        names=mostly(st.none(), odd_text | st.just("a,b"), odds=3),
        metrics=choice(["ece,brier", "accuracy", "nope"]),
        n_bins=N_BINS,
        strategy=STRATEGY,
        n_resamples=N_RESAMPLES,
        level=LEVEL,
        seed=SEED,
    )
    argv = ["compare", *names, *draw(drawn)]
    if "--n-resamples" not in argv:
        argv += ["--n-resamples", "3"]
    written = ["comparison.json", "comparison.md"]  # comparison.png only when something was compared
    argv, expect = with_out(argv, draw(st.none() | DIR_OUTS), None, written)
    return Case(argv, runs=dict(zip(names, runs, strict=True)), expect=expect)


@st.composite
def calibrate_cases(draw: st.DrawFn) -> Case:
    bases = ["eval-40"] * 6 + ["eval", "comparison", "training", "missing", "empty", "file"]
    runs = {"run0": draw(run_dirs(bases))}
    drawn = options(
        fit_on=float_option(st.floats(0.2, 0.8)),
        calibrators=choice(["isotonic", "platt", "histogram", "isotonic,platt", "platt,platt"]),
        methods=choice(["sum", "sum,choice", "verbal"]),
        seed=SEED,
        n_bins=N_BINS,
        strategy=STRATEGY,
        n_resamples=N_RESAMPLES,
        level=LEVEL,
    )
    argv = ["calibrate", "run0", *draw(drawn)]
    if draw(mostly(st.just(False), st.just(True), odds=3)):
        runs["run1"] = draw(run_dirs(bases))
        argv += ["--apply-to", draw(mostly(st.just("run1"), st.sampled_from(["run0", "missing", "."])))]
    if "--n-resamples" not in argv:
        argv += ["--n-resamples", "3"]
    argv, expect = with_out(
        argv, draw(st.none() | DIR_OUTS), "run0-calibrated", ["calibration.json", "run.json"]
    )
    return Case(argv, runs=runs, expect=expect)


# eval ---------------------------------------------------------------------------------------------------

words = mostly(
    st.sampled_from(["Paris", "blue", "the king", "valley", "é", "💥", "[/x]", "名前"]),
    st.sampled_from(["", " ", "a\nb", "x" * 300, "\u200b"]),
)
mc_item = st.builds(
    lambda i, question, choices, answer: {"id": f"q{i}", "question": question, "choices": choices,
                                          "answer": answer % max(len(choices), 1)},
    st.integers(0, 3), words, st.lists(words, min_size=2, max_size=4), st.integers(0, 3),
)  # fmt: skip
open_item = st.builds(
    lambda i, question, answers: {"id": f"o{i}", "question": question, "answers": answers},
    st.integers(0, 3),
    words,
    st.lists(words, min_size=1, max_size=2),
)
items = (st.lists(mc_item, min_size=1, max_size=3) | st.lists(open_item, min_size=1, max_size=2)).map(
    lambda rows: [dict(row, id=f"i{index}") for index, row in enumerate(rows)]
)
given_answers = st.lists(
    st.builds(lambda i, answer, samples: {"id": f"i{i}", "answer": answer, "samples": samples},
              st.integers(0, 2), words, st.lists(words, max_size=3)),
    min_size=1, max_size=3,
)  # fmt: skip
items_csv = st.lists(st.tuples(words, words, words), min_size=1, max_size=3).map(
    lambda rows: (
        "id,question,choice_0,choice_1,answer\n"
        + "".join(
            f"q{i},{json.dumps(q)},{json.dumps(a)},{json.dumps(b)},0\n" for i, (q, a, b) in enumerate(rows)
        )
    )
)


def eval_cases(model: str) -> st.SearchStrategy[Case]:
    @st.composite
    def cases(draw: st.DrawFn) -> Case:
        content = file_content(items, ["id", "question", "choices", "answer", "answers"])
        name, body = draw(input_file(content, csv_content(items_csv), [".jsonl", ".csv", ".json", ""]))
        argv = [
            "eval",
            "--model",
            draw(mostly(st.just(model), st.sampled_from(["no-such-model-dir/", "", "."]))),
            "--data",
            name,
        ]
        argv += draw(options(
            task=mostly(st.none(), odd_text),  # never a real task name: those would download their dataset
            methods=choice(["sum", "sum,choice", "seq-prob", "verbal", "choise", "self-consistency",
                            "semantic-entropy,seq-prob", "eigv,degree"]),
            format=choice(["cloze", "letters"]),
            num_fewshot=integer_option(st.integers(0, 3)), max_new_tokens=integer_option(st.integers(1, 3)),
            stop=mostly(st.none(), odd_text | st.just("\\n")), limit=integer_option(st.integers(1, 3)),
            batch_size=choice(["auto", "1", "2"]),
            device=mostly(st.sampled_from(["cpu", "auto"]), DEVICES),
            dtype=choice(["auto", "float32", "bfloat16"]),
            strategy=choice(["auto", "packed", "padded", "cached"]),
            cloze_style=choice(["qa", "completion", "partial"]),
            seed=SEED, n_bins=N_BINS, n_resamples=N_RESAMPLES, by=mostly(st.none(), choice(["subject"])),
            strata=integer_option(st.integers(1, 3)),
        ))  # fmt: skip
        argv += draw(options(  # methods over samples and answers made elsewhere (open-ended items)
            samples=integer_option(st.integers(2, 3)), temperature=float_option(st.floats(0.1, 2.0)),
            top_k=integer_option(st.integers(0, 5)), top_p=float_option(st.floats(0.1, 1.0)),
            # Never a real NLI model (a download); an unknown or odd name must be refused.
            nli=mostly(st.none(), st.sampled_from(["no-such-nli-model", "", ".", "existing_dir"]), odds=4),
        ))  # fmt: skip
        files = {name: body}
        if draw(mostly(st.just(False), st.just(True), odds=3)):
            files["answers.jsonl"] = draw(file_content(given_answers, ["id", "answer", "samples"]))
            argv += ["--answers", "answers.jsonl"]
        if "--n-resamples" not in argv:
            argv += ["--n-resamples", "3"]
        argv, expect = with_out(argv, draw(DIR_OUTS), None, ["results.json", "records.jsonl"])
        return Case(argv, files, expect=expect)

    return cases()


# from-lm-eval -------------------------------------------------------------------------------------------

lm_eval_sample = st.builds(
    lambda doc, lls, target: {
        "doc_id": doc,
        "arguments": {f"gen_args_{i}": {"arg_0": "Q:", "arg_1": f" option{i}"} for i in range(len(lls))},
        "filtered_resps": [[str(ll), "False"] for ll in lls],
        "filter": "none",
        "target": str(target % len(lls)),
    },
    st.integers(0, 5),
    st.lists(st.floats(-20, 0), min_size=2, max_size=4),
    st.integers(0, 3),
)
samples = st.lists(lm_eval_sample, min_size=1, max_size=5).map(
    lambda rows: [dict(row, doc_id=i) for i, row in enumerate(rows)]
)
SAMPLE_NAMES = [
    "samples_t_2026-11-23T10-00-00.1.jsonl",
    "samples_my_task_2026-11-24T10-00-00.123456.jsonl",
    "samples_💥_2026-11-23T10-00-00.1.jsonl",
    "samples_.jsonl",
    "results.json",
    "t.jsonl",
]


@st.composite
def from_lm_eval_cases(draw: st.DrawFn) -> Case:
    keys = ["doc_id", "arguments", "filtered_resps", "resps", "target", "filter", "acc"]
    content = file_content(samples, keys)
    names = draw(st.lists(mostly(st.sampled_from(SAMPLE_NAMES[:2]), st.sampled_from(SAMPLE_NAMES[2:])),
                          min_size=1, max_size=3, unique=True))  # fmt: skip
    files = {name: draw(mostly(content, st.sampled_from([MISSING, DIRECTORY]))) for name in names}
    argv = ["from-lm-eval", *names, *draw(options(n_bins=N_BINS, strategy=STRATEGY, n_resamples=N_RESAMPLES,
                                                    level=LEVEL))]  # fmt: skip
    if "--n-resamples" not in argv:
        argv += ["--n-resamples", "3"]
    argv, expect = with_out(argv, draw(st.none() | DIR_OUTS), "llmcal-from-lm-eval",
                            ["results.json", "records.jsonl"])  # fmt: skip
    return Case(argv, files, expect=expect)


# -- known cases ------------------------------------------------------------------------------------------
# Command lines the fuzzing found crashing (or leaving files behind), run first on every run; each is fixed
# where the comment says, outside the command line's boundary.

TWO_ITEMS = b"".join(
    json.dumps({"id": f"q{i}", "question": "Which?", "choices": ["a", "b"], "answer": 0}).encode() + b"\n"
    for i in range(2)
)
STRATIFIED = b"".join(
    json.dumps({"probs": [0.7, 0.3], "label": i % 2, "subject": ["law", "[/art]"][i % 2]}).encode() + b"\n"
    for i in range(6)
)


def sample_lines(count: int) -> bytes:
    """lm-eval samples of a two-choice task, valid."""
    two_choices = {f"gen_args_{j}": {"arg_0": "Q:", "arg_1": f" o{j}"} for j in range(2)}
    rows = [
        {"doc_id": i, "arguments": two_choices, "filter": "none", "target": str(i % 2),
         "filtered_resps": [[str(-1.0 - i % 3), "False"], ["-1.5", "False"]]}
        for i in range(count)
    ]  # fmt: skip
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


METHOD_NOT_A_NAME = RunDir("eval", "set", 0, ("run.json", ["settings", "extraction", "methods", 0], {}))
MODEL_NOT_AN_OBJECT = RunDir("eval", "set", 0, ("run.json", ["model"], None))
LOG_VALUE_NOT_A_NUMBER = RunDir("training", "set", 0, ("results.json", ["log", 0, "loss"], []))


MODEL = "<tiny model>"  # replaced by the tiny GPT-2's directory when the case runs


def _known_cases() -> dict[str, list[Case]]:
    metrics = ["metrics", "data.jsonl", "--n-resamples", "3"]
    evaluate = ["eval", "--model", MODEL, "--data", "data.jsonl", "--device", "cpu", "--n-resamples", "3"]
    return {
        "metrics": [
            # --seed and --n-bins have no bounds numpy accepts (cli/metric_options.py, metrics/settings.py).
            Case([*metrics, "--seed", "-1"], {"data.jsonl": STRATIFIED}),
            Case([*metrics, "--n-bins", HUGE], {"data.jsonl": STRATIFIED}),
            # A stratum label is printed as rich markup (cli/tables.py).
            Case([*metrics, "--by", "subject"], {"data.jsonl": STRATIFIED}),
        ],
        "compare": [
            Case(
                ["compare", "a", "b", "--names", "[/z]", "--n-resamples", "3"],
                runs={"a": RunDir("eval"), "b": RunDir("eval")},
            ),  # pair names as markup (cli/tables.py)
            Case(
                ["compare", "a", "b", "--out", "[/x]", "--n-resamples", "3"],
                runs={"a": RunDir("eval"), "b": RunDir("eval")},
                expect=["[/x]/comparison.json"],
            ),  # `wrote {out}` as markup (compare_command.py)
            Case(
                ["compare", "a", "b", "--n-resamples", "3"],  # methods unchecked (runs/evaluation.py)
                runs={"a": RunDir("eval"), "b": METHOD_NOT_A_NAME},
            ),
        ],
        "report": [
            Case(
                ["report", "a", "--out", "[/x].html"], runs={"a": RunDir("eval")}, expect=["[/x].html"]
            ),  # `wrote {written}` as markup (report_command.py)
            Case(["report", "a"], runs={"a": METHOD_NOT_A_NAME}),  # methods unchecked (runs/evaluation.py)
            Case(["report", "a"], runs={"a": LOG_VALUE_NOT_A_NUMBER}),  # log unchecked (runs/training.py)
            Case(
                ["report", "a"], runs={"a": MODEL_NOT_AN_OBJECT}
            ),  # model section unchecked (runs/eval_run.py)
        ],
        "from-lm-eval": [
            Case(
                ["from-lm-eval", SAMPLE_NAMES[0], "--out", "[/x]", "--n-resamples", "3"],
                {SAMPLE_NAMES[0]: sample_lines(4)},
                expect=["[/x]/results.json"],
            ),  # markup (from_lm_eval_command.py)
        ],
        "eval": [
            Case(
                [*evaluate, "--out", "[/x]"], {"data.jsonl": TWO_ITEMS}, expect=["[/x]/results.json"]
            ),  # `wrote {out}` as markup (eval_command.py)
            # Refused after run.json and the lock file are written into --out (evaluation.py).
            Case([*evaluate, "--out", "out", "--num-fewshot", "3"], {"data.jsonl": TWO_ITEMS}),
            Case([*evaluate, "--out", "out", "--cloze-style", "partial"], {"data.jsonl": TWO_ITEMS}),
            # The same refusal into an --out whose parents were missing: the parents were left behind.
            Case([*evaluate, "--out", "new/deeper/out", "--num-fewshot", "3"], {"data.jsonl": TWO_ITEMS}),
        ],
    }


KNOWN = [
    pytest.param(case, id=f"{command}-{index}")
    for command, cases in _known_cases().items()
    for index, case in enumerate(cases)
]


# -- running a case ------------------------------------------------------------------------------------


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under ``root``: kind, size and modification time (directories: kind only)."""
    entries = {}
    for path in root.rglob("*"):
        stat = path.lstat()
        kind = "dir" if path.is_dir() and not path.is_symlink() else "file"
        entries[str(path.relative_to(root))] = (
            (kind, 0, 0) if kind == "dir" else (kind, stat.st_size, stat.st_mtime_ns)
        )
    return entries


def write_input(path: Path, body: Body) -> None:
    if body is MISSING:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if body == DIRECTORY:
        path.mkdir(exist_ok=True)
    else:
        assert isinstance(body, bytes)
        path.write_bytes(body)


def write_run(target: Path, spec: RunDir, bases: dict[str, Path]) -> None:
    if spec.base == "missing":
        return
    if spec.base == "empty":
        target.mkdir()
        return
    if spec.base == "file":
        target.write_text('{"tasks": {}}\n')
        return
    shutil.copytree(bases[spec.base], target)
    files = sorted(path for path in target.rglob("*") if path.is_file() and path.suffix != ".png")
    if spec.change == "set":  # a known case: payload is (file, keys to the value, new value)
        name, keys, value = spec.payload
        data = json.loads((target / name).read_text(encoding="utf-8"))
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
        (target / name).write_text(json.dumps(data), encoding="utf-8")
        return
    if spec.change == "none" or not files:
        return
    chosen = files[spec.index % len(files)]
    if spec.change == "delete":
        chosen.unlink()
    elif spec.change == "replace":
        chosen.write_bytes(spec.payload)
    elif spec.change == "truncate":
        data = chosen.read_bytes()
        chosen.write_bytes(data[: spec.index % max(len(data), 1)])
    else:
        json_files = [path for path in files if path.suffix == ".json"] or files[:0]
        if json_files:
            _change_json(json_files[spec.index % len(json_files)], spec)


def _change_json(path: Path, spec: RunDir) -> None:
    """Sets (or deletes) one value of the JSON file, picked by ``spec.index`` among all its values."""
    data = json.loads(path.read_text(encoding="utf-8"))
    slots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        children = (
            node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        )
        for key, child in list(children):
            slots.append((node, key))
            walk(child)

    walk(data)
    if not slots:
        return
    parent, key = slots[(spec.index * 7919) % len(slots)]
    if spec.change == "json-delete":
        del parent[key]
    else:
        parent[key] = spec.payload
    path.write_text(json.dumps(data), encoding="utf-8")


def run_case(case: Case, bases: dict[str, Path], *, drawn: bool = True) -> None:
    with tempfile.TemporaryDirectory() as folder, working_directory(Path(folder)):
        root = Path(folder)
        (root / "existing_dir").mkdir()
        (root / "existing_file").write_text("taken\n")
        for name, body in case.files.items():
            write_input(root / name, body)
        for name, spec in case.runs.items():
            write_run(root / name, spec, bases)
        before = snapshot(root)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(case.argv)  # an exception escaping main is the traceback a user would see
        err = stderr.getvalue()
        if drawn:
            event(f"exit code {code}")  # --hypothesis-show-statistics: how many runs got past the checks
        assert "Traceback" not in err, err
        assert code in (0, 2), err
        if code == 2:
            assert err.strip(), "exit code 2 without a reason on stderr"
            after = snapshot(root)
            changed = sorted(
                name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
            )
            assert not changed, f"exit 2 ({err.strip()}) but the run left or changed {changed}"
        else:
            for path in case.expect:
                assert (root / path).is_file(), f"exit 0 but {path} was not written"
            if "--json" in case.argv:
                json.loads(stdout.getvalue())


# -- the tests -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Base output directories that report and compare read.

    An evaluation (from lm-eval samples: no model needed), one of 40 items, a comparison of the first with
    itself, and a fine-tuning run from the golden files.
    """
    root = tmp_path_factory.mktemp("bases")
    sample_file = root / "samples_t_2026-11-23T10-00-00.1.jsonl"
    sample_file.write_bytes(sample_lines(12))
    larger_file = root / "larger" / sample_file.name
    larger_file.parent.mkdir()
    larger_file.write_bytes(sample_lines(40))
    evaluation, comparison, larger = root / "eval", root / "comparison", root / "eval-40"
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with quiet[0], quiet[1], warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        assert main(["from-lm-eval", str(sample_file), "--out", str(evaluation), "--n-resamples", "5"]) == 0
        assert main(["from-lm-eval", str(larger_file), "--out", str(larger), "--n-resamples", "5"]) == 0
        assert (
            main(
                ["compare", str(evaluation), str(evaluation), "--n-resamples", "5", "--out", str(comparison)]
            )
            == 0
        )
    return {
        "eval": evaluation,
        "eval-40": larger,  # enough items to fit a calibrator on a share of them
        "comparison": comparison,
        "training": Path(__file__).parents[1] / "golden" / "previous-version" / "finetune" / "sft",
    }


def fuzz(strategy: st.SearchStrategy[Case], examples: int, bases: dict[str, Path], *, shrink: bool) -> int:
    """Runs up to ``examples`` drawn command lines; returns how many ran (each ended in exit 0 or 2)."""
    ran = []

    @settings(
        max_examples=examples,
        deadline=None,
        # Shrinking a failing command line can take minutes; the default run reports the case as drawn.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if shrink else [])],
        database=None,  # examples run in their own working directory; a failure prints its case
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def check(case: Case) -> None:
        run_case(case, bases)
        ran.append(case)

    check()
    return len(ran)


COMMANDS: dict[str, tuple[Callable[[str], st.SearchStrategy[Case]], int]] = {
    "metrics": (lambda model: metrics_cases(), EXAMPLES),
    "report": (lambda model: report_cases(), HEAVY),
    "compare": (lambda model: compare_cases(), EXAMPLES // 2),
    "calibrate": (lambda model: calibrate_cases(), EXAMPLES // 2),
    "eval": (eval_cases, HEAVY),
    "from-lm-eval": (lambda model: from_lm_eval_cases(), EXAMPLES // 2),
}


@pytest.fixture
def offline(monkeypatch):
    """Nothing a fuzzed command line asks for may reach the network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")  # tiny inputs: degenerate resamples
@pytest.mark.parametrize(
    "command",
    # from-lm-eval writes a run per example (over 5 s): it runs with the slow tests.
    [pytest.param(c, marks=pytest.mark.slow) if c == "from-lm-eval" else c for c in COMMANDS],
)
def test_cli_fuzz(command, bases, offline, request):
    strategy, examples = COMMANDS[command]
    model = request.getfixturevalue("tiny_model_dir") if command == "eval" else ""
    fuzz(strategy(model), examples, bases, shrink=False)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
@pytest.mark.parametrize("command", COMMANDS)
def test_cli_fuzz_long(command, bases, offline, request, capsys):
    strategy, examples = COMMANDS[command]
    model = request.getfixturevalue("tiny_model_dir") if command == "eval" else ""
    ran = fuzz(strategy(model), examples * SLOW_FACTOR, bases, shrink=True)
    with capsys.disabled():  # the figure docs/reliability.md quotes
        print(f"\ncli-fuzz {command}: {ran} command lines, every one exit 0 or 2, no traceback")


@pytest.mark.filterwarnings("ignore::llmcal.errors.CalibrationWarning")
@pytest.mark.parametrize("case", KNOWN)
def test_command_lines_the_fuzzing_found(case, bases, offline, request):
    """Each once crashed (or left files behind); they run on every test run, not only when drawn again."""
    if MODEL in case.argv:
        model = request.getfixturevalue("tiny_model_dir")
        case = replace(case, argv=[model if part == MODEL else part for part in case.argv])
    run_case(case, bases, drawn=False)

"""Hostile input: every loader and the metrics CLI either read a file or raise InputError (exit code 2).

Never another exception, never a traceback, never a partial output file. The default run tries a bounded
number of examples per loader; ``python benchmarks/fuzz_loaders.py`` runs the same tests far longer.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcal import InputError
from llmcal.cli.app import main
from llmcal.finetune.alignment import read_preference_pairs
from llmcal.importers.lm_eval import read_lm_eval_samples
from llmcal.runs import RecordStore, read_predictions
from llmcal.tasks.loading import load_any_items, load_items, load_open_items

EXAMPLES = int(os.environ.get("LLMCAL_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-5, 10) | st.floats() | st.text(max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
    st.text(max_size=6), inner, max_size=4), max_leaves=12)  # fmt: skip

ITEM_KEYS = ["id", "question", "choices", "answer", "subject", "context"]
PREDICTION_KEYS = ["probs", "label", "confidence", "correct"]
SAMPLE_KEYS = ["doc_id", "arguments", "filtered_resps", "resps", "target", "filter", "acc"]
PREFERENCE_KEYS = ["prompt", "chosen", "rejected"]
RECORD_KEYS = ["task", "id", "answer", "n_options", "subject", "options", "letters"]


def objects(keys: list[str]) -> st.SearchStrategy[str]:
    """JSON lines that look like the schema: the right keys, with values of any type."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=5), values, max_size=len(keys) + 1).map(
        json.dumps
    )


def files(keys: list[str]) -> st.SearchStrategy[bytes]:
    """File contents: schema-like lines, random text, torn lines, bytes that are not UTF-8."""
    line = objects(keys) | st.text(max_size=40) | values.map(json.dumps)
    text = st.lists(line, max_size=6).map("\n".join)
    torn = st.tuples(text, st.integers(0, 200)).map(lambda pair: pair[0][: pair[1]])
    return st.one_of(text.map(str.encode), torn.map(str.encode), st.binary(max_size=80))


def csv_files(columns: list[str]) -> st.SearchStrategy[bytes]:
    header = st.lists(st.sampled_from(columns) | st.text(max_size=5), max_size=6).map(",".join)
    row = st.lists(st.text(max_size=6) | st.integers(-3, 5).map(str) | st.floats().map(str), max_size=6)
    return st.tuples(header, st.lists(row.map(",".join), max_size=5)).map(
        lambda pair: "\n".join([pair[0], *pair[1]]).encode()
    )


def only_input_errors(read: Callable[[Path], object], content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"samples_fuzz_2026-11-23T10-00-00.1{suffix}"
        path.write_bytes(content)
        with contextlib.suppress(InputError):
            read(path)


@FUZZ
@given(files(ITEM_KEYS))
def test_item_loader_jsonl(content):
    only_input_errors(load_items, content, ".jsonl")


@FUZZ
@given(csv_files(["id", "question", "choices", "answer", "choice_0", "choice_1", "subject"]))
def test_item_loader_csv(content):
    only_input_errors(load_items, content, ".csv")


@FUZZ
@given(files([*ITEM_KEYS, "answers", "aliases"]))
def test_any_and_open_item_loaders_jsonl(content):
    only_input_errors(load_any_items, content, ".jsonl")
    only_input_errors(load_open_items, content, ".jsonl")


@FUZZ
@given(csv_files(["id", "question", "choices", "answers", "answer", "choice_0", "choice_1", "subject"]))
def test_any_and_open_item_loaders_csv(content):
    only_input_errors(load_any_items, content, ".csv")
    only_input_errors(load_open_items, content, ".csv")


@FUZZ
@given(files(PREDICTION_KEYS))
def test_predictions_jsonl(content):
    only_input_errors(read_predictions, content, ".jsonl")


@FUZZ
@given(csv_files(["probs_0", "probs_1", "probs_2", "label", "confidence", "correct"]))
def test_predictions_csv(content):
    only_input_errors(read_predictions, content, ".csv")


@FUZZ
@given(files(SAMPLE_KEYS))
def test_lm_eval_samples(content):
    only_input_errors(read_lm_eval_samples, content, ".jsonl")


@FUZZ
@given(files(PREFERENCE_KEYS))
def test_preference_pairs(content):
    only_input_errors(read_preference_pairs, content, ".jsonl")


@FUZZ
@given(files(RECORD_KEYS))
def test_record_store(content):
    only_input_errors(lambda path: RecordStore(path).load(repair=False), content, ".jsonl")


@FUZZ
@given(files(PREDICTION_KEYS) | csv_files(["probs_0", "probs_1", "label", "confidence", "correct"]))
def test_metrics_cli_exits_0_or_2_and_never_writes_a_partial_result(content):
    with tempfile.TemporaryDirectory() as folder:
        suffix = ".csv" if content.startswith((b"probs", b"label", b"confidence", b"correct")) else ".jsonl"
        path, out = Path(folder) / f"predictions{suffix}", Path(folder) / "out.json"
        path.write_bytes(content)
        code = main(["metrics", str(path), "--n-resamples", "5", "--out", str(out)])
        assert code in (0, 2)
        if code == 2:
            assert not out.exists()
        else:
            assert "metrics" in json.loads(out.read_text())


@pytest.mark.parametrize(
    "content",
    [b'{"probs": [0.5, 0.5], "label": 0}\n{"probs": [NaN, 1.0], "label": 0}\n', b"\xff\xfe\x00", b"{" * 5000],
)
def test_known_nasty_inputs_are_input_errors(tmp_path, content):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError):
        read_predictions(path)


ITEM_HEADER = b"id,question,choice_0,choice_1,answer\n"


@pytest.mark.parametrize("load", [load_items, load_open_items, load_any_items])
@pytest.mark.parametrize(
    ("suffix", "content"),
    [
        (".jsonl", b""),
        (".jsonl", b"\n \n"),
        (".jsonl", b"\xef\xbb\xbf"),
        (".csv", b""),
        (".csv", b"\r\n\n"),
        (".csv", ITEM_HEADER),
        (".csv", ITEM_HEADER + b",,,,\n"),
        (".csv", ITEM_HEADER + b'q,"never closed,a,b,0\n'),
        (".csv", ITEM_HEADER + b"q,Q?,a,b,0,surplus\n"),
        (".csv", ITEM_HEADER + b"q,Q?,a,b,0\n,Q?,a,b,0\n"),
        (".csv", ITEM_HEADER.replace(b"\n", b",n\n") + b"q,Q?,a,b,0,nan\n"),
        (".csv", ITEM_HEADER + b"q,Q?,a,b,0\n" + b"q2,Q?,a,b," + b"9" * 5000 + b"\n"),
        (".csv", ITEM_HEADER + b"q,Q?,a,b," + b"x" * 200_000 + b"\n"),
        (".jsonl", b'{"question": "Q?", "choices": ["a", "b"], "answer": 1e999}\n'),
        (".jsonl", b'{"question": "Q?", "choices": ["a", "b"], "answer": "' + b"9" * 5000 + b'"}\n'),
    ],
)
def test_known_nasty_item_files_are_input_errors(tmp_path, load, suffix, content):
    path = tmp_path / f"items{suffix}"
    path.write_bytes(content)
    with pytest.raises(InputError):
        load(path)

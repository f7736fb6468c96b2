"""llmcal's scoring time next to the bare-forward limit, on the same items and model, with a breakdown.

The limit: the model's base transformer (no output layer) over the unique tokens of each item (its context
and all of its options' tokens, one row per item, length-sorted batches), the least any scorer must run.
llmcal's time: ``HFBackend.score`` on the ``sum`` requests of the same items (model load excluded,
tokenisation included). The two are timed alternately, ``--repeats`` rounds, and medians are reported,
with the limit's share of llmcal's time (1.0 means llmcal costs no more than the bare forward).

Items: the first ``--items`` of ``--task`` (default: the built-in ``facts``, short sentences the answer
completes), of ``--data FILE`` (llmcal's item schema), or ``--question-words N``: the synthetic items of
``benchmarks/scoring_vs_lm_eval.py`` with N-word questions, for long contexts.

    python benchmarks/scoring_limit.py --model smollm2-135m-instruct --threads 1 --repeats 5
    python benchmarks/scoring_limit.py --model DIR --baseline 5ea15c7   # also time hf.py at that commit

``--baseline REF`` loads ``src/llmcal/scoring/hf.py`` as it was at git ``REF`` and times that backend in
the same rounds (for before/after numbers on one machine state).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from llmcal.scoring import hf
from llmcal.scoring.requests import ScoringRequest
from llmcal.tasks.prompts import option_pairs
from llmcal.tasks.selection import select_tasks

ROOT = Path(__file__).resolve().parents[1]


def sum_requests(args: argparse.Namespace) -> list[ScoringRequest]:
    """The ``sum`` method's requests (cloze prompt, one request per item and context) for the items."""
    if args.question_words:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from scoring_vs_lm_eval import make_items

        synthetic = make_items(args.items, args.question_words, seed=0)
        return [ScoringRequest(context, tuple(" " + o for o in options)) for context, options in synthetic]
    if args.data:
        tasks = select_tasks((), args.data, limit=args.items)
    else:
        tasks = select_tasks(args.task.split(","), limit=args.items)
    requests = []
    for task in tasks:
        for item in task.items:
            groups: dict[str, list[str]] = {}
            for context, continuation in option_pairs(item, format="cloze", style=task.style):
                groups.setdefault(context, []).append(continuation)
            requests.extend(ScoringRequest(c, tuple(conts), key=item.id) for c, conts in groups.items())
    return requests


def bare_forward(backend: Any, rows: list[list[int]], batch_size: int) -> None:
    """The base transformer over ``rows`` (already length-sorted), right-padded, ``batch_size`` at a time."""
    base = backend.model.base_model
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(row) for row in batch)
            ids = torch.full((len(batch), width), backend.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for number, row in enumerate(batch):
                ids[number, : len(row)] = torch.tensor(row)
                mask[number, : len(row)] = 1
            base(input_ids=ids.to(backend.device), attention_mask=mask.to(backend.device))


class Breakdown:
    """Seconds spent in named parts of scoring: module hooks for the model, wrappers for functions."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()

    def hook_module(self, module: torch.nn.Module, name: Callable[[dict[str, Any]], str]) -> None:
        """Adds the time of each call of ``module`` to ``name(call's keyword arguments)``."""
        call: dict[str, Any] = {}

        def before(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
            call["name"], call["start"] = name(kwargs), time.perf_counter()

        def after(_module: Any, _args: Any, _kwargs: Any, _output: Any) -> None:
            self.seconds[call["name"]] += time.perf_counter() - call["start"]

        module.register_forward_pre_hook(before, with_kwargs=True)
        module.register_forward_hook(after, with_kwargs=True)

    def wrap(self, function: Callable[..., Any], name: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def instrument(backend: Any, module: Any) -> Breakdown:
    """Times the backend's parts: tokenisation, transformer passes, output layer, packing, reading scores."""
    breakdown = Breakdown()

    def transformer_part(kwargs: dict[str, Any]) -> str:
        if kwargs.get("use_cache"):
            return "transformer: context pass (kept cache)"
        return (
            "transformer: scoring pass" if kwargs.get("cache") is None else "transformer: continuation pass"
        )

    breakdown.hook_module(backend.model.base_model, transformer_part)
    breakdown.hook_module(backend.model.get_output_embeddings(), lambda _kwargs: "output layer")
    backend.encoder.encode = breakdown.wrap(backend.encoder.encode, "tokenisation")
    for name, label in (("pack_rows", "packing, masks"), ("read_scores", "log-probs, greedy, results")):
        if hasattr(module, name):  # not in the baseline's module
            setattr(module, name, breakdown.wrap(getattr(module, name), label))
    return breakdown


def load_baseline(ref: str) -> Any:
    """``llmcal.scoring.hf`` as it was at git ``ref``, imported under another name."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:src/llmcal/scoring/hf.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_hf.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_hf", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def timer(into: list[float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="what llmcal eval --model takes")
    parser.add_argument("--data", type=Path, help="items file (llmcal schema) instead of --task")
    parser.add_argument("--task", default="facts", help="built-in task name(s)")
    parser.add_argument(
        "--question-words",
        type=int,
        default=0,
        help="score benchmarks/scoring_vs_lm_eval.py's synthetic items with questions this long instead",
    )
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--strategies", default="auto", help="HFBackend strategies to time: auto, packed, cached"
    )
    parser.add_argument("--baseline", help="git ref whose hf.py is timed alongside")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    requests = sum_requests(args)
    backend = hf.HFBackend(args.model, device="cpu", dtype="float32", batch_size=args.batch_size)
    encoded = backend.encoder.encode(requests)
    rows = sorted(
        (e.context + [t for c in e.continuations for t in c] for e in encoded), key=len, reverse=True
    )
    contenders: dict[str, Callable[[], Any]] = {
        "bare forward": lambda: bare_forward(backend, rows, args.batch_size),
    }
    breakdowns = {}
    for strategy in args.strategies.split(","):
        name = "llmcal" if strategy == "auto" else f"llmcal {strategy}"
        scorer = hf.HFBackend(
            args.model,
            device="cpu",
            dtype="float32",
            batch_size=args.batch_size,
            model_object=backend.model,
            tokenizer=backend.tokenizer,
            strategy=strategy,
        )
        contenders[name] = lambda scorer=scorer: scorer.score(requests)
        breakdowns[name] = instrument(scorer, hf)
    if args.baseline:
        old = load_baseline(args.baseline)
        baseline = old.HFBackend(args.model, device="cpu", dtype="float32", batch_size=args.batch_size,
                                 model_object=backend.model, tokenizer=backend.tokenizer)  # fmt: skip
        breakdowns["baseline"] = instrument(baseline, old)
        contenders["baseline"] = lambda: baseline.score(requests)
    for run in contenders.values():  # warm-up: thread pools, allocator
        run()
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    parts: dict[str, dict[str, list[float]]] = {name: collections.defaultdict(list) for name in breakdowns}
    for round_number in range(args.repeats):
        for name, run in contenders.items():
            if name in breakdowns:
                breakdowns[name].seconds.clear()
            with timer(seconds[name]):
                run()
            if name in breakdowns:
                for part, value in breakdowns[name].seconds.items():
                    parts[name][part].append(value)
        print(f"round {round_number + 1}: " + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in seconds.items()),
              flush=True)  # fmt: skip

    tokens = sum(len(row) for row in rows)
    print(f"\n{len(requests)} requests, {tokens} unique tokens, batch size {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads, medians of {args.repeats} rounds")  # fmt: skip
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    ratios = {
        name: statistics.median(b / s for b, s in zip(seconds["bare forward"], values, strict=True))
        for name, values in seconds.items()
    }
    for name in contenders:
        print(f"  {name:<14}{medians[name]:8.2f} s   limit / time {ratios[name]:.2f}")
    for name, by_part in parts.items():
        print(f"  where {name}'s time went (median s):")
        accounted = 0.0
        for part in sorted(by_part):
            value = statistics.median(by_part[part])
            accounted += value
            print(f"    {part:<40}{value:7.2f}")
        print(f"    {'everything else (batching, Python)':<40}{medians[name] - accounted:7.2f}")
    if args.json:
        result = {
            "requests": len(requests),
            "unique_tokens": tokens,
            "batch_size": args.batch_size,
            "torch_threads": torch.get_num_threads(),
            "seconds": seconds,
            "median_seconds": medians,
            "limit_over_time": ratios,
            "breakdown_seconds": {name: dict(by_part) for name, by_part in parts.items()},
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

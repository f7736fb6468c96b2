"""Scoring throughput of llmcal vs lm-evaluation-harness on identical items, model and batch size.

Builds a small GPT-2 locally (no downloads), makes 4-option multiple-choice items with ~100-word questions
and multi-token options, then, for each item count and method, scores them with lm-eval's
``HFLM.loglikelihood`` and with llmcal's ``HFBackend.score`` in the same process, checks that the
log-likelihoods agree, and prints items/s of each and the ratio. Model loading is excluded from both
timings; tokenisation is included.

- ``sum``: the cloze prompt; every option's 3-8-word text is a continuation (lm-eval's ``acc``).
- ``choice``: the letters prompt (question, options listed ``A.``-``D.``, ``Answer:``); the continuations
  are `` A``..`` D`` (lm-eval's MMLU default format; llmcal's ``choice`` method).

    python benchmarks/scoring_vs_lm_eval.py [--items 50,200,800] [--methods sum,choice] [--batch-size 16]
    python benchmarks/scoring_vs_lm_eval.py --json results.json

"batch size" is passed unchanged to both: lm-eval batches (context + continuation) sequences, llmcal batches
items (each with all its options), which is the unit its shared-context scoring works in.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import ScoringRequest

WORDS = (
    "river",
    "mountain",
    "city",
    "king",
    "queen",
    "castle",
    "forest",
    "winter",
    "summer",
    "golden",
    "silver",
    "ancient",
    "market",
    "harbour",
    "bridge",
    "tower",
    "garden",
    "library",
    "scholar",
    "merchant",
    "soldier",
    "farmer",
    "village",
    "valley",
    "island",
    "ocean",
    "storm",
    "thunder",
    "lantern",
    "candle",
    "mirror",
    "window",
    "letter",
    "poem",
    "song",
    "dance",
    "festival",
    "journey",
    "road",
    "north",
    "south",
    "east",
    "west",
    "morning",
    "evening",
)


def make_items(
    n_items: int, question_words: int, seed: int, method: str = "sum", options: int = 4, option_words: int = 8
) -> list[tuple[str, list[str]]]:
    """``(context, continuations without their leading space)`` per item, for the method's prompt.

    Options have 3 to ``option_words`` words (fewer if ``option_words`` is below 3).
    """
    rng = random.Random(seed)
    letters = "ABCDEFGHIJKLMNOP"[:options]
    items = []
    for _ in range(n_items):
        question = " ".join(rng.choice(WORDS) for _ in range(question_words))
        texts = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(min(3, option_words), option_words)))
            for _ in range(options)
        ]
        if method == "choice":
            listed = "\n".join(f"{letter}. {text}" for letter, text in zip(letters, texts, strict=True))
            items.append((f"{question}?\n{listed}\nAnswer:", list(letters)))
        else:
            items.append((f"Question: {question}?\nAnswer:", texts))
    return items


def run_lm_eval(
    model_dir: Path, items: list[tuple[str, list[str]]], batch_size: int
) -> tuple[float, list[float]]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(model_dir), device="cpu", dtype="float32", batch_size=batch_size)
    requests = [
        Instance("loglikelihood", {}, (context, " " + option), index)
        for index, (context, options) in enumerate(items)
        for option in options
    ]
    start = time.perf_counter()
    responses = lm.loglikelihood(requests, disable_tqdm=True)
    seconds = time.perf_counter() - start
    return seconds, [float(logprob) for logprob, _ in responses]


def run_llmcal(
    model_dir: Path, items: list[tuple[str, list[str]]], batch_size: int
) -> tuple[float, list[float]]:
    backend = HFBackend(str(model_dir), device="cpu", dtype="float32", batch_size=batch_size)
    requests = [ScoringRequest(context, tuple(" " + o for o in options)) for context, options in items]
    start = time.perf_counter()
    scored = backend.score(requests)
    seconds = time.perf_counter() - start
    return seconds, [score.total for row in scored for score in row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="50,200,800", help="comma-separated item counts")
    parser.add_argument("--methods", default="sum,choice", help="sum, choice or both")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--question-words", type=int, default=100)
    parser.add_argument("--options", type=int, default=4, help="options per item")
    parser.add_argument("--option-words", type=int, default=8, help="longest option, in words (from 3)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument(
        "--vocab", type=int, default=32_000, help="model output size (padded; real LLMs have 32k-150k)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = [int(count) for count in args.items.split(",")]
    methods = [method.strip() for method in args.methods.split(",")]

    # The tiny model builder is test support (tests/tiny_gpt2.py), not part of the package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.tiny_gpt2 import build_tiny_gpt2

    corpus = [context + " " + " ".join(options) for context, options in make_items(300, 60, seed=1)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model_dir = build_tiny_gpt2(
            folder,
            corpus,
            vocab_size=1024,
            n_layer=args.layers,
            n_embd=args.width,
            n_head=4,
            n_positions=512,
            model_vocab_size=args.vocab,
        )
        # Warm-up so neither side pays one-off costs (thread pools, allocator) inside its timing.
        run_llmcal(model_dir, make_items(4, args.question_words, seed=2), args.batch_size)
        run_lm_eval(model_dir, make_items(4, args.question_words, seed=2), args.batch_size)
        for method in methods:
            for count in counts:
                items = make_items(count, args.question_words, seed=0, method=method, options=args.options,
                                   option_words=args.option_words)  # fmt: skip
                lm_eval_seconds, lm_eval_scores = run_lm_eval(model_dir, items, args.batch_size)
                llmcal_seconds, llmcal_scores = run_llmcal(model_dir, items, args.batch_size)
                difference = max(abs(a - b) for a, b in zip(lm_eval_scores, llmcal_scores, strict=True))
                rows.append({
                    "method": method,
                    "items": count,
                    "lm_eval_items_per_s": count / lm_eval_seconds,
                    "llmcal_items_per_s": count / llmcal_seconds,
                    "speedup": lm_eval_seconds / llmcal_seconds,
                    "max_abs_loglikelihood_difference": difference,
                })  # fmt: skip
                row = rows[-1]
                print(f"{method:<7}{count:>6} items x {args.options}  lm-eval "
                      f"{row['lm_eval_items_per_s']:7.1f}/s  llmcal "
                      f"{row['llmcal_items_per_s']:7.1f}/s  speedup {row['speedup']:5.2f}x  "
                      f"max |diff| {difference:.1e}", flush=True)  # fmt: skip
    result = {
        "options_per_item": args.options,
        "option_words": args.option_words,
        "question_words": args.question_words,
        "batch_size": args.batch_size,
        "model": {"layers": args.layers, "width": args.width, "vocab": args.vocab},
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

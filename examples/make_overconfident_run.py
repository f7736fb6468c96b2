"""Writes examples/overconfident_mc.jsonl: a synthetic 4-option multiple-choice run that is overconfident.

The "model" scores options with Gaussian logits, but answers are drawn from the softmax at temperature 2.5,
so its raw probabilities are sharper than its accuracy warrants (temperature scaling should find T ~ 2.5).
Regenerate with ``python examples/make_overconfident_run.py``; the output is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

N_ITEMS, N_OPTIONS, TRUE_TEMPERATURE, SEED = 1000, 4, 2.5, 2024


def main() -> None:
    rng = np.random.default_rng(SEED)
    logits = rng.normal(0.0, 3.0, size=(N_ITEMS, N_OPTIONS))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    tempered = np.exp(logits / TRUE_TEMPERATURE)
    tempered /= tempered.sum(axis=1, keepdims=True)
    labels = [int(rng.choice(N_OPTIONS, p=row)) for row in tempered]
    path = Path(__file__).with_name("overconfident_mc.jsonl")
    with path.open("w", encoding="utf-8") as handle:
        for index, (row, label) in enumerate(zip(probs, labels, strict=True)):
            record = {"id": f"q{index:04d}", "probs": [round(float(p), 6) for p in row], "label": label}
            handle.write(json.dumps(record) + "\n")
    print(f"wrote {path} ({N_ITEMS} items)")


if __name__ == "__main__":
    main()

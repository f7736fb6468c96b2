"""Sampling K answers for open-ended questions: wall time, peak memory, and the same samples by batch size.

The built-in ``facts_open`` questions are answered greedily once and then sampled ``--samples`` times each
(``HFBackend.sample``: one prompt pass per question, its KV cache copied to the samples), with the default
sampling settings (temperature 1.0, top-k 50, top-p 1.0), at each batch size of ``--batch-sizes``; the
first batch size's run is timed ``--repeats`` times (interleaved with nothing else) and the median printed.
Every batch size must give the same samples token for token. Peak memory is the process's maximum
resident set size (``getrusage``), model included.

    python benchmarks/sampling.py --model smollm2-135m-instruct [--questions 300] [--samples 10] \\
        [--batch-sizes auto,4,16] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

from llmcal.scoring.hf import HFBackend
from llmcal.scoring.requests import GenerationRequest
from llmcal.scoring.sampling import SamplingSettings
from llmcal.tasks.prompts import open_prompt
from llmcal.tasks.selection import select_tasks


def _size(text: str) -> int | str:
    return text if text == "auto" else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--batch-sizes", default="auto,4,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--json")
    args = parser.parse_args()
    items = select_tasks(["facts_open"], None, limit=args.questions)[0].items
    requests = [GenerationRequest(open_prompt(item), ("\n",), item.id) for item in items]
    settings = SamplingSettings(samples=args.samples)
    sizes = args.batch_sizes.split(",")
    first = HFBackend(args.model, device="cpu", dtype="float32", batch_size=_size(sizes[0]))
    times, tokens = [], 0
    reference = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        sampled = first.sample(requests, settings=settings, max_new_tokens=args.max_new_tokens)
        times.append(time.perf_counter() - start)
        tokens = sum(len(sample.token_ids) for samples in sampled for sample in samples)
        reference = [[sample.token_ids for sample in samples] for samples in sampled]
    same = {}
    for size in sizes[1:]:
        other = HFBackend(args.model, device="cpu", dtype="float32", batch_size=_size(size))
        again = other.sample(requests, settings=settings, max_new_tokens=args.max_new_tokens)
        same[size] = [[sample.token_ids for sample in samples] for samples in again] == reference
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "model": args.model,
        "questions": len(requests),
        "samples": args.samples,
        "batch_size": sizes[0],
        "seconds": [round(t, 1) for t in times],
        "median_seconds": round(statistics.median(times), 1),
        "sampled_tokens": tokens,
        "tokens_per_second": round(tokens / statistics.median(times)),
        "peak_rss_mib": round(peak_mib),
        "same_samples_at_batch_size": same,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()

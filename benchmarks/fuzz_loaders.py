"""A long fuzz run of every input loader and the metrics CLI (the tests in tests/test_fuzz.py, more examples).

The default test run tries 60 hostile files per loader; this runs the same properties with many more and
reports what it found: every loader must either read a file or raise InputError, and the metrics CLI must
exit 0 or 2 and never leave a partial result.

    python benchmarks/fuzz_loaders.py [--examples 5000] [--json fuzz.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="Hypothesis examples per property.")
    parser.add_argument("--json", type=Path, help="Also write the summary as JSON here.")
    args = parser.parse_args()
    environment = {**os.environ, "LLMCAL_FUZZ_EXAMPLES": str(args.examples)}
    start = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
         str(ROOT / "tests" / "test_fuzz.py")],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    summary = {
        "examples_per_property": args.examples,
        "seconds": round(elapsed, 1),
        "passed": finished.returncode == 0,
        "pytest_summary": finished.stdout.strip().splitlines()[-1] if finished.stdout.strip() else "",
    }
    print(f"{'property':<70} result")
    for line in finished.stdout.splitlines():
        if "::" in line and ("PASSED" in line or "FAILED" in line or line.startswith("tests/")):
            print(line)
    print(json.dumps(summary, indent=2))
    if not summary["passed"]:
        print(finished.stdout[-4000:], file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Run every benchmark in bench/ and print their figures (`make bench`).

    .venv/bin/python bench/run_all.py [--quick]

Each benchmark runs in its own process, one after the other, so they do not compete for
the CPUs. A benchmark that is not there yet is skipped; one that fails makes the exit status
1. `--quick` runs tiny versions, to check that they still work rather than to measure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    # file, arguments, --quick arguments
    ("bench_webhooks.py", ["--paced"], ["--calls", "5", "--turns", "10", "--rounds", "1"]),
    ("bench_nlu.py", [], ["--turns", "500"]),
    ("bench_redaction.py", [], ["--repeat", "2"]),
    ("bench_asr.py", [], ["--quick"]),
    ("bench_streams.py", [], ["--streams", "1"]),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny runs: does it still work?")
    args = parser.parse_args(argv)
    outcomes: list[tuple[str, str]] = []
    for name, full, quick in BENCHMARKS:
        script = BENCH / name
        if not script.exists():
            print(f"== {name}: not there, skipped\n", flush=True)
            outcomes.append((name, "skipped (missing)"))
            continue
        command = [sys.executable, str(script), *(quick if args.quick else full)]
        print(f"== {name} {' '.join(command[2:])}".rstrip(), flush=True)
        began = time.perf_counter()
        status = subprocess.run(command, cwd=ROOT).returncode
        spent = time.perf_counter() - began
        outcomes.append((name, f"{'ok' if status == 0 else f'FAILED ({status})'} in {spent:.0f} s"))
        print(flush=True)
    print("== summary")
    for name, outcome in outcomes:
        print(f"  {name:<20} {outcome}")
    return 1 if any(outcome.startswith("FAILED") for _, outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())

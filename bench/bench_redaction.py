"""Benchmark redaction on the labelled corpus: recall per kind, precision, time per utterance.

Run from the repository root:  .venv/bin/python bench/bench_redaction.py [--repeat 20] [-v]
Recall: a labelled finding counts as found when a finding of the same kind is aligned with it
(findings and labels matched in order of appearance). Precision: aligned findings / findings.
Time: each utterance redacted on its own, `--repeat` passes over the whole corpus, p50 and p99
in microseconds; also over the NLU paraphrases (ordinary caller turns, mostly no data).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.privacy.redaction import MARKERS, find_personal_data, redact  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "redaction_corpus.yaml"
PARAPHRASES = ROOT / "tests" / "data" / "paraphrases.yaml"


def load(path: Path = CORPUS) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def aligned(expected: list[str], found: list[str]) -> list[tuple[int, int]]:
    """The longest in-order pairing of labels and findings of the same kind (index pairs)."""
    rows, cols = len(expected), len(found)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows - 1, -1, -1):
        for j in range(cols - 1, -1, -1):
            if expected[i] == found[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs = []
    i = j = 0
    while i < rows and j < cols:
        if expected[i] == found[j]:
            pairs.append((i, j))
            i += 1
            j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def score(items: list[dict[str, Any]]) -> dict[str, Any]:
    labels: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    findings = matched = 0
    misses: list[str] = []
    false_alarms: list[str] = []
    for item in items:
        expected = list(item["expect"])
        found = [finding.kind for finding in find_personal_data(item["text"])]
        pairs = aligned(expected, found)
        labels.update(expected)
        hits.update(expected[i] for i, _ in pairs)
        findings += len(found)
        matched += len(pairs)
        if len(pairs) < len(expected):
            misses.append(f"{expected} -> {found}: {item['text']}")
        if len(pairs) < len(found):
            false_alarms.append(f"{expected} -> {found}: {item['text']}")
    return {
        "recall": {kind: hits[kind] / labels[kind] for kind in MARKERS if labels[kind]},
        "labels": dict(labels),
        "hits": dict(hits),
        "precision": matched / findings if findings else 1.0,
        "findings": findings,
        "matched": matched,
        "misses": misses,
        "false_alarms": false_alarms,
    }


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def timings_us(texts: list[str], repeat: int) -> list[float]:
    for text in texts:  # warm up: compiled patterns, phonenumbers metadata
        redact(text)
    timings = []
    for _ in range(repeat):
        for text in texts:
            started = time.perf_counter()
            redact(text)
            timings.append((time.perf_counter() - started) * 1e6)
    return sorted(timings)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=20, help="passes over the corpus")
    parser.add_argument("-v", "--verbose", action="store_true", help="list misses and alarms")
    args = parser.parse_args(argv)

    items = load(args.corpus)
    report = score(items)
    negatives = sum(1 for item in items if not item["expect"])
    print(
        f"corpus: {len(items)} utterances, {len(items) - negatives} with data, {negatives} without"
    )
    for kind, recall in report["recall"].items():
        print(
            f"  {kind:<6} recall {recall:6.1%}  ({report['hits'][kind]}/{report['labels'][kind]})"
        )
    print(
        f"  precision {report['precision']:.1%} "
        f"({report['matched']}/{report['findings']} findings match a label)"
    )
    if args.verbose:
        for line in report["misses"]:
            print("  MISS  ", line)
        for line in report["false_alarms"]:
            print("  ALARM ", line)

    texts = [item["text"] for item in items]
    corpus_times = timings_us(texts, args.repeat)
    report["corpus_us"] = {
        "p50": percentile(corpus_times, 0.5),
        "p99": percentile(corpus_times, 0.99),
        "mean": statistics.fmean(corpus_times),
        "samples": len(corpus_times),
    }
    turns = [item["text"] for item in load(PARAPHRASES)]
    turn_times = timings_us(turns, args.repeat)
    report["turns_us"] = {
        "p50": percentile(turn_times, 0.5),
        "p99": percentile(turn_times, 0.99),
        "mean": statistics.fmean(turn_times),
        "samples": len(turn_times),
    }
    for name, label, count in (
        ("corpus_us", "corpus utterances", len(texts)),
        ("turns_us", "ordinary turns (NLU paraphrases)", len(turns)),
    ):
        figures = report[name]
        print(
            f"time per utterance, {label} ({count} x {args.repeat}): "
            f"p50 {figures['p50']:.1f} µs, p99 {figures['p99']:.1f} µs, "
            f"mean {figures['mean']:.1f} µs"
        )
    return report


if __name__ == "__main__":
    main()

"""Benchmark the NLU on the bundled flow: training time, latency per utterance, accuracy.

Run from the repository root:  .venv/bin/python bench/bench_nlu.py [--turns 5000]
Latency is measured over the held-out paraphrases (tests/data/paraphrases.yaml), repeated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.dialog.parse import parse_flow  # noqa: E402
from ivr.dialog.schema import Flow  # noqa: E402
from ivr.nlu.classifier import IntentClassifier  # noqa: E402
from ivr.nlu.interpreter import Interpreter, training_examples  # noqa: E402

FLOW_FILE = ROOT / "dialogs" / "support.yaml"
PARAPHRASES = ROOT / "tests" / "data" / "paraphrases.yaml"
TRAINING_RUNS = 3


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def latencies_ms(call: Callable[[str], object], texts: list[str], turns: int) -> list[float]:
    for text in texts:  # warm caches and lazy imports first
        call(text)
    timings = []
    for turn in range(turns):
        text = texts[turn % len(texts)]
        started = time.perf_counter()
        call(text)
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


def held_out_accuracy(interpreter: Interpreter, flow: Flow, items: list[dict]) -> float:
    threshold = flow.settings.intent_confidence_min
    correct = 0
    for item in items:
        heard = interpreter.interpret(item["text"])
        if item["intent"] is None:
            correct += heard.intent is None or heard.intent_confidence < threshold
        else:
            correct += heard.intent == item["intent"] and heard.intent_confidence >= threshold
    return correct / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=5000, help="classifications to time")
    turns = parser.parse_args().turns

    flow = parse_flow(FLOW_FILE.read_text(), str(FLOW_FILE.relative_to(ROOT)))
    items = yaml.safe_load(PARAPHRASES.read_text())
    texts = [item["text"] for item in items]
    examples = training_examples(flow)

    training_seconds = []
    for _ in range(TRAINING_RUNS):
        started = time.perf_counter()
        IntentClassifier.train(examples)
        training_seconds.append(time.perf_counter() - started)

    interpreter = Interpreter(flow)
    classify = latencies_ms(interpreter.classifier.classify, texts, turns)
    interpret = latencies_ms(interpreter.interpret, texts, turns)
    accuracy = held_out_accuracy(interpreter, flow, items)

    phrases = sum(len(phrases) for phrases in examples.values())
    rows = [
        (f"training (median of {TRAINING_RUNS})", f"{statistics.median(training_seconds):.2f} s")
    ]
    for name, timings in (("classify", classify), ("interpret (rules + entities)", interpret)):
        rows.append((f"{name} p50", f"{percentile(timings, 0.50):.3f} ms"))
        rows.append((f"{name} p99", f"{percentile(timings, 0.99):.3f} ms"))
    rows.append(("timed calls each", str(turns)))
    rows.append((f"held-out accuracy ({len(items)} paraphrases)", f"{accuracy:.3f}"))

    print(f"NLU benchmark: flow {flow.name!r}, {len(examples)} intents, {phrases} example phrases")
    print(f"{'measure':<42}{'value':>12}")
    print("-" * 54)
    for label, value in rows:
        print(f"{label:<42}{value:>12}")


if __name__ == "__main__":
    main()

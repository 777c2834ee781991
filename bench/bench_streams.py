"""Benchmark of the media-stream path: concurrent simulated Twilio streams against
`ivr serve` (gunicorn gthread, PocketSphinx by default) on loopback.

    .venv/bin/python bench/bench_streams.py [--streams 1,10,20] [--engine pocketsphinx]
        [--arrivals spread|burst] [--spread-seconds 8]

Each caller opens `/voice/stream` like Twilio, waits for the disclosure and the question to
finish, then speaks espeak-ng sentences in real time (8 kHz mu-law, 20 ms frames) and waits
for each answer; one step keys an order number instead, its own (seeded in the database), so
that the answer with it is new text, synthesised on demand as a real caller's would be. The
sentences are rendered once, in this process.

So that the figures measure the server rather than the load generator, the callers run in
separate client processes (spawned, at most 5 callers each; a caller is a thread plus its
`StreamCaller`'s reader thread); each sends its figures back through a pipe and this process
adds them up. Every process timestamps with the same system-wide monotonic clock.

Arrivals (`--arrivals`):

- `spread` (the default): caller i starts at a random offset, uniform in
  [0, `--spread-seconds`) and seeded (1234) so that runs compare, as calls arrive in real life;
- `burst`: every caller starts at the same moment, the worst case where everybody finishes
  the same sentence within the same 20 ms.

Reported per concurrency level, after a warm-up of 4 callers at once:

- first audio: stream start to the first frame of the disclosure;
- turn latency: the caller's last voiced frame to the first frame of the bot's answer, minus
  the configured end-of-speech silence (what the caller waits beyond that pause); for the
  keyed step, the last key to the first frame of the answer;
- turns missed (no answer within 10 s), and callers that failed with an error;
- wall: the level's start (before the arrival offsets) to the last caller's hang-up;
- server MB: the highest proportional set size (PSS) of the server's process tree;
- audio gap max: the longest wait between two frames of one prompt, over all callers (the
  server sends 120 ms ahead, so what exceeds that is silence the caller hears mid-prompt, and a
  caller who takes it for the end of the prompt starts talking over it);
- server CPU: CPU seconds used by the whole server process tree (gunicorn master, workers and
  their children, such as the synthesis worker) divided by the wall time, in cores, and per
  second of caller audio (the four sentences, not the silence around them).

After the table, the turn latency p50/p95 of each sentence at the last level shows which
kind of turn is slow.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypedDict

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.config import DEVELOPMENT_SECRET_KEY  # noqa: E402
from ivr.storage.db import session_scope  # noqa: E402
from ivr.storage.models import Order  # noqa: E402
from ivr.streams import token  # noqa: E402
from ivr.testing.stream_caller import StreamCaller  # noqa: E402

ORDER_KEYS = "(keys its order number)"
"""The step where the caller keys a six-digit order number of its own."""
SENTENCES = ["where is my order", ORDER_KEYS, "yes", "what are your opening hours",
             "one two three four five six"]
"""The script of every call: the order number is keyed (each caller has its own, so the answer
with it is synthesised on demand); the spoken digit string at the end is a no-match there, but
the costliest utterance for the recogniser."""
FIRST_ORDER = 710000
END_OF_SPEECH_MS = 600
CALLERS_PER_PROCESS = 5
ARRIVAL_SEED = 1234
WARM_UP_CALLERS = 4
START_MARGIN = 0.1  # seconds between telling the client processes "go" and the first start

Phrase = tuple[str, bytes]  # a sentence and its 8 kHz mu-law audio


class Results(TypedDict):
    """One level's figures, in seconds (a plain dict, so that it pickles between processes)."""

    first_audio: list[float]
    turn: list[float]
    missed: list[float]
    errors: list[float]
    stalls: list[float]
    by_sentence: dict[str, list[float]]


def empty_results() -> Results:
    return {"first_audio": [], "turn": [], "missed": [], "errors": [], "stalls": [],
            "by_sentence": {}}


def merge(into: Results, part: Results) -> None:
    into["first_audio"] += part["first_audio"]
    into["turn"] += part["turn"]
    into["missed"] += part["missed"]
    into["errors"] += part["errors"]
    into["stalls"] += part["stalls"]
    for text, latencies in part["by_sentence"].items():
        into["by_sentence"].setdefault(text, []).extend(latencies)


# --- the server ----------------------------------------------------------------------------


def speech(text: str, folder: Path) -> bytes:
    wav, raw = folder / "s.wav", folder / f"{abs(hash(text))}.ulaw"
    if not raw.exists():
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text],
                       check=True)
        # Trim espeak's trailing silence so "the last voiced frame" is the last frame sent.
        subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw",
                        str(raw), "reverse", "silence", "1", "0.02", "1%", "reverse"],
                       check=True)
    return raw.read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path, engine: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "IVR_ASR": engine, "IVR_DATABASE_URL": f"sqlite:///{folder}/b.db",
           "IVR_CONFIG_DIR": str(ROOT / "config"), "IVR_DIALOGS": str(ROOT / "dialogs"),
           "IVR_PROMPTS": str(ROOT / "audio_prompts"),
           "IVR_END_OF_SPEECH_MS": str(END_OF_SPEECH_MS), "IVR_DEMO_DATA": "false",
           "IVR_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    env.pop("IVR_SECRET_KEY", None)
    process = subprocess.Popen([str(ROOT / ".venv/bin/ivr"), "serve", "--port", str(port),
                                "--workers", "2", "--threads", "64"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process, port
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def seed_orders(folder: Path, count: int) -> None:
    """Orders FIRST_ORDER, FIRST_ORDER + 1, ... (the demo orders are off), one per caller."""
    with session_scope(f"sqlite:///{folder}/b.db") as session:
        session.add_all(Order(order_number=str(FIRST_ORDER + n), status="shipped",
                              detail="shipped on Monday and should arrive by Thursday")
                        for n in range(count))


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (workers, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU time of the process tree under `pid`. Each process counts its own time and that of
    its children that have exited (and been waited for), so the total never goes down."""
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(tick) for tick in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> float:
    """Proportional set size (shared pages split between their users) of the process tree
    under `pid`, in MB: what the server really occupies, without double counting."""
    total_kb = 0
    for member in process_tree(pid):
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        total_kb += sum(int(line.split()[1]) for line in rollup.splitlines()
                        if line.startswith("Pss:"))
    return total_kb / 1024


class PeakMemory:
    """Samples `memory_mb` of a process tree every second in a thread; keeps the highest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, memory_mb(self.pid))
            if self._stop.wait(1.0):
                return


# --- one caller (in a client process) ------------------------------------------------------


def wait_quiet(call: StreamCaller, quiet: float = 0.4, limit: float = 30) -> None:
    """Keep sending silence until the bot has stopped talking for `quiet` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        call.silence(0.1)
        times = call.received.media_times
        if times and time.monotonic() - times[-1] > quiet:
            return


def say_or_key(call: StreamCaller, text: str, audio: bytes, order: str) -> float:
    """Speak the sentence (or key the order number); returns when the caller went quiet:
    the last voiced frame, or the last key."""
    if text == ORDER_KEYS:
        call.press(order[:-1])
        last_key = time.monotonic()
        call.press(order[-1])
        return last_key
    call.play(audio)
    return time.monotonic()


def longest_stall(media_times: list[float], boundaries: list[float]) -> float:
    """The longest wait between two frames of the same prompt (no mark or clear between
    them): 20 ms when the bot's audio flows evenly; the server sends 120 ms ahead, so a wait
    beyond that is a hole in what the caller hears."""
    longest, marks = 0.0, iter(sorted(boundaries))
    next_mark = next(marks, float("inf"))
    for earlier, later in itertools.pairwise(media_times):
        while next_mark < earlier:
            next_mark = next(marks, float("inf"))
        if next_mark > later:  # both frames belong to one prompt
            longest = max(longest, later - earlier)
    return longest


def one_caller(port: int, phrases: list[Phrase], order: str, results: Results) -> None:
    sid = f"CAbench{time.monotonic_ns()}{os.getpid()}{threading.get_ident()}"
    call = StreamCaller(f"ws://127.0.0.1:{port}/voice/stream", sid,
                        token.issue(DEVELOPMENT_SECRET_KEY.encode(), sid))
    call.connect()
    wait_quiet(call)
    if call.received.media_times:
        results["first_audio"].append(call.received.media_times[0] - call.started_at)
    for text, audio in phrases:
        before = len(call.received.media_times)
        quiet_at = say_or_key(call, text, audio, order)
        deadline = quiet_at + 10
        while len(call.received.media_times) == before and time.monotonic() < deadline:
            call.silence(0.02)
        if len(call.received.media_times) > before:
            reply = call.received.media_times[before]
            pause = 0.0 if text == ORDER_KEYS else END_OF_SPEECH_MS / 1000
            latency = reply - quiet_at - pause
            results["turn"].append(latency)
            results["by_sentence"].setdefault(text, []).append(latency)
        else:
            results["missed"].append(1.0)
        wait_quiet(call)
    call.hang_up()
    results["stalls"].append(longest_stall(call.received.media_times,
                                           call.received.mark_times + call.received.clears))


def caller_at(start_at: float, port: int, phrases: list[Phrase], order: str,
              results: Results) -> None:
    """Wait until `start_at` (monotonic), then call; an error is counted, not raised."""
    time.sleep(max(0.0, start_at - time.monotonic()))
    try:
        one_caller(port, phrases, order, results)
    except Exception:
        traceback.print_exc()
        results["errors"].append(1.0)


def client_process(connection: Connection, port: int, phrases: list[Phrase],
                   offsets: list[float], orders: list[str]) -> None:
    """Body of a client process: say ready, receive the common start time, run one caller
    thread per offset, and send the results back."""
    connection.send("ready")
    start: float = connection.recv()
    results = empty_results()
    threads = [threading.Thread(target=caller_at,
                                args=(start + offset, port, phrases, order, results))
               for offset, order in zip(offsets, orders, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connection.send(results)
    connection.close()


# --- one level (in this process) -----------------------------------------------------------


@dataclass
class Level:
    callers: int
    processes: int
    results: Results
    wall: float  # seconds from the first possible start to the last caller's results
    server_cpu: float  # CPU seconds of the server's process tree meanwhile
    server_mb: float  # the highest PSS of the server's process tree meanwhile


def arrival_offsets(count: int, arrivals: str, spread: float) -> list[float]:
    """When each caller starts, in seconds after the level's start."""
    if arrivals == "burst":
        return [0.0] * count
    rng = random.Random(ARRIVAL_SEED)
    return [rng.random() * spread for _ in range(count)]


def start_clients(port: int, phrases: list[Phrase], offsets: list[float], orders: list[str],
                  ) -> list[tuple[BaseProcess, Connection]]:
    """Spawn ceil(callers / CALLERS_PER_PROCESS) client processes, callers dealt round-robin."""
    context = multiprocessing.get_context("spawn")
    count = math.ceil(len(offsets) / CALLERS_PER_PROCESS)
    clients = []
    for index in range(count):
        ours, theirs = context.Pipe()
        process = context.Process(target=client_process, daemon=True,
                                  args=(theirs, port, phrases, offsets[index::count],
                                        orders[index::count]))
        process.start()
        theirs.close()  # so that our end sees EOF if the client dies
        clients.append((process, ours))
    return clients


def receive(process: BaseProcess, connection: Connection) -> Any:
    try:
        return connection.recv()
    except EOFError:
        process.join(5)
        raise SystemExit(f"client process {process.pid} died "
                         f"(exit code {process.exitcode})") from None


def run_level(server_pid: int, port: int, phrases: list[Phrase],
              offsets: list[float], orders: list[str]) -> Level:
    clients = start_clients(port, phrases, offsets, orders)
    for process, connection in clients:
        receive(process, connection)  # "ready": imports done, so starts are not delayed
    cpu_before = cpu_seconds(server_pid)
    start = time.monotonic() + START_MARGIN
    for _, connection in clients:
        connection.send(start)
    results = empty_results()
    with PeakMemory(server_pid) as memory:
        for process, connection in clients:
            merge(results, receive(process, connection))
    wall = time.monotonic() - start
    server_cpu = cpu_seconds(server_pid) - cpu_before
    for process, connection in clients:
        connection.close()
        process.join(5)
    return Level(len(offsets), len(clients), results, wall, server_cpu, memory.peak)


# --- the report ----------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] if values else 0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def print_header(opts: argparse.Namespace) -> None:
    arrivals = (f"spread over {opts.spread_seconds:g} s (seed {ARRIVAL_SEED})"
                if opts.arrivals == "spread" else "burst (all at once)")
    print(f"{opts.engine} streams on gunicorn gthread, 2 workers; end of speech "
          f"{END_OF_SPEECH_MS} ms; arrivals: {arrivals}; clients: up to "
          f"{CALLERS_PER_PROCESS} callers per process")
    print(f"{'streams':>8} {'clients':>7} {'first audio p50/max ms':>24} {'turn p50 ms':>12} "
          f"{'turn p95 ms':>12} {'missed':>7} {'wall s':>7} {'server CPU':>11} "
          f"{'CPU s per audio s':>18} {'server MB':>10} {'audio gap max ms':>17}")


def print_level(level: Level, seconds_per_caller: float) -> None:
    results = level.results
    first, turn = results["first_audio"], results["turn"]
    cores = f"{level.server_cpu / level.wall:.2f} cores"
    per_audio = level.server_cpu / (seconds_per_caller * level.callers)
    failed = f"  ({len(results['errors'])} callers failed)" if results["errors"] else ""
    print(f"{level.callers:>8} {level.processes:>7} {ms(percentile(first, 50)):>11} / "
          f"{ms(max(first, default=0)):<10} {ms(percentile(turn, 50)):>12} "
          f"{ms(percentile(turn, 95)):>12} {len(results['missed']):>7} {level.wall:>7.1f} "
          f"{cores:>11} {per_audio:>18.3f} {level.server_mb:>10.0f} "
          f"{ms(max(results['stalls'], default=0)):>17}{failed}")


def print_sentences(level: Level) -> None:
    print(f"\nturn latency by sentence at {level.callers} streams:")
    print(f"  {'sentence':<30} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for text in SENTENCES:
        latencies = level.results["by_sentence"].get(text, [])
        print(f"  {text:<30} {len(latencies):>6} {ms(percentile(latencies, 50)):>8} "
              f"{ms(percentile(latencies, 95)):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,10,20",
                        help="comma-separated concurrency levels")
    parser.add_argument("--engine", default="pocketsphinx")
    parser.add_argument("--arrivals", choices=["burst", "spread"], default="spread",
                        help="start every caller at once, or at seeded random offsets")
    parser.add_argument("--spread-seconds", type=float, default=8.0,
                        help="with --arrivals spread: offsets are uniform in [0, this)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        phrases = [(text, b"" if text == ORDER_KEYS else speech(text, folder))
                   for text in SENTENCES]
        seconds_per_caller = sum(len(audio) for _, audio in phrases) / 8000
        counts = [int(n) for n in opts.streams.split(",")]
        process, port = start_server(folder, opts.engine)
        seed_orders(folder, WARM_UP_CALLERS + sum(counts))
        orders = (str(FIRST_ORDER + n) for n in range(WARM_UP_CALLERS + sum(counts)))
        try:
            print_header(opts)
            # Warm-up, not measured: each worker's first call prepares the grammar and starts
            # its synthesis process.
            run_level(process.pid, port, phrases, [0.0] * WARM_UP_CALLERS,
                      [next(orders) for _ in range(WARM_UP_CALLERS)])
            level = None
            for count in counts:
                offsets = arrival_offsets(count, opts.arrivals, opts.spread_seconds)
                level = run_level(process.pid, port, phrases, offsets,
                                  [next(orders) for _ in range(count)])
                print_level(level, seconds_per_caller)
            if level is not None:
                print_sentences(level)
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()

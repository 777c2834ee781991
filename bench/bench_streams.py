"""Benchmark of the media-stream path: concurrent simulated Twilio streams against
`ivr serve` (gunicorn gthread, PocketSphinx by default) on loopback.

    .venv/bin/python bench/bench_streams.py [--streams 1,10,20] [--engine pocketsphinx]

Each caller opens `/voice/stream` like Twilio, waits for the disclosure and the question to
finish, then speaks espeak-ng sentences in real time (8 kHz mu-law, 20 ms frames) and waits
for the answer. Reported per concurrency level:

- first audio: stream start to the first frame of the disclosure;
- turn latency: the caller's last voiced frame to the first frame of the bot's answer, minus
  the configured end-of-speech silence (what the caller waits beyond that pause);
- server CPU per second of caller audio, and whether every turn was understood.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.config import DEVELOPMENT_SECRET_KEY  # noqa: E402
from ivr.streams import token  # noqa: E402
from ivr.streams.caller import StreamCaller  # noqa: E402

SENTENCES = ["where is my order", "one two three four five six", "yes",
             "what are your opening hours"]
END_OF_SPEECH_MS = 600


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
           "IVR_END_OF_SPEECH_MS": str(END_OF_SPEECH_MS),
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


def wait_quiet(call: StreamCaller, quiet: float = 0.4, limit: float = 30) -> None:
    """Keep sending silence until the bot has stopped talking for `quiet` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        call.silence(0.1)
        times = call.received.media_times
        if times and time.monotonic() - times[-1] > quiet:
            return


def one_caller(port: int, audio: list[bytes], results: dict[str, list[float]]) -> None:
    sid = f"CAbench{time.monotonic_ns()}{threading.get_ident()}"
    call = StreamCaller(f"ws://127.0.0.1:{port}/voice/stream", sid,
                        token.issue(DEVELOPMENT_SECRET_KEY.encode(), sid))
    call.connect()
    wait_quiet(call)
    if call.received.media_times:
        results["first_audio"].append(call.received.media_times[0] - call.started_at)
    for phrase in audio:
        call.play(phrase)
        last_voiced = time.monotonic()
        before = len(call.received.media_times)
        deadline = last_voiced + 10
        while len(call.received.media_times) == before and time.monotonic() < deadline:
            call.silence(0.02)
        if len(call.received.media_times) > before:
            reply = call.received.media_times[before]
            results["turn"].append(reply - last_voiced - END_OF_SPEECH_MS / 1000)
        else:
            results["missed"].append(1.0)
        wait_quiet(call)
    call.hang_up()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] if values else 0


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for child in [pid, *map(int, subprocess.run(["pgrep", "-P", str(pid)], text=True,
                                                capture_output=True).stdout.split())]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,10,20")
    parser.add_argument("--engine", default="pocketsphinx")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audio = [speech(text, folder) for text in SENTENCES]
        seconds_per_caller = sum(len(a) for a in audio) / 8000
        process, port = start_server(folder, opts.engine)
        try:
            print(f"{opts.engine} streams on gunicorn gthread, 2 workers; end of speech "
                  f"{END_OF_SPEECH_MS} ms")
            print(f"{'streams':>8} {'first audio p50/max ms':>24} {'turn p50 ms':>12} "
                  f"{'turn p95 ms':>12} {'missed':>7} {'CPU s per audio s':>18}")
            # Warm-up, not measured: each worker's first call prepares the grammar and starts
            # its synthesis process.
            warm: dict[str, list[float]] = {"first_audio": [], "turn": [], "missed": []}
            warmers = [threading.Thread(target=one_caller, args=(port, audio, warm))
                       for _ in range(4)]
            for thread in warmers:
                thread.start()
            for thread in warmers:
                thread.join()
            for count in (int(n) for n in opts.streams.split(",")):
                results: dict[str, list[float]] = {"first_audio": [], "turn": [], "missed": []}
                cpu_before = cpu_seconds(process.pid)
                threads = [threading.Thread(target=one_caller, args=(port, audio, results))
                           for _ in range(count)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                cpu = cpu_seconds(process.pid) - cpu_before
                first = results["first_audio"]
                print(f"{count:>8} {percentile(first, 50) * 1000:>11.0f} / "
                      f"{max(first, default=0) * 1000:<10.0f} "
                      f"{percentile(results['turn'], 50) * 1000:>12.0f} "
                      f"{percentile(results['turn'], 95) * 1000:>12.0f} "
                      f"{len(results['missed']):>7} {cpu / (seconds_per_caller * count):>18.3f}")
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()

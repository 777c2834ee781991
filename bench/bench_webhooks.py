"""Benchmark of the webhook path: simulated callers against gunicorn on loopback.

    .venv/bin/python bench/bench_webhooks.py [--calls 50 --turns 10 --workers 2 --think-ms 0
                                              --worker-class gthread --threads 32
                                              --database sqlite|postgres|URL --paced --rounds 3
                                              --actions in-process|remote --action-ms 300]
    .venv/bin/python bench/bench_webhooks.py --profile [TURNS]   # where the server time goes

Two servers run side by side under gunicorn with the same settings, by default the Procfile's
(gthread workers, 32 threads each, `--preload`), and get the same load, in alternating rounds
so that both meet the same conditions on a shared machine:

1. the baseline, `bench/baseline_app.py`: a bare Flask view answering a static `<Gather>`
   TwiML document of the IVR's size;
2. the IVR, `ivr.web:create_app()` with `--preload`, on a fresh SQLite file (or the
   database `--database` names), with the bundled `support` flow. Its custom actions (two of
   them read the database) run in-process, or with `--actions remote` on a rasa-sdk action
   server (`bench/slow_actions.py`) that answers after `--action-ms`.

Each of `--calls` callers runs in its own thread and holds one call: `/voice/incoming`, then
`--turns` turns on `/voice/turn` following SCRIPT (speech, keypad, silence, "repeat that";
the call stays with the bot). Requests are signed with Twilio's validator and serialised to
bytes before the clock starts; the baseline gets the very same bytes. Afterwards every
answer is checked (status 200, a `<Gather>`, the expected words) and the IVR's database must
hold every turn of every call, in order, with every action successful and no call handed to
a person. Figures go to stdout and to a JSON file under
`bench/results/` (gitignored). The exit status is 1 when an answer was wrong or a turn was not
stored; the timing targets are reported, not enforced (they depend on the machine).

"Turns" counts every webhook request, the call's start included. Latency is measured by the
client from connect to the last byte of the answer, so it includes queueing for a worker;
`server_ms`, which the IVR stores with each turn, is its handler's own time (without the
signature check, the commit and the TwiML rendering).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
HOST = "127.0.0.1"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_URL = "https://ivr.example.com"
ACCOUNT_SID = "AC" + "0" * 32
CALLER = "+15550100123"
IO_TIMEOUT = 60.0
START_TIMEOUT = 90.0

# What the issue asks of the IVR, measured against the baseline in the same run.
TARGET_P50_RATIO = 2.0
TARGET_P99_MS = 50.0


# The call script ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One request of a call and what a correct answer to it contains."""

    label: str
    path: str
    form: dict[str, str]
    expect: tuple[str, ...]  # lower-case phrases the spoken answer must contain
    kind: str  # the `turns.kind` the IVR stores for it
    actions: int = 0  # action rows the IVR stores after it


def _speech(text: str, expect: tuple[str, ...], actions: int = 0) -> Step:
    form = {"SpeechResult": text, "Confidence": "0.92"}
    return Step(text, "/voice/turn", form, expect, "speech", actions)


START = Step(
    "(call starts)", "/voice/incoming", {}, ("automated assistant", "how can i help"), "start"
)

SCRIPT: tuple[Step, ...] = (
    # main_menu -> ask_order_number
    _speech("where is my order", ("order number",)),
    # -> lookup_order (action) -> anything_else
    Step(
        "#123456",
        "/voice/turn",
        {"Digits": "123456"},
        ("1 2 3 4 5 6", "shipped", "anything else"),
        "digits",
        actions=1,
    ),
    _speech("yes", ("how can i help",)),  # -> main_menu
    _speech("opening hours", ("we're open", "anything else"), actions=1),  # action -> anything_else
    _speech("yes", ("how can i help",)),  # -> main_menu
    _speech("reset my password", ("password reset link",)),  # -> confirm_reset
    _speech("no", ("anything else",)),  # -> anything_else
    Step("(silence)", "/voice/turn", {}, ("didn't hear anything",), "no_input"),  # reprompt
    _speech("repeat that", ("anything else",)),  # same question again
    _speech("yes", ("how can i help",)),  # -> main_menu: the script can start over
)
"""Ten turns that start and end at the main menu, so longer calls repeat it."""


def script_for(turns: int) -> list[Step]:
    return [START] + [SCRIPT[index % len(SCRIPT)] for index in range(turns)]


def expected_kinds(steps: Sequence[Step]) -> list[str]:
    """The `turns.kind` column of a call, in `seq` order."""
    return [kind for step in steps for kind in [step.kind] + ["action"] * step.actions]


@dataclass(frozen=True)
class Request:
    """One POST, ready to send: path, body and headers, and the same as raw HTTP/1.1 bytes."""

    step: Step
    path: str
    body: bytes
    headers: dict[str, str]
    raw: bytes


@dataclass(frozen=True)
class CallPlan:
    index: int
    call_sid: str
    requests: list[Request]


def plan_calls(calls: int, turns: int, port: int) -> list[CallPlan]:
    """Every request of every call, signed and serialised before the clock starts."""
    from ivr.telephony.signature import sign

    steps = script_for(turns)
    plans = []
    for index in range(calls):
        call_sid = "CA" + uuid.uuid4().hex
        requests = []
        for step in steps:
            form = {
                "CallSid": call_sid,
                "AccountSid": ACCOUNT_SID,
                "From": CALLER,
                "To": "+15005550006",
                "CallStatus": "in-progress",
                "Direction": "inbound",
                **step.form,
            }
            body = urlencode(form).encode()
            headers = {
                "Host": f"{HOST}:{port}",
                "User-Agent": "TwilioProxy/1.1",
                "Accept": "*/*",
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + step.path, form),
            }
            head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            raw = (
                f"POST {step.path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            requests.append(Request(step, step.path, body, headers, raw))
        plans.append(CallPlan(index, call_sid, requests))
    return plans


# HTTP clients -------------------------------------------------------------------------------


class RawClient:
    """HTTP/1.1 over a plain socket, sending the prepared bytes: the least client CPU.

    Keeps the connection when the server does (gunicorn's sync workers close it after every
    response, so each request then opens a new one, as Twilio's would).
    """

    def __init__(self, port: int):
        self.address = (HOST, port)
        self.sock: socket.socket | None = None

    def post(self, request: Request) -> tuple[int, bytes]:
        sock = self.sock
        if sock is not None and _dropped(sock):
            self.close()
            sock = None
        if sock is None:
            sock = socket.create_connection(self.address, timeout=IO_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
        try:
            sock.sendall(request.raw)
            status, body, keep = _read_response(sock)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return status, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _dropped(sock: socket.socket) -> bool:
    """Whether the server closed a kept-alive connection (or sent something unasked)."""
    sock.settimeout(0)  # with a timeout, Python would wait for data before recv()
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False  # nothing to read: still open
    except OSError:
        return True
    finally:
        sock.settimeout(IO_TIMEOUT)
    return True


def _read_response(sock: socket.socket) -> tuple[int, bytes, bool]:
    buffer = bytearray()
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before answering")
        buffer += chunk
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ")[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked answers are not supported by this client")
    body = buffer[end + 4 :]
    if "content-length" not in headers:
        while chunk := sock.recv(65536):
            body += chunk
        return int(status), bytes(body), False
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-answer")
        body += chunk
    keep = version == "HTTP/1.1" and headers.get("connection") != "close"
    return int(status), bytes(body[:length]), keep


class StdlibClient:
    """`http.client.HTTPConnection`: reconnects by itself when the server closes."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection(HOST, port, timeout=IO_TIMEOUT)

    def post(self, request: Request) -> tuple[int, bytes]:
        headers = {k: v for k, v in request.headers.items() if k != "Host"}
        self.connection.request("POST", request.path, body=request.body, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


class RequestsClient:
    """A keep-alive `requests.Session`, as `ivr.testing.simulated_call.http_post` uses."""

    def __init__(self, port: int):
        import requests

        self.base = f"http://{HOST}:{port}"
        self.session = requests.Session()

    def post(self, request: Request) -> tuple[int, bytes]:
        headers = {k: v for k, v in request.headers.items() if k != "Host"}
        response = self.session.post(
            self.base + request.path, data=request.body, headers=headers, timeout=IO_TIMEOUT
        )
        return response.status_code, response.content

    def close(self) -> None:
        self.session.close()


CLIENTS: dict[str, Callable[[int], Any]] = {
    "raw": RawClient,
    "http.client": StdlibClient,
    "requests": RequestsClient,
}


# The load generator -------------------------------------------------------------------------


@dataclass
class Sample:
    latency_ms: float
    status: int
    body: bytes
    error: str | None


@dataclass
class Drive:
    """What one load run measured, before the answers are checked."""

    samples: list[list[Sample]]
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float | None
    machine_busy: float | None = None  # share of all CPUs busy during the run, any process


def drive(
    port: int,
    plans: list[CallPlan],
    *,
    client: str,
    think_ms: float,
    seed: int,
    server_pid: int | None = None,
) -> Drive:
    """All callers at once, one thread and one connection each, until every call is done."""
    make_client = CLIENTS[client]
    results: list[list[Sample]] = [[] for _ in plans]
    ready = threading.Barrier(len(plans) + 1)
    think = think_ms / 1000

    def caller(plan: CallPlan) -> None:
        connection = make_client(port)
        rng = random.Random(seed * 100_003 + plan.index)
        samples = results[plan.index]
        ready.wait()
        if think:
            time.sleep(rng.uniform(0, think))  # real calls do not all start in the same ms
        for number, request in enumerate(plan.requests):
            if number and think:
                time.sleep(think * rng.uniform(0.5, 1.5))
            began = time.perf_counter_ns()
            try:
                status, body = connection.post(request)
                error = None
            except Exception as exc:  # counted, reported, never raised
                status, body, error = 0, b"", f"{type(exc).__name__}: {exc}"
            samples.append(Sample((time.perf_counter_ns() - began) / 1e6, status, body, error))
        connection.close()

    threads = [threading.Thread(target=caller, args=(plan,), daemon=True) for plan in plans]
    for thread in threads:
        thread.start()
    server_before = _process_tree_cpu(server_pid)
    machine_before = _machine_cpu()
    cpu_before = time.process_time()
    ready.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    client_cpu = time.process_time() - cpu_before
    server_after = _process_tree_cpu(server_pid)
    machine_after = _machine_cpu()
    server_cpu = (
        server_after - server_before
        if server_before is not None and server_after is not None
        else None
    )
    busy = None
    if machine_before and machine_after and machine_after[1] > machine_before[1]:
        busy = (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1])
    return Drive(results, wall, client_cpu, server_cpu, busy)


def _machine_cpu() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks[:8]) - idle, sum(ticks[:8])


def _process_tree_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of a process and its children (Linux /proc), or None."""
    if pid is None or not Path("/proc/self/stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# Checking and summarising -------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which pct % of the samples lie)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def distribution(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }


def check_answer(sample: Sample, step: Step, *, ivr: bool) -> str | None:
    """Why this answer is wrong, or None. The baseline only has to answer a <Gather>."""
    from ivr.testing.simulated_call import parse_twiml

    if sample.error:
        return sample.error
    if sample.status != 200:
        return f"HTTP {sample.status}"
    try:
        heard = parse_twiml(sample.status, sample.body.decode())
    except Exception as exc:
        return f"not TwiML ({type(exc).__name__})"
    if not heard.listening:
        return "no <Gather>"
    if not ivr:
        return None
    if heard.dial_target or heard.recording or heard.hangup:
        return "the call left the bot"
    text = heard.text.lower()
    missing = [phrase for phrase in step.expect if phrase not in text]
    return f"missing {missing} in {heard.text[:120]!r}" if missing else None


def summarise(name: str, plans: list[CallPlan], result: Drive, *, ivr: bool) -> dict[str, Any]:
    latencies: list[float] = []
    by_step: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for plan, samples in zip(plans, result.samples, strict=True):
        for request, sample in zip(plan.requests, samples, strict=True):
            latencies.append(sample.latency_ms)
            by_step.setdefault(request.step.label, []).append(sample.latency_ms)
            problem = check_answer(sample, request.step, ivr=ivr)
            if problem:
                key = f"{request.step.label}: {problem}"
                errors[key] = errors.get(key, 0) + 1
    count = len(latencies)
    return {
        "server": name,
        "requests": count,
        "errors": sum(errors.values()),
        "error_kinds": dict(sorted(errors.items(), key=lambda item: -item[1])[:10]),
        "wall_s": result.wall_s,
        "turns_per_s": count / result.wall_s if result.wall_s else math.nan,
        "latency_ms": distribution(latencies),
        "latency_p50_by_step_ms": {
            label: percentile(values, 50) for label, values in by_step.items()
        },
        "client_cpu_s": result.client_cpu_s,
        "client_cpu_us_per_turn": result.client_cpu_s / count * 1e6 if count else math.nan,
        "server_cpu_s": result.server_cpu_s,
        "server_cpu_ms_per_turn": (
            result.server_cpu_s / count * 1e3 if result.server_cpu_s is not None and count else None
        ),
        "machine_busy_pct": None if result.machine_busy is None else 100 * result.machine_busy,
        "other_processes_cpu_pct": _others(result),
    }


def _others(result: Drive) -> float | None:
    """Share of the machine's CPUs used by neither the client nor the gunicorn server: a
    database server, or other people's work on a shared machine (which skews the figures)."""
    if result.machine_busy is None or result.server_cpu_s is None or not result.wall_s:
        return None
    cpus = os.cpu_count() or 1
    ours = (result.server_cpu_s + result.client_cpu_s) / result.wall_s / cpus
    return max(0.0, 100 * (result.machine_busy - ours))


def check_storage(database_url: str, plans: list[CallPlan]) -> dict[str, Any]:
    """Every call and turn in the database, in order, and the `server_ms` of each turn."""
    from sqlalchemy import func, select

    from ivr.storage.db import engine_for, session_scope
    from ivr.storage.models import Call, Transfer, Turn

    kinds: dict[str, list[str]] = {plan.call_sid: [] for plan in plans}
    server_ms: list[float] = []
    transfers = 0
    actions_failed = 0
    sids = list(kinds)
    with session_scope(database_url) as session:
        for chunk in range(0, len(sids), 500):
            batch = sids[chunk : chunk + 500]
            rows = session.execute(
                select(Call.call_sid, Turn.kind, Turn.server_ms, Turn.action_ok)
                .join(Turn, Turn.call_id == Call.id)
                .where(Call.call_sid.in_(batch))
                .order_by(Call.call_sid, Turn.seq)
            )
            for call_sid, kind, spent, action_ok in rows:
                kinds[call_sid].append(kind)
                if kind != "action" and spent is not None:
                    server_ms.append(spent)
                if kind == "action" and not action_ok:
                    actions_failed += 1
            transfers += (
                session.scalar(
                    select(func.count())
                    .select_from(Transfer)
                    .join(Call)
                    .where(Call.call_sid.in_(batch))
                )
                or 0
            )
    engine_for(database_url).dispose()
    expected = {plan.call_sid: expected_kinds([r.step for r in plan.requests]) for plan in plans}
    stored = sum(kind != "action" for seq in kinds.values() for kind in seq)
    return {
        "turns_sent": sum(len(plan.requests) for plan in plans),
        "turns_stored": stored,
        "action_rows": sum(kind == "action" for seq in kinds.values() for kind in seq),
        "action_rows_expected": sum(kind == "action" for seq in expected.values() for kind in seq),
        "actions_failed": actions_failed,
        "calls_missing": sum(not seq for seq in kinds.values()),
        "calls_out_of_order": sum(kinds[sid] != expected[sid] for sid in kinds if kinds[sid]),
        "transfers": transfers,
        "every_turn_stored": all(kinds[sid] == expected[sid] for sid in kinds),
        "server_ms": distribution(server_ms),
        "server_ms_samples": len(server_ms),
    }


# Servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """This process's environment without any IVR or Twilio setting of the developer's."""
    return {
        key: value for key, value in os.environ.items() if not key.startswith(("IVR_", "TWILIO_"))
    }


def ivr_environment(database_url: str) -> dict[str, str]:
    return {
        **clean_environment(),
        "IVR_DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_PUBLIC_URL": PUBLIC_URL,
        "IVR_CONFIG_DIR": str(ROOT / "config"),
        "IVR_DIALOGS": str(ROOT / "dialogs"),
        "IVR_SECRET_KEY": "bench-pseudonym-key",
        # <Say> answers, so that every answer's words can be checked (with <Play> they are
        # audio URLs); the prompt lookup that <Play> adds is not measured here.
        "IVR_TTS": "twilio",
    }


def _venv_tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed next to {sys.executable} nor on PATH")
    return found


@dataclass
class Server:
    """gunicorn on a free loopback port: gthread workers as in the Procfile, or sync ones."""

    name: str
    app: str
    env: dict[str, str]
    workers: int
    log_path: Path
    extra: list[str] = field(default_factory=list)
    worker_class: str = "gthread"
    threads: int = 32
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[int], bool]) -> None:
        self.port = free_port()
        command = [
            _venv_tool("gunicorn"),
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            *(["--threads", str(self.threads)] if self.worker_class == "gthread" else []),
            "--bind",
            f"{HOST}:{self.port}",
            "--timeout",
            "60",
            "--log-level",
            "warning",
            *self.extra,
            self.app,
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} server exited ({self.process.returncode}):\n" + self.log_tail()
                )
            with contextlib.suppress(OSError, ValueError):
                if ready(self.port):
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} server did not answer in {START_TIMEOUT:.0f} s:"
                    f"\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop of its workers
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def running(server: Server, ready: Callable[[int], bool]) -> Iterator[Server]:
    try:
        server.start(ready)
        yield server
    finally:
        server.stop()


def _answers(port: int, method: str, path: str, *, quiet: bool = False) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request(method, path, body=b"" if method == "POST" else None)
        return connection.getresponse().status == 200
    except OSError:
        if quiet:
            return False
        raise
    finally:
        connection.close()


# One benchmark ------------------------------------------------------------------------------


@dataclass
class Options:
    calls: int = 50
    turns: int = 10
    workers: int = 2
    think_ms: float = 0.0
    paced: bool = False
    database: str = "sqlite"
    client: str = "raw"
    warmup_calls: int | None = None
    rounds: int = 3
    seed: int = 1
    results_dir: Path = RESULTS_DIR
    save: bool = True
    profile: int | None = None
    worker_class: str = "gthread"
    threads: int = 32
    actions: str = "in-process"
    action_ms: float = 300.0


def warm_up(server: Server, opts: Options) -> None:
    """Calls that are not measured: first requests of each worker, SQLAlchemy's caches."""
    calls = opts.warmup_calls if opts.warmup_calls is not None else 2 * opts.workers
    if calls:
        plans = plan_calls(calls, opts.turns, server.port)
        drive(server.port, plans, client=opts.client, think_ms=0, seed=opts.seed)


def load_rounds(
    servers: Sequence[Server], opts: Options, think_ms: float
) -> list[tuple[list[CallPlan], Drive]]:
    """`opts.rounds` rounds, each server in turn within a round, so that both meet the same
    conditions on a shared machine; the rounds of one server are pooled."""
    pooled: list[tuple[list[CallPlan], list[Drive]]] = [([], []) for _ in servers]
    for round_number in range(opts.rounds):
        for (plans, results), server in zip(pooled, servers, strict=True):
            new = plan_calls(opts.calls, opts.turns, server.port)
            pid = server.process.pid if server.process else None
            seed = opts.seed + round_number
            results.append(
                drive(
                    server.port,
                    new,
                    client=opts.client,
                    think_ms=think_ms,
                    seed=seed,
                    server_pid=pid,
                )
            )
            plans += new
    return [(plans, _pool(results)) for plans, results in pooled]


def _pool(results: list[Drive]) -> Drive:
    wall = sum(result.wall_s for result in results)
    server = [result.server_cpu_s for result in results]
    busy = [result.machine_busy for result in results]
    return Drive(
        samples=[samples for result in results for samples in result.samples],
        wall_s=wall,
        client_cpu_s=sum(result.client_cpu_s for result in results),
        server_cpu_s=None if None in server else sum(server),  # type: ignore[arg-type]
        machine_busy=None
        if None in busy or not wall
        else sum(b * r.wall_s for b, r in zip(busy, results, strict=True)) / wall,  # type: ignore[operator]
    )


DATABASE_LABELS = {
    "sqlite": "SQLite (fresh temporary file)",
    "postgres": "PostgreSQL (throwaway local cluster, fsync off)",
}


@contextlib.contextmanager
def database_for(choice: str, folder: Path) -> Iterator[str]:
    """The database URL for `--database`: a new SQLite file, a throwaway PostgreSQL cluster
    (the one the tests use, from tests/pg_fixture.py), or the URL given."""
    if choice == "sqlite":
        yield f"sqlite:///{folder / 'ivr.sqlite3'}"
        return
    if choice != "postgres":
        yield choice
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_fixture import Cluster, admin_engine, find_bindir
    from sqlalchemy import text

    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found: run `make system-deps`")
    cluster = Cluster(bindir)
    try:
        cluster.start()
        with admin_engine(cluster.url("postgres")).connect() as connection:
            connection.execute(text("CREATE DATABASE ivr_bench"))
        yield cluster.url("ivr_bench")
    finally:
        cluster.stop()


@contextlib.contextmanager
def action_server(opts: Options, ivr_env: dict[str, str], folder: Path) -> Iterator[None]:
    """With `--actions remote`: a rasa-sdk action server answering after `--action-ms`, and
    a copy of the dialogs whose actions it serves (`ivr_env` is pointed at the copy)."""
    if opts.actions != "remote":
        yield
        return
    port = free_port()
    dialogs = folder / "dialogs"
    shutil.copytree(ROOT / "dialogs", dialogs)
    for flow in dialogs.glob("*.yaml"):
        text = flow.read_text()
        remote = text.replace(
            "actions:\n  module: ivr.actions.demo\n",
            f"actions:\n  url: http://{HOST}:{port}/webhook\n",
        )
        if remote == text:
            raise RuntimeError(f"{flow.name}: no `actions: module: ivr.actions.demo` to replace")
        flow.write_text(remote)
    ivr_env["IVR_DIALOGS"] = str(dialogs)
    env = {
        **ivr_env,
        "BENCH_ACTION_MS": f"{opts.action_ms:g}",
        "PYTHONPATH": str(ROOT / "bench"),
    }
    command = [sys.executable, "-m", "rasa_sdk", "--actions", "slow_actions", "--port", str(port)]
    log_path = folder / "actions.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port, "GET", "/health", quiet=True):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the action server did not start:\n"
                                   + log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_benchmark(opts: Options) -> dict[str, Any]:
    think_values = [opts.think_ms]
    if opts.paced:
        think_values = [0.0, opts.think_ms or 1000.0]
    with (
        tempfile.TemporaryDirectory(prefix="ivr-bench-") as scratch,
        database_for(opts.database, Path(scratch)) as database_url,
    ):
        folder = Path(scratch)
        ivr_env = {**ivr_environment(database_url), "IVR_THREADS": str(opts.threads)}
        if not database_url.startswith("sqlite"):
            subprocess.run(
                [_venv_tool("ivr"), "db", "upgrade"],
                cwd=ROOT,
                env=ivr_env,
                check=True,
                capture_output=True,
            )
        gunicorn = {"worker_class": opts.worker_class, "threads": opts.threads}
        baseline = Server(
            "baseline",
            "baseline_app:app",
            clean_environment(),
            opts.workers,
            folder / "baseline.log",
            ["--pythonpath", str(ROOT / "bench"), "--preload"],
            **gunicorn,
        )
        server = Server(
            "ivr",
            "ivr.web:create_app()",
            ivr_env,
            opts.workers,
            folder / "ivr.log",
            ["--preload"],
            **gunicorn,
        )
        runs = []
        with (
            action_server(opts, ivr_env, folder),
            running(baseline, lambda port: _answers(port, "POST", "/voice/turn")),
            running(server, lambda port: _answers(port, "GET", "/healthz")),
        ):
            warm_up(baseline, opts)
            warm_up(server, opts)
            for think_ms in think_values:
                (base_plans, base), (ivr_plans, ivr) = load_rounds(
                    [baseline, server], opts, think_ms
                )
                base_summary = summarise("baseline", base_plans, base, ivr=False)
                ivr_summary = summarise("ivr", ivr_plans, ivr, ivr=True)
                ivr_summary["storage"] = check_storage(database_url, ivr_plans)
                runs.append(_compare(base_summary, ivr_summary, think_ms, opts))
            log_tail = server.log_tail(10)
    report = {
        "benchmark": "webhooks",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "options": {
            "calls": opts.calls,
            "turns": opts.turns,
            "workers": opts.workers,
            "worker_class": opts.worker_class,
            "threads": opts.threads if opts.worker_class == "gthread" else 1,
            "actions": opts.actions,
            "action_ms": opts.action_ms if opts.actions == "remote" else None,
            "rounds": opts.rounds,
            "client": opts.client,
            "database": DATABASE_LABELS.get(opts.database) or _redact(opts.database),
        },
        "runs": runs,
        "ivr_log_tail": log_tail,
    }
    return report


def _compare(
    base: dict[str, Any], ivr: dict[str, Any], think_ms: float, opts: Options
) -> dict[str, Any]:
    ratio = ivr["latency_ms"]["p50"] / base["latency_ms"]["p50"]
    storage = ivr["storage"]
    p99_target = TARGET_P99_MS + (opts.action_ms if opts.actions == "remote" else 0)
    targets = {
        "p50 within 2x of the baseline": ratio <= TARGET_P50_RATIO,
        f"p99 under {p99_target:.0f} ms": ivr["latency_ms"]["p99"] < p99_target,
        "zero errors": base["errors"] == 0 and ivr["errors"] == 0,
        "every turn stored": storage["every_turn_stored"],
        "zero failed actions": storage["actions_failed"] == 0,
        "zero transfers": storage["transfers"] == 0,
    }
    if opts.actions == "remote":
        del targets["p50 within 2x of the baseline"]  # the baseline waits for no action
    return {
        "think_ms": think_ms,
        "baseline": base,
        "ivr": ivr,
        "p50_ratio": ratio,
        "targets": targets,
    }


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


# In-process profile -------------------------------------------------------------------------


class PhaseTimer:
    """Wall time spent in chosen functions, by wrapping them (the server's main thread only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._patches: list[tuple[Any, str, Any]] = []
        self._main = threading.get_ident()

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)
        self.seconds.setdefault(label, 0.0)
        seconds, main = self.seconds, self._main

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != main:
                return original(*args, **kwargs)
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - began

        self._patches.append((owner, attribute, original))
        setattr(owner, attribute, timed)

    def wrap_item(self, items: list[Any], index: int, label: str) -> None:
        self.wrap(_ListSlot(items, index), "value", label)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._patches):
            setattr(owner, attribute, original)
        self._patches.clear()


class _ListSlot:
    """A list element as an attribute, so that PhaseTimer can wrap a registered hook."""

    def __init__(self, items: list[Any], index: int) -> None:
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_index", index)

    def __getattr__(self, name: str) -> Any:
        return self._items[self._index]

    def __setattr__(self, name: str, value: Any) -> None:
        self._items[self._index] = value


PHASES = (
    # label, nested in the label above it when indented
    "request (WSGI app)",
    "  signature check",
    "    form parsing (Werkzeug)",
    "    RequestValidator.validate",
    "  CallService._handle",
    "    load the call (SELECT)",
    "    NLU interpret",
    "    dialog engine step",
    "    actions (rasa-sdk on the loop thread)",
    "    session commit (flush + COMMIT)",
    "  render TwiML",
)


def profile(turns: int, top: int = 25) -> str:
    """One process: `create_app()`, the Flask test client and SimulatedCall running SCRIPT.

    First a timed pass with PhaseTimer (little overhead), then a cProfile pass of the
    server side only (the WSGI call; the client's signing and parsing are left out).
    """
    import cProfile
    import pstats

    import flask
    from sqlalchemy.orm import Session

    import ivr.app.calls
    import ivr.web.voice
    from ivr.actions.runner import ActionRunner
    from ivr.config import load_settings
    from ivr.nlu.interpreter import Interpreter
    from ivr.storage import repository
    from ivr.testing.simulated_call import SimulatedCall, flask_post
    from ivr.web import create_app

    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ivr-profile-") as scratch:
        environ = ivr_environment(f"sqlite:///{Path(scratch) / 'ivr.sqlite3'}")
        app = create_app(load_settings(config_dir=ROOT / "config", environ=environ))
        server = app.wsgi_app
        profiler = cProfile.Profile()
        profiling = False
        served = {"requests": 0}

        def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            served["requests"] += 1
            if profiling:
                profiler.enable()
            try:
                return list(server(environ, start_response))
            finally:
                if profiling:
                    profiler.disable()

        app.wsgi_app = wsgi  # type: ignore[method-assign]
        post = flask_post(app.test_client())
        per_call = len(SCRIPT) + 1

        def calls(count: int) -> None:
            for _ in range(count):
                call = SimulatedCall(post, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
                for step in script_for(len(SCRIPT)):
                    heard = call.send(step.path, step.form)
                    if heard.status != 200 or not heard.listening:
                        raise RuntimeError(f"{step.label}: unexpected answer {heard.twiml}")

        count = max(1, math.ceil(turns / per_call))
        calls(3)  # warm up: first action, first classifier call, SQLAlchemy's caches
        timer = PhaseTimer()
        timer.wrap(app, "wsgi_app", PHASES[0])
        timer.wrap_item(app.before_request_funcs["voice"], 0, PHASES[1])
        timer.wrap(flask.Request, "_load_form_data", PHASES[2])
        timer.wrap(ivr.web.voice, "is_signed_by_twilio", PHASES[3])
        timer.wrap(ivr.app.calls.CallService, "_handle", PHASES[4])
        timer.wrap(repository, "call_for_update", PHASES[5])
        timer.wrap(Interpreter, "interpret", PHASES[6])
        timer.wrap(ivr.app.calls, "step", PHASES[7])
        timer.wrap(ActionRunner, "run", PHASES[8])
        timer.wrap(Session, "commit", PHASES[9])
        timer.wrap(ivr.web.voice, "_render", PHASES[10])
        served["requests"] = 0
        try:
            calls(count)
        finally:
            timer.restore()
        requests = served["requests"]
        total = timer.seconds[PHASES[0]]
        lines.append(
            f"In-process profile: {count} calls x {per_call} requests = {requests} "
            f"webhook requests (Flask test client, SQLite file, no HTTP server)"
        )
        seconds = dict(timer.seconds)
        rest, outside = (
            "    rest of _handle (ORM objects, state JSON)",
            "  Flask + Werkzeug around it",
        )
        seconds[rest] = seconds[PHASES[4]] - sum(seconds[label] for label in PHASES[5:10])
        seconds[outside] = total - sum(
            seconds[label] for label in PHASES if label.startswith("  ") and label[2] != " "
        )
        lines.append(f"  {'phase (wall time, main thread)':<46} {'ms/turn':>8} {'share':>6}")
        lines += [
            f"  {label:<46} {seconds[label] / requests * 1000:>8.3f} "
            f"{100 * seconds[label] / total:>5.0f}%"
            for label in [*PHASES[:10], rest, PHASES[10], outside]
        ]

        profiling = True
        served["requests"] = 0
        calls(count)
        profiling = False
        stats = pstats.Stats(profiler)
    lines += [
        "",
        _top_functions(stats, served["requests"], top),
        "",
        _by_package(stats, served["requests"]),
    ]
    return "\n".join(lines)


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    else:
        with contextlib.suppress(ValueError):
            filename = str(Path(filename).relative_to(ROOT))
    return f"{filename}:{line}({name})"


def _top_functions(stats: Any, requests: int, top: int) -> str:
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][3])  # cumulative
    lines = [
        f"cProfile, server side, {requests} requests (cProfile inflates call-heavy code; "
        "main thread only): top by cumulative time",
        f"  {'cum ms/turn':>11} {'own ms/turn':>11} {'calls/turn':>10}  function",
    ]
    shown = 0
    for key, (_, calls, own, cumulative, _) in rows:
        where = _where(key)
        if shown >= top:
            break
        if not (
            "ivr/" in where
            or "sqlalchemy/orm/session.py" in where
            or "sqlite3" in where
            or "request_validator" in where
            or "twiml/__init__" in where
            or "_load_form_data" in where
        ):
            continue
        shown += 1
        lines.append(
            f"  {cumulative / requests * 1000:>11.3f} {own / requests * 1000:>11.3f} "
            f"{calls / requests:>10.1f}  {where}"
        )
    return "\n".join(lines)


def _by_package(stats: Any, requests: int) -> str:
    own: dict[str, float] = {}
    for (filename, _, name), (_, _, spent, _, _) in stats.stats.items():
        if filename == "~":
            package = "C " + name.removeprefix("<").removesuffix(">")
        elif "/site-packages/" in filename:
            package = filename.split("/site-packages/", 1)[1].split("/", 1)[0]
        elif str(ROOT / "ivr") in filename:
            parts = Path(filename).relative_to(ROOT).with_suffix("").parts
            package = ".".join(parts[:2])
        else:
            package = "stdlib " + Path(filename).stem
        own[package] = own.get(package, 0.0) + spent
    total = sum(own.values())
    lines = ["cProfile own time by package (C functions one by one), server side:"]
    for package, spent in sorted(own.items(), key=lambda item: -item[1])[:15]:
        lines.append(
            f"  {spent / requests * 1000:>7.3f} ms/turn {100 * spent / total:>4.0f}%  {package}"
        )
    return "\n".join(lines)


# Output -------------------------------------------------------------------------------------


def format_report(report: dict[str, Any]) -> str:
    options = report["options"]
    lines = [
        f"Webhook benchmark: {options['calls']} concurrent calls x {options['turns']} turns "
        f"(+ start) x {options['rounds']} rounds per server, "
        f"gunicorn {options['workers']} {options['worker_class']} workers"
        + (f" x {options['threads']} threads" if options["worker_class"] == "gthread" else "")
        + f" on {HOST}, actions {options['actions']}"
        + (f" ({options['action_ms']:g} ms)" if options.get("action_ms") else "")
        + ", "
        f"database {options['database']}, client {options['client']}, "
        f"{report['machine']['cpus']} CPUs, Python {report['machine']['python']}",
    ]
    for run in report["runs"]:
        base, ivr, storage = run["baseline"], run["ivr"], run["ivr"]["storage"]
        think = run["think_ms"]
        lines += [
            "",
            "saturation (no think time)"
            if not think
            else f"paced (callers think {think:.0f} ms +-50% between turns)",
        ]
        rows: list[tuple[str, str, str]] = [
            ("turns (requests)", f"{base['requests']}", f"{ivr['requests']}"),
            ("errors", f"{base['errors']}", f"{ivr['errors']}"),
            ("wall time s", f"{base['wall_s']:.2f}", f"{ivr['wall_s']:.2f}"),
            ("turns/s", f"{base['turns_per_s']:.0f}", f"{ivr['turns_per_s']:.0f}"),
        ]
        for key in ("p50", "p90", "p99", "max", "mean"):
            rows.append(
                (
                    f"latency {key} ms",
                    f"{base['latency_ms'][key]:.1f}",
                    f"{ivr['latency_ms'][key]:.1f}",
                )
            )
        rows += [
            (
                "server CPU ms/turn",
                _ms(base["server_cpu_ms_per_turn"]),
                _ms(ivr["server_cpu_ms_per_turn"]),
            ),
            (
                "client CPU us/turn",
                f"{base['client_cpu_us_per_turn']:.0f}",
                f"{ivr['client_cpu_us_per_turn']:.0f}",
            ),
            (
                "client CPU % of a core",
                f"{100 * base['client_cpu_s'] / base['wall_s']:.0f}",
                f"{100 * ivr['client_cpu_s'] / ivr['wall_s']:.0f}",
            ),
            ("machine busy %", _pct(base["machine_busy_pct"]), _pct(ivr["machine_busy_pct"])),
            (
                "  of it other processes %",
                _pct(base["other_processes_cpu_pct"]),
                _pct(ivr["other_processes_cpu_pct"]),
            ),
        ]
        width = max(len(row[0]) for row in rows)
        lines.append(f"  {'':<{width}}  {'baseline':>10}  {'ivr':>10}")
        lines += [f"  {label:<{width}}  {b:>10}  {i:>10}" for label, b, i in rows]
        server_ms = storage["server_ms"]
        lines += [
            f"  p50 ratio ivr/baseline: {run['p50_ratio']:.2f}x",
            f"  stored: {storage['turns_stored']}/{storage['turns_sent']} turns, "
            f"{storage['action_rows']}/{storage['action_rows_expected']} action rows "
            f"({storage['actions_failed']} failed), "
            f"{storage['calls_missing']} calls missing, {storage['calls_out_of_order']} out of "
            f"order, {storage['transfers']} transfers",
            f"  server_ms (stored, handler only): p50 {server_ms['p50']:.1f}  "
            f"p90 {server_ms['p90']:.1f}  p99 {server_ms['p99']:.1f}  max {server_ms['max']:.1f}",
            "  ivr p50 ms by step: "
            + ", ".join(
                f"{label} {value:.1f}" for label, value in ivr["latency_p50_by_step_ms"].items()
            ),
        ]
        for name, side in (("baseline", base), ("ivr", ivr)):
            for problem, count in side["error_kinds"].items():
                lines.append(f"  ERROR {name} x{count}: {problem}")
        lines.append(
            "  targets: "
            + "; ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in run["targets"].items())
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def save_report(report: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"webhooks-{stamp}.json"
    text = json.dumps(report, indent=2, default=str)
    path.write_text(text)
    (folder / "webhooks-latest.json").write_text(text)
    return path


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls (default 50)")
    parser.add_argument(
        "--turns", type=int, default=10, help="turns per call after the start (default 10)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--worker-class",
        choices=("gthread", "sync"),
        default="gthread",
        help="gunicorn worker class (default gthread, as the Procfile)",
    )
    parser.add_argument(
        "--threads", type=int, default=32, help="threads per gthread worker (default 32)"
    )
    parser.add_argument(
        "--actions",
        choices=("in-process", "remote"),
        default="in-process",
        help="where the flow's actions run: in the server (default) or on a rasa-sdk action "
        "server answering after --action-ms",
    )
    parser.add_argument(
        "--action-ms",
        type=float,
        default=300.0,
        help="the remote action server's delay (default 300)",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause between a caller's turns (default 0: saturation)",
    )
    parser.add_argument(
        "--paced",
        action="store_true",
        help="run twice: saturated, then paced (--think-ms, or 1000 ms)",
    )
    parser.add_argument(
        "--database",
        default="sqlite",
        help="'sqlite' (a fresh temporary file), 'postgres' (a throwaway local cluster, as the "
        "tests use) or a database URL",
    )
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="raw",
        help="HTTP client of the load generator (default raw: least CPU)",
    )
    parser.add_argument(
        "--warmup-calls",
        type=int,
        default=None,
        help="calls run and discarded before measuring (default 2 x workers)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="load rounds per server, alternating baseline and IVR; pooled (default 3)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the think-time jitter")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the JSON report goes (default bench/results)",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON report")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=300,
        default=None,
        metavar="TURNS",
        help="instead: profile the IVR in-process over about "
        "TURNS turns (default 300) and print where the server time goes",
    )
    args = parser.parse_args(argv)
    if (
        min(args.calls, args.workers, args.rounds, args.threads) < 1
        or args.turns < 0
        or min(args.think_ms, args.action_ms) < 0
    ):
        parser.error(
            "--calls, --workers, --threads and --rounds must be positive, --turns, --think-ms "
            "and --action-ms >= 0"
        )
    return Options(
        calls=args.calls,
        turns=args.turns,
        workers=args.workers,
        think_ms=args.think_ms,
        paced=args.paced,
        database=args.database,
        client=args.client,
        warmup_calls=args.warmup_calls,
        rounds=args.rounds,
        seed=args.seed,
        results_dir=args.results_dir,
        save=not args.no_save,
        profile=args.profile,
        worker_class=args.worker_class,
        threads=args.threads,
        actions=args.actions,
        action_ms=args.action_ms,
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, save the JSON; returns the report."""
    opts = parse_args(argv)
    if opts.profile is not None:
        text = profile(opts.profile)
        print(text, flush=True)
        return {"benchmark": "webhooks-profile", "runs": [], "profile": text}
    report = run_benchmark(opts)
    print(format_report(report), flush=True)
    if opts.save:
        print(f"saved {save_report(report, opts.results_dir)}", flush=True)
    return report


def functional_failures(report: dict[str, Any]) -> list[str]:
    """Wrong answers or missing turns: what makes the command fail (timings never do)."""
    failures = []
    for run in report["runs"]:
        if not run["targets"]["zero errors"]:
            failures.append(f"think {run['think_ms']:.0f} ms: some answers were wrong")
        if not run["targets"]["every turn stored"]:
            failures.append(f"think {run['think_ms']:.0f} ms: not every turn was stored")
        if not run["targets"]["zero failed actions"]:
            failures.append(f"think {run['think_ms']:.0f} ms: some actions failed")
        if not run["targets"]["zero transfers"]:
            failures.append(f"think {run['think_ms']:.0f} ms: some calls went to a person")
    return failures


if __name__ == "__main__":
    failures = functional_failures(main())
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    sys.exit(1 if failures else 0)

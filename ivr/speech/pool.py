"""Speech recognition in worker processes, so that decoding never holds the server's GIL.

PocketSphinx's Python binding keeps the GIL while it decodes, and ending an utterance (word
posteriors over the lattice) takes up to 100 ms for a long digit string. In a threaded
server every other call of the process waits that long for its next audio frame, its prompt
or its database write; with a dozen calls the waits add up to seconds. A `RecognitionPool`
runs the engine in a few spawned processes (each loads the model once) and hands out
recognisers with the usual `Recognizer` interface that forward audio to one of them.

Each worker process serves its recognisers one request at a time over one pipe; a thread
that uses a recogniser holds that worker's lock for the round trip (well under a
millisecond for a 20 ms frame). A worker that dies or stops answering is killed and started
again for new recognisers; the recognisers it held raise `SpeechEngineError`, which sends
their callers to a person. Fork-safe: a forked child (a gunicorn worker) starts its own
processes instead of sharing its parent's pipes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from ivr.speech.asr import EngineName, SpeechEngineError, Transcript, load_engine

log = logging.getLogger(__name__)

SAMPLE_RATES: dict[str, int] = {"pocketsphinx": 16000, "vosk": 16000}
"""What each engine's recognisers take; known without loading the model."""
REQUEST_TIMEOUT = 5.0
"""Seconds a request may wait for its worker (its queue and its own work) before the worker
is taken for hung and replaced."""
START_TIMEOUT = 60.0
"""Seconds a new worker may take to start Python and load the model (Vosk: a few)."""


# --- the worker process ------------------------------------------------------------------


def _serve(connection: Connection, name: EngineName, vosk_model: str | None) -> None:
    """Run recognisers for the pool at the other end of `connection` until it closes.

    Requests are tuples `(operation, recogniser id, argument, dropped ids)`; "new" and
    "close" get no answer, "feed", "finish", "reset" and "count" get `("ok", result)` or
    `("error", message)`.
    """
    try:
        engine = load_engine(name, vosk_model=vosk_model)
        broken = None
    except Exception as error:  # answer every request with the reason, do not just die
        engine, broken = None, f"{type(error).__name__}: {error}"
    recognizers: dict[int, Any] = {}
    failed: dict[int, str] = {}
    while True:
        try:
            operation, rid, argument, dropped = connection.recv()
        except (EOFError, OSError):
            return
        for old in dropped:
            recognizers.pop(old, None)
            failed.pop(old, None)
        if operation == "new":
            try:
                if engine is None:
                    raise SpeechEngineError(broken or "no engine")
                recognizers[rid] = engine.recognizer(argument)
            except Exception as error:
                failed[rid] = f"{type(error).__name__}: {error}"
            continue
        if operation == "close":
            recognizers.pop(rid, None)
            failed.pop(rid, None)
            continue
        if operation == "count":
            connection.send(("ok", len(recognizers)))
            continue
        recognizer = recognizers.get(rid)
        if recognizer is None:
            connection.send(("error", failed.get(rid, "unknown recogniser")))
            continue
        try:
            if operation == "feed":
                result: Any = recognizer.feed(argument)
            elif operation == "finish":
                result = recognizer.finish()
            elif operation == "reset":
                result = recognizer.reset()
            else:
                raise ValueError(f"unknown operation {operation!r}")
        except Exception as error:
            connection.send(("error", f"{type(error).__name__}: {error}"))
            continue
        connection.send(("ok", result))


# --- the server side ---------------------------------------------------------------------


class _Worker:
    """One recognition process, seen from the server: its pipe, its lock, its generation
    (which goes up each time the process is replaced)."""

    def __init__(self, index: int, name: EngineName, vosk_model: str | None,
                 timeout: float) -> None:
        self.index = index
        self.name = name
        self.vosk_model = vosk_model
        self.timeout = timeout
        self.lock = threading.Lock()
        self.generation = 0
        self.live = 0
        self.process: Any = None
        self.connection: Connection | None = None
        self.answered_once = False
        self.dropped: deque[int] = deque()

    def start_if_needed(self) -> int:
        """Start the process unless it runs; returns the generation to use. Call with
        `lock` held. Does not wait for the model to load: requests queue in the pipe."""
        if self.process is not None and self.process.is_alive():
            return self.generation
        self.stop()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, self.name, self.vosk_model),
                                  daemon=True, name=f"ivr-asr-{self.index}")
        process.start()
        theirs.close()  # so that our end sees EOF when the worker dies
        self.process, self.connection = process, ours
        self.generation += 1
        self.live = 0  # the old process's recognisers are gone with it
        self.answered_once = False
        self.dropped.clear()
        return self.generation

    def send(self, operation: str, rid: int, argument: Any = None) -> None:
        """Send a request that gets no answer. Call with `lock` held."""
        if self.connection is None:
            raise SpeechEngineError("the recognition process is not running")
        dropped = tuple(self.dropped)
        self.dropped.clear()
        try:
            self.connection.send((operation, rid, argument, dropped))
        except (OSError, ValueError) as error:
            self.fail(f"the recognition process stopped ({type(error).__name__})")

    def ask(self, operation: str, rid: int, argument: Any = None) -> Any:
        """Send a request and wait for its answer. Call with `lock` held."""
        self.send(operation, rid, argument)
        assert self.connection is not None
        # The first answer of a new process also waits for Python and the model to load.
        limit = self.timeout if self.answered_once else max(self.timeout, START_TIMEOUT)
        try:
            if not self.connection.poll(limit):
                self.fail(f"the recognition process did not answer within {limit:g} s")
            status, result = self.connection.recv()
        except (EOFError, OSError) as error:
            self.fail(f"the recognition process stopped ({type(error).__name__})")
        self.answered_once = True
        if status != "ok":
            raise SpeechEngineError(f"recognition failed: {result}")
        return result

    def fail(self, reason: str) -> NoReturn:
        """Replace the process at the next use and raise. Call with `lock` held."""
        log.error("speech recognition worker %d: %s; it will be restarted", self.index, reason)
        self.stop()
        raise SpeechEngineError(reason)

    def stop(self) -> None:
        process, connection = self.process, self.connection
        self.process = self.connection = None
        if connection is not None:
            connection.close()
        if process is not None:
            process.join(0.5)
            if process.is_alive():
                process.kill()
                process.join(5)


class RecognitionPool:
    """A `SpeechEngine` whose recognisers run in `processes` worker processes.

    `timeout` bounds each request (feeding 20 ms, finishing an utterance); a worker that
    exceeds it is restarted. Workers start on first use, not when the pool is made, so a
    server that forks after loading the app (gunicorn --preload) starts them in each worker.
    """

    def __init__(self, name: EngineName, *, vosk_model: str | None = None, processes: int = 2,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        if name not in SAMPLE_RATES:
            raise SpeechEngineError(f"unknown speech engine {name!r}; use 'vosk' or "
                                    "'pocketsphinx'")
        if processes < 1:
            raise ValueError("a recognition pool needs at least one process")
        self.name = name
        self.sample_rate = SAMPLE_RATES[name]
        self.vosk_model = vosk_model
        self.processes = processes
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._owner = os.getpid()
        self._choose_lock = threading.Lock()
        self._workers = self._new_workers()

    def recognizer(self, phrases: Sequence[str]) -> PooledRecognizer:
        self._forget_if_forked()
        # `live` is a hint for spreading calls over the workers, not an exact count.
        worker = min(self._workers, key=lambda candidate: candidate.live)
        rid = next(self._ids)
        with worker.lock:
            generation = worker.start_if_needed()
            worker.live += 1
            worker.send("new", rid, list(phrases))
        return PooledRecognizer(worker, generation, rid)

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (for monitoring and tests)."""
        return [w.process.pid for w in self._workers
                if w.process is not None and w.process.is_alive()]

    def live_recognizers(self) -> int:
        """How many recognisers the worker processes hold right now."""
        total = 0
        for worker in self._workers:
            with worker.lock:
                if worker.process is not None and worker.process.is_alive():
                    total += int(worker.ask("count", 0))
        return total

    def close(self) -> None:
        """Stop the worker processes (they start again when needed)."""
        self._forget_if_forked()
        for worker in self._workers:
            with worker.lock:
                worker.stop()

    def _new_workers(self) -> list[_Worker]:
        return [_Worker(index, self.name, self.vosk_model, self.timeout)
                for index in range(self.processes)]

    def _forget_if_forked(self) -> None:
        if os.getpid() == self._owner:
            return
        with self._choose_lock:
            if os.getpid() == self._owner:
                return
            # The processes and pipes belong to the parent; leave them alone, and keep
            # multiprocessing from terminating the parent's workers when this child exits.
            # (`_children` is private, so typeshed does not declare it: hence the ignore.)
            for worker in self._workers:
                with contextlib.suppress(AttributeError, KeyError):
                    multiprocessing.process._children.discard(worker.process)  # type: ignore[attr-defined]
            self._workers = self._new_workers()
            self._owner = os.getpid()


class PooledRecognizer:
    """A recogniser that lives in a worker process; used by one thread at a time."""

    def __init__(self, worker: _Worker, generation: int, rid: int) -> None:
        self._worker = worker
        self._generation = generation
        self._rid = rid
        self._closed = False
        self._finalizer = weakref.finalize(self, _forget_later, worker, generation, rid)

    def feed(self, pcm16: bytes) -> Transcript | None:
        if not pcm16:
            return None
        result = self._ask("feed", pcm16)
        return result if isinstance(result, Transcript) else None

    def finish(self) -> Transcript:
        result = self._ask("finish")
        if not isinstance(result, Transcript):
            raise SpeechEngineError("recognition failed: no result")
        return result

    def reset(self) -> None:
        self._ask("reset")

    def close(self) -> None:
        """Free the recogniser in its worker (dropping it without closing does too, later)."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        worker = self._worker
        with worker.lock:
            if worker.generation == self._generation and worker.connection is not None:
                worker.live -= 1
                with contextlib.suppress(SpeechEngineError):
                    worker.send("close", self._rid)

    @property
    def worker_pid(self) -> int | None:
        """The process this recogniser runs in, while it runs (for tests)."""
        process = self._worker.process
        return process.pid if process is not None else None

    def _ask(self, operation: str, argument: Any = None) -> Any:
        if self._closed:
            raise SpeechEngineError("the recogniser was closed")
        worker = self._worker
        with worker.lock:
            if worker.generation != self._generation or worker.connection is None:
                raise SpeechEngineError("the recognition process of this call was restarted")
            return worker.ask(operation, self._rid, argument)


def _forget_later(worker: _Worker, generation: int, rid: int) -> None:
    """A recogniser was dropped without `close()`: have its worker free it with the next
    request. Never takes the lock (the garbage collector may run this while it is held)."""
    if worker.generation == generation:
        worker.dropped.append(rid)
        worker.live -= 1

"""Text-to-speech prompts: pyttsx3 speech stored as telephone-ready WAV files named by hash.

A `PromptLibrary` owns a folder of 8 kHz mono mu-law WAV files, each named by a hash of the
text, voice, rate and engine, so an edited prompt gets a new file and an unchanged one is
never rendered twice. Static prompts are rendered ahead of time by `ivr prompts build`;
texts with slot values are rendered on demand by `render_later` into a cache folder.

pyttsx3 is not thread-safe and its espeak driver can hang or crash, so all synthesis
happens in one long-lived worker process (multiprocessing, spawn) that renders one text at
a time. A render that outlives its timeout gets the process killed and restarted; callers
of `render_later` never wait for any of it. Like every spawned process, the worker imports
the parent's main module again, so that module must keep its work under
`if __name__ == "__main__":` (the `ivr`, `gunicorn` and `pytest` commands do).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import queue
import re
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ivr.speech.audio import (
    TELEPHONE_RATE,
    downsample,
    pcm16_to_ulaw,
    read_ulaw_wav,
    read_wav,
    trim_silence,
    wav_bytes,
)

log = logging.getLogger(__name__)

ENGINES = ("pyttsx3",)
RENDER_VERSION = "1"
"""Part of every key: bump it when the audio pipeline changes so every prompt re-renders."""
KEY_LENGTH = 24
KEY_PATTERN = re.compile(r"[0-9a-f]{8,64}")  # use with fullmatch
MAX_TEXT_CHARS = 4000
INDEX_FILE = "index.json"
CACHE_FOLDER = "cache"

SYNTHESIS_ATTEMPTS = 3
UTTERANCE_WAIT = 120.0
"""Seconds the worker itself waits for pyttsx3; callers' shorter timeouts kill it sooner."""
START_TIMEOUT = 30.0
"""Seconds a new worker may take to start Python and load pyttsx3 (not counted in renders)."""
RETRY_FAILED_AFTER = 300.0
"""Seconds before `render_later` tries again a text whose render failed."""
MAX_REMEMBERED_FAILURES = 1000
CACHE_SWEEP_EVERY = 600.0
STALE_TEMPORARY = 600.0
"""Seconds after which a half-written temporary file is left over from a crash."""

TEST_HANG_VARIABLE = "IVR_TTS_TEST_HANG_ON"
"""Test-only: the worker sleeps forever on any text containing this variable's value, to
exercise the hang timeout. Never set it on a server."""


class SynthesisError(RuntimeError):
    """The text could not be turned into audio."""


@dataclass
class BuildReport:
    """What `PromptLibrary.build` did."""

    rendered: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    removed: int = 0


def normalise(text: str) -> str:
    """The text as it is keyed and spoken: runs of whitespace (YAML line folds) as one space."""
    return " ".join(text.split())


# --- the worker process ------------------------------------------------------------------

_engine: Any = None
_engine_defaults: dict[str, Any] = {}
_engine_settings: dict[str, Any] = {}
_utterance_done = threading.Event()
_utterance_completed = False


def synthesise_ulaw(text: str, voice: str | None = None, rate: int | None = None) -> bytes:
    """Speak `text` with pyttsx3 into 8 kHz mu-law, silence trimmed. Runs in the worker.

    pyttsx3 writes a 22,050 Hz 16-bit WAV; it is low-pass filtered, resampled to 8 kHz and
    trimmed to at most 100 ms of silence at either end.
    """
    engine = _pyttsx3()
    _configure(
        engine, voice=voice or _engine_defaults["voice"], rate=rate or _engine_defaults["rate"]
    )
    with tempfile.TemporaryDirectory(prefix="ivr-tts-") as folder:
        target = Path(folder) / "speech.wav"
        # The espeak driver now and then cancels its own utterance (see _wait_until_idle);
        # espeak is deterministic, so saying it again is safe.
        for _ in range(SYNTHESIS_ATTEMPTS):
            if _speak_to_file(engine, text, target):
                break
        else:
            raise SynthesisError("pyttsx3 stopped before the end and wrote no audio")
        pcm, source_rate = read_wav(target)
    pcm = trim_silence(downsample(pcm, source_rate, TELEPHONE_RATE), TELEPHONE_RATE)
    if not pcm:
        raise SynthesisError("pyttsx3 produced only silence")
    return pcm16_to_ulaw(pcm)


def _speak_to_file(engine: Any, text: str, target: Path) -> bool:
    """One `save_to_file` + `runAndWait`; True when the whole utterance reached the file."""
    target.unlink(missing_ok=True)
    _utterance_done.clear()
    engine.save_to_file(text, str(target))
    engine.runAndWait()
    # The espeak driver's loop can return before espeak has finished anything longer than
    # a few words (pyttsx3 issues #149, #259); the file is written when the utterance ends.
    if not _utterance_done.wait(UTTERANCE_WAIT):
        raise SynthesisError(f"pyttsx3 did not finish within {UTTERANCE_WAIT:g} s")
    _wait_until_idle(engine)
    return _utterance_completed and target.exists()


def _pyttsx3() -> Any:
    global _engine
    if _engine is None:
        import pyttsx3

        engine = pyttsx3.init()
        engine.connect("finished-utterance", _on_utterance_finished)
        _engine_defaults.update(voice=engine.getProperty("voice"), rate=engine.getProperty("rate"))
        _engine_settings.update(_engine_defaults)
        # A new engine queues commands until its first run; one throwaway utterance brings
        # it to the steady state in which property changes apply at once.
        with tempfile.TemporaryDirectory(prefix="ivr-tts-") as folder:
            _speak_to_file(engine, "ready", Path(folder) / "warm-up.wav")
        _engine = engine
    return _engine


def _configure(engine: Any, **properties: Any) -> None:
    """Set voice and rate when they differ from the current ones, then let espeak settle."""
    changed = False
    for name, value in properties.items():
        if _engine_settings.get(name) != value:
            engine.setProperty(name, value)
            _engine_settings[name] = value
            changed = True
    if changed:
        _wait_until_idle(engine)


def _wait_until_idle(engine: Any) -> None:
    """Wait until the driver and espeak have nothing in flight.

    espeak runs asynchronously: a property change or the end of an utterance keeps it busy
    for a moment after the call returns, and if `runAndWait` starts then, the driver's own
    stop logic cancels the new utterance.
    """
    deadline = time.monotonic() + 5
    while engine.isBusy() or _espeak_playing(engine):
        if time.monotonic() > deadline:
            raise SynthesisError("pyttsx3 stayed busy after the utterance")
        time.sleep(0.002)


def _espeak_playing(engine: Any) -> bool:
    if getattr(engine, "driver_name", "") != "espeak":
        return False
    from pyttsx3.drivers import _espeak

    return bool(_espeak.IsPlaying())


def _on_utterance_finished(name: object = None, completed: bool = True) -> None:
    global _utterance_completed
    _utterance_completed = bool(completed)
    _utterance_done.set()


def _worker_main(connection: Connection) -> None:
    """Serve (text, voice, rate) requests with ("ok", audio) or ("error", message)."""
    # pyttsx3 prints "Audio saved to ..." for every file; keep the server's stdout clean.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    try:
        _pyttsx3()
    except Exception as error:
        connection.send(("error", f"pyttsx3 did not start: {type(error).__name__}: {error}"))
        return
    connection.send(("ready", None))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        text, voice, rate = request
        hang_on = os.environ.get(TEST_HANG_VARIABLE)
        if hang_on and hang_on in text:
            time.sleep(3600)
        try:
            connection.send(("ok", synthesise_ulaw(text, voice, rate)))
        except Exception as error:
            connection.send(("error", f"{type(error).__name__}: {error}"))


class SynthesisWorker:
    """The one process that owns pyttsx3, started on first use and restarted after a hang.

    Thread-safe: renders are serialised. Fork-safe: a forked child (a gunicorn worker)
    starts its own process instead of sharing its parent's pipe.
    """

    def __init__(self, start_timeout: float = START_TIMEOUT):
        self.start_timeout = start_timeout
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Connection | None = None

    def synthesise(self, text: str, voice: str | None, rate: int | None, timeout: float) -> bytes:
        """Mu-law audio of `text`; raises `SynthesisError` on failure or after `timeout`.

        The timeout covers waiting for other renders and the synthesis itself, not the
        start of a new worker process (a fraction of a second, once).
        """
        self._forget_if_forked()
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            raise SynthesisError(f"the synthesis worker stayed busy for {timeout:g} s")
        try:
            connection = self._started()
            try:
                connection.send((text, voice, rate))
                if not connection.poll(max(0.0, deadline - time.monotonic())):
                    self._stop(kill=True)
                    raise SynthesisError(
                        f"synthesis took longer than {timeout:g} s; the worker was restarted"
                    )
                status, payload = connection.recv()
            except (EOFError, OSError) as error:
                self._stop(kill=True)
                raise SynthesisError(
                    f"the synthesis worker died ({type(error).__name__})"
                ) from error
            if status != "ok":
                self._stop(kill=True)  # pyttsx3 may be in a bad state: start afresh
                raise SynthesisError(str(payload))
        finally:
            self._lock.release()
        return bytes(payload)

    def close(self) -> None:
        """Stop the worker process (it is started again when needed)."""
        self._forget_if_forked()
        with self._lock:
            self._stop(kill=False)

    def _started(self) -> Connection:
        if self._connection is not None and self._process.is_alive():
            return self._connection
        self._stop(kill=True)
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_worker_main, args=(theirs,), daemon=True, name="ivr-tts-worker"
        )
        process.start()
        theirs.close()  # so that our end sees EOF when the worker dies
        self._process, self._connection = process, ours
        try:
            if not ours.poll(self.start_timeout):
                raise SynthesisError(
                    f"the synthesis worker did not start within {self.start_timeout:g} s"
                )
            status, message = ours.recv()
        except (EOFError, OSError) as error:
            self._stop(kill=True)
            raise SynthesisError("the synthesis worker died while starting") from error
        except SynthesisError:
            self._stop(kill=True)
            raise
        if status != "ready":
            self._stop(kill=True)
            raise SynthesisError(str(message))
        return ours

    def _stop(self, *, kill: bool) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            if not kill:
                with contextlib.suppress(OSError):
                    connection.send(None)
            connection.close()
        if process is not None:
            process.join(0 if kill else 2)
            if process.is_alive():
                process.kill()
                process.join(5)

    def _forget_if_forked(self) -> None:
        if os.getpid() != self._owner:
            # The process and pipe belong to the parent; leave them alone, and keep
            # multiprocessing from terminating the parent's worker when this child exits.
            # (`_children` is private, so typeshed does not declare it: hence the ignore.)
            with contextlib.suppress(AttributeError, KeyError):
                multiprocessing.process._children.discard(self._process)  # type: ignore[attr-defined]
            self._owner = os.getpid()
            self._lock = threading.Lock()
            self._process = self._connection = None


# --- the library -------------------------------------------------------------------------


class PromptLibrary:
    """Rendered prompts in `directory` (static, built ahead) and a cache folder (on demand).

    `cache_secret` keys the on-demand files with an HMAC, so that their names (served at a
    public URL) do not reveal which texts, with their slot values, were spoken; they are
    deleted after `cache_max_age` seconds.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        voice: str | None = None,
        rate: int | None = None,
        engine: str = "pyttsx3",
        cache_directory: Path | str | None = None,
        cache_secret: bytes | None = None,
        cache_max_age: float = 24 * 3600,
        render_timeout: float = 10.0,
        memory_bytes: int = 16 * 1024 * 1024,
        queue_size: int = 256,
    ):
        if engine not in ENGINES:
            raise ValueError(f"unknown text-to-speech engine {engine!r}; known: {ENGINES}")
        self.directory = Path(directory)
        self.cache_directory = Path(cache_directory or self.directory / CACHE_FOLDER)
        self.voice, self.rate, self.engine = voice, rate, engine
        self.render_timeout = render_timeout
        self.cache_max_age = cache_max_age
        self._cache_secret = cache_secret
        self._worker = SynthesisWorker()
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_bytes = 0
        self._memory_limit = memory_bytes
        self._memory_lock = threading.Lock()
        self._queue_size = queue_size
        self._owner = -1  # the background thread is started lazily, once per process
        self._queue: queue.Queue[str | None] = queue.Queue(queue_size)
        self._pending: set[str] = set()
        self._failed: dict[str, float] = {}
        self._state_lock = threading.Lock()
        self._last_sweep = 0.0

    # Names and places.


    @property
    def worker_process(self) -> Any:
        """This library's synthesis process while one runs (for monitoring and tests)."""
        process = self._worker._process
        return process if process is not None and process.is_alive() else None
    def key(self, text: str) -> str:
        """The file name (without .wav) of `text`: a hash of engine, voice, rate and text."""
        material = "\0".join(
            (self.engine, RENDER_VERSION, self.voice or "", str(self.rate or ""), normalise(text))
        )
        return hashlib.sha256(material.encode()).hexdigest()[:KEY_LENGTH]

    def path(self, text: str) -> Path:
        """Where the pre-rendered file of `text` is (or would be)."""
        return self.directory / f"{self.key(text)}.wav"

    def has(self, text: str) -> bool:
        """Whether `text` has been rendered, ahead of time or on demand."""
        return self.locate(text) is not None

    def locate(self, text: str) -> Path | None:
        """The rendered file of `text`, or None."""
        for candidate in (self.path(text), self._cache_path(text)):
            if candidate.is_file():
                return candidate
        return None

    def served_key(self, text: str) -> str | None:
        """The key under which the rendered file of `text` is served, or None."""
        found = self.locate(text)
        return found.stem if found else None

    def file_for_key(self, key: str) -> Path | None:
        """The file served for `key`; None for an unknown or malformed key."""
        if not KEY_PATTERN.fullmatch(key):
            return None
        for folder in (self.directory, self.cache_directory):
            candidate = folder / f"{key}.wav"
            if candidate.is_file():
                return candidate
        return None

    def audio(self, text: str) -> bytes | None:
        """Raw 8 kHz mu-law frames of `text` if rendered (for media streams), else None."""
        found = self.locate(text)
        if found is None:
            return None
        with self._memory_lock:
            cached = self._memory.get(found.stem)
            if cached is not None:
                self._memory.move_to_end(found.stem)
                return cached
        try:
            frames = read_ulaw_wav(found)
        except (OSError, ValueError) as error:
            log.warning("prompt %s is unreadable: %s", found.name, error)
            return None
        with self._memory_lock:
            if found.stem not in self._memory:
                self._memory[found.stem] = frames
                self._memory_bytes += len(frames)
            while self._memory_bytes > self._memory_limit and len(self._memory) > 1:
                _, dropped = self._memory.popitem(last=False)
                self._memory_bytes -= len(dropped)
        return frames

    # Rendering.

    def render(self, text: str, timeout: float | None = None) -> bool:
        """Render `text` now, unless it is rendered already. True when it is.

        Blocks for up to `timeout` seconds. A new text goes to the cache folder, like
        `render_later`'s: only `build` writes the prompt folder, which holds fixed prompts.
        """
        if self.has(text):
            return True
        return self._render_to(text, self._cache_path(text), timeout or self.render_timeout)

    def render_later(self, text: str) -> None:
        """Queue `text` for rendering into the cache folder; returns at once.

        Texts already rendered, already queued, failed within the last few minutes or too
        long are skipped, and so is everything when the queue is full.
        """
        spoken = normalise(text)
        if not spoken or len(spoken) > MAX_TEXT_CHARS or self.has(spoken):
            return
        key = self.key(spoken)
        with self._state_lock:
            self._start_thread_once()
            failed_at = self._failed.get(key)
            if key in self._pending or (
                failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_AFTER
            ):
                return
            try:
                self._queue.put_nowait(spoken)
            except queue.Full:
                log.debug("prompt queue full; %s will be spoken by <Say>", key)
                return
            self._pending.add(key)

    def build(
        self, texts: Iterable[str], *, prune: bool = False, timeout: float | None = None
    ) -> BuildReport:
        """Render every text that is missing; with `prune`, delete files of other texts.

        Also writes `index.json` (file key -> text) so that a reviewer can tell which
        prompt a file holds.
        """
        report = BuildReport()
        wanted: dict[str, str] = {}
        for text in texts:
            spoken = normalise(text)
            if spoken:
                wanted.setdefault(self.key(spoken), spoken)
        self.directory.mkdir(parents=True, exist_ok=True)
        for key, spoken in wanted.items():
            target = self.directory / f"{key}.wav"
            if target.is_file():
                report.unchanged += 1
            elif self._render_to(spoken, target, timeout or self.render_timeout):
                report.rendered += 1
            else:
                report.failed.append(spoken)
        if prune:
            report.removed = self._prune(set(wanted))
        index = {key: spoken for key, spoken in wanted.items() if spoken not in report.failed}
        _write_atomically(
            self.directory / INDEX_FILE,
            (json.dumps(index, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode(),
        )
        return report

    def close(self) -> None:
        """Stop the background thread (dropping what is queued) and the synthesis worker."""
        with self._state_lock:
            if self._owner == os.getpid():
                with contextlib.suppress(queue.Empty):
                    while True:
                        self._queue.get_nowait()
                self._queue.put_nowait(None)
                self._owner = -1
        self._worker.close()

    # Internals.

    def _cache_path(self, text: str) -> Path:
        key = self.key(text)
        if self._cache_secret:
            key = hmac.new(self._cache_secret, key.encode(), hashlib.sha256).hexdigest()[:32]
        return self.cache_directory / f"{key}.wav"

    def _render_to(self, text: str, target: Path, timeout: float) -> bool:
        spoken = normalise(text)
        name = self.key(spoken)  # never log the text: on-demand ones carry slot values
        if not spoken or len(spoken) > MAX_TEXT_CHARS:
            log.warning("prompt %s: empty or longer than %d characters", name, MAX_TEXT_CHARS)
            return False
        try:
            audio = self._worker.synthesise(spoken, self.voice, self.rate, timeout)
        except SynthesisError as error:
            log.warning("prompt %s was not rendered: %s", name, error)
            return False
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, wav_bytes(audio))
        except OSError as error:
            log.warning("prompt %s could not be stored: %s", name, error)
            return False
        return True

    def _start_thread_once(self) -> None:
        if self._owner == os.getpid():
            return
        # New process (first use, or a forked gunicorn worker): the parent's thread and
        # queue did not come along.
        self._owner = os.getpid()
        self._queue = queue.Queue(self._queue_size)
        self._pending = set()
        threading.Thread(
            target=self._render_queued, args=(self._queue,), daemon=True, name="ivr-tts-queue"
        ).start()

    def _render_queued(self, work: queue.Queue[str | None]) -> None:
        while True:
            text = work.get()
            if text is None:
                return
            key = self.key(text)
            try:
                done = self.has(text) or self._render_to(
                    text, self._cache_path(text), self.render_timeout
                )
            except Exception as error:  # a full disk must not kill the thread
                log.warning("prompt %s was not rendered: %s", key, type(error).__name__)
                done = False
            with self._state_lock:
                self._pending.discard(key)
                if done:
                    self._failed.pop(key, None)
                else:
                    self._remember_failure(key)
            self._sweep_cache()

    def _remember_failure(self, key: str) -> None:
        now = time.monotonic()
        if len(self._failed) >= MAX_REMEMBERED_FAILURES:
            self._failed = {
                old: at for old, at in self._failed.items() if now - at < RETRY_FAILED_AFTER
            }
        self._failed[key] = now

    def _sweep_cache(self) -> None:
        """Delete on-demand files older than `cache_max_age`: they may hold slot values."""
        now = time.time()
        if now - self._last_sweep < CACHE_SWEEP_EVERY:
            return
        self._last_sweep = now
        for old in self.cache_directory.glob("*.wav"):
            try:
                if now - old.stat().st_mtime > self.cache_max_age:
                    old.unlink()
            except OSError:
                continue

    def _prune(self, wanted: set[str]) -> int:
        removed = 0
        for candidate in self.directory.iterdir():
            stale_render = (
                candidate.suffix == ".tmp"
                and candidate.name.startswith(".")
                and time.time() - candidate.stat().st_mtime > STALE_TEMPORARY
            )
            unused = (
                candidate.suffix == ".wav"
                and KEY_PATTERN.fullmatch(candidate.stem)
                and candidate.stem not in wanted
            )
            if candidate.is_file() and (unused or stale_render):
                candidate.unlink()
                removed += bool(unused)
        return removed


def _write_atomically(target: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never half of one."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; these files are public
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

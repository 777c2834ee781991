"""Speech recognition in worker processes: the same results as in the server's own process,
and a worker that dies or hangs costs only the calls it was serving (they go to a person).

Real PocketSphinx in real spawned processes, on espeak-ng speech as Twilio sends it."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from speech_audio import CHUNK, say, stream

from ivr.config import load_settings
from ivr.dialog.schema import Flow
from ivr.speech.asr import SpeechEngineError, load_engine, open_engine
from ivr.speech.grammar import flow_phrases
from ivr.speech.pocketsphinx_engine import PocketSphinxEngine
from ivr.speech.pool import PooledRecognizer, RecognitionPool


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pool-speech")


@pytest.fixture(scope="module")
def phrases(support_flow: Flow) -> list[str]:
    return flow_phrases(support_flow)


@pytest.fixture
def pool() -> Iterator[RecognitionPool]:
    pool = RecognitionPool("pocketsphinx", processes=2, timeout=2.0)
    yield pool
    pool.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "sentence", ["where is my order", "I forgot my password", "connect me to an agent"]
)
def test_a_pooled_recognizer_hears_what_the_engine_hears_in_process(
    pool: RecognitionPool, phrases: list[str], workdir: Path, sentence: str
) -> None:
    audio = say(workdir, sentence)
    pooled = pool.recognizer(phrases)
    partials, result = stream(pooled, audio)
    _, expected = stream(load_engine("pocketsphinx").recognizer(phrases), audio)
    assert result == expected
    assert result.text == sentence.lower() and result.final
    assert partials and all(not partial.final for partial in partials)
    assert pooled.worker_pid is not None and pooled.worker_pid != os.getpid()


@pytest.mark.slow
def test_one_recognizer_takes_utterance_after_utterance(
    pool: RecognitionPool, phrases: list[str], workdir: Path
) -> None:
    recognizer = pool.recognizer(phrases)
    _, first = stream(recognizer, say(workdir, "where is my order"))
    recognizer.feed(say(workdir, "I forgot my password")[: CHUNK * 20])
    recognizer.reset()
    _, second = stream(recognizer, say(workdir, "what are your opening hours"))
    assert (first.text, second.text) == ("where is my order", "what are your opening hours")


@pytest.mark.slow
def test_calls_are_spread_over_the_workers(pool: RecognitionPool, phrases: list[str]) -> None:
    recognizers = [pool.recognizer(phrases) for _ in range(4)]
    for recognizer in recognizers:
        recognizer.reset()  # a round trip: the worker is up
    pids = [recognizer.worker_pid for recognizer in recognizers]
    assert len(set(pids)) == 2 and sorted(pids) == sorted(pool.worker_pids() * 2)


@pytest.mark.slow
def test_closed_and_dropped_recognizers_are_freed_in_the_workers(
    pool: RecognitionPool, phrases: list[str]
) -> None:
    kept, closed, dropped = (pool.recognizer(phrases) for _ in range(3))
    assert pool.live_recognizers() == 3
    closed.close()
    del dropped
    gc.collect()
    kept.reset()  # the drop travels with the next request to that worker
    pool.recognizer(phrases).close()  # and this one reaches the other worker
    assert pool.live_recognizers() == 1
    with pytest.raises(SpeechEngineError, match="closed"):
        closed.feed(b"\0" * CHUNK)


def running_recognizer(pool: RecognitionPool, phrases: list[str]) -> tuple[PooledRecognizer, int]:
    """A recogniser whose process has answered once, and that process's id."""
    recognizer = pool.recognizer(phrases)
    recognizer.reset()
    assert recognizer.worker_pid is not None
    return recognizer, recognizer.worker_pid


@pytest.mark.slow
def test_a_killed_worker_fails_its_calls_and_is_replaced(
    pool: RecognitionPool, phrases: list[str], workdir: Path
) -> None:
    doomed, old_pid = running_recognizer(pool, phrases)
    os.kill(old_pid, signal.SIGKILL)
    with pytest.raises(SpeechEngineError, match="stopped"):
        stream(doomed, say(workdir, "where is my order"))
    with pytest.raises(SpeechEngineError, match="restarted"):
        doomed.finish()  # it stays failed, even once a new process runs
    fresh = pool.recognizer(phrases)
    _, result = stream(fresh, say(workdir, "where is my order"))
    assert result.text == "where is my order"
    assert old_pid not in pool.worker_pids()


@pytest.mark.slow
def test_a_hung_worker_is_killed_after_the_timeout(
    pool: RecognitionPool, phrases: list[str], workdir: Path
) -> None:
    stuck, pid = running_recognizer(pool, phrases)
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(SpeechEngineError, match="did not answer within 2 s"):
            stuck.feed(say(workdir, "yes")[:CHUNK])
        assert pid not in pool.worker_pids()
    finally:
        # The pool killed it already; this only matters if the test failed first.
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)
    _, result = stream(pool.recognizer(phrases), say(workdir, "I forgot my password"))
    assert result.text == "i forgot my password"


@pytest.mark.slow
def test_a_worker_that_cannot_load_its_model_says_why() -> None:
    pool = RecognitionPool("vosk", vosk_model="/nonexistent/model", processes=1)
    try:
        recognizer = pool.recognizer(["yes", "no"])
        with pytest.raises(SpeechEngineError, match="Vosk model folder not found"):
            recognizer.feed(b"\0" * CHUNK)
    finally:
        pool.close()


def test_open_engine_pools_pocketsphinx_and_keeps_vosk_in_process(tmp_path: Path) -> None:
    pooled = open_engine("pocketsphinx")
    assert isinstance(pooled, RecognitionPool)
    assert pooled.processes == (os.cpu_count() or 1) and pooled.sample_rate == 16000
    assert isinstance(open_engine("pocketsphinx", processes=0), PocketSphinxEngine)
    assert isinstance(open_engine("pocketsphinx", processes=3), RecognitionPool)
    with pytest.raises(SpeechEngineError, match="not a Vosk model"):
        open_engine("vosk", vosk_model=str(tmp_path), processes=2)
    with pytest.raises(SpeechEngineError, match="IVR_VOSK_MODEL"):
        open_engine("vosk", processes=2)


def test_the_number_of_processes_is_a_setting(tmp_path: Path) -> None:
    assert load_settings(tmp_path, environ={}).asr_processes is None
    assert load_settings(tmp_path, environ={"IVR_ASR_PROCESSES": "0"}).asr_processes == 0
    with pytest.raises(ValueError, match="asr_processes"):
        load_settings(tmp_path, environ={"IVR_ASR_PROCESSES": "-1"})

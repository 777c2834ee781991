"""The media-stream transport end to end: a real WebSocket client speaking Twilio's protocol
sends espeak-ng speech as 8 kHz mu-law in 20 ms frames to the running server, which
recognises it with PocketSphinx and answers with pre-rendered prompt audio."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import pytest
import simple_websocket
from conftest import AUTH_TOKEN, make_settings
from helpers.stored import stored_call
from werkzeug.serving import make_server

from ivr.storage import repository
from ivr.storage.db import session_scope
from ivr.streams import token
from ivr.telephony.signature import sign
from ivr.testing.stream_caller import StreamCaller

pytestmark = [pytest.mark.slow, pytest.mark.realtime]


def speech(text: str, directory: Path, voice: str = "en-us") -> bytes:
    """`text` spoken by espeak-ng, as the raw 8 kHz mu-law Twilio sends."""
    wav = directory / f"{abs(hash((text, voice)))}.wav"
    raw = wav.with_suffix(".ulaw")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw",
                    str(raw), "reverse", "silence", "1", "0.02", "1%", "reverse"], check=True)
    return raw.read_bytes()


@pytest.fixture
def stream_server(tmp_path: Path) -> Iterator[tuple[str, object, object]]:
    """The real app (PocketSphinx streams) on a real socket, in this process."""
    from ivr.web import create_app

    settings = make_settings(f"sqlite:///{tmp_path / 'ivr.sqlite3'}", asr="pocketsphinx",
                             end_of_speech_ms=600)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.server_port}/voice/stream", settings, app
    finally:
        server.shutdown()


def caller_for(url: str, settings, call_sid: str | None = None) -> StreamCaller:  # type: ignore[no-untyped-def]
    sid = call_sid or f"CAstream{time.monotonic_ns()}"
    return StreamCaller(url, sid, token.issue(settings.secret, sid), caller="+14155550123")


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_incoming_call_connects_the_stream_with_a_token(tmp_path: Path) -> None:
    from ivr.web import create_app

    settings = make_settings(f"sqlite:///{tmp_path / 'ivr.sqlite3'}", asr="pocketsphinx")
    client = create_app(settings).test_client()
    form = {"CallSid": "CAabc", "From": "+14155550123"}
    signature = sign(AUTH_TOKEN, settings.public_url + "/voice/incoming", form)
    response = client.post("/voice/incoming", data=form,
                           headers={"X-Twilio-Signature": signature})
    root = ElementTree.fromstring(response.data)
    stream = root.find("Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://ivr.example.com/voice/stream"
    parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert token.verify(settings.secret, "CAabc", parameters["token"])
    assert root.find("Redirect").text == "https://ivr.example.com/voice/continue"


def test_disclosure_audio_starts_at_once_and_intent_by_voice(stream_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, settings, _ = stream_server
    call = caller_for(url, settings)
    call.connect()
    assert wait_for(lambda: call.received.media_times, 5)
    first_audio = call.received.media_times[0] - call.started_at
    assert first_audio < 2.0  # generous; the benchmark measures it properly
    assert call.wait_quiet()
    call.play(speech("where is my order", tmp_path))
    call.silence(1.5)
    _, turns, _ = stored_call(settings, call.call_sid)
    spoken = [turn for turn in turns if turn.kind == "speech"]
    assert spoken and spoken[0].heard == "where is my order"
    assert spoken[0].intent == "order_status"
    assert 0 < (spoken[0].asr_confidence or 0) <= 1
    call.hang_up()


def test_the_disclosure_starts_before_the_call_is_stored(stream_server) -> None:  # type: ignore[no-untyped-def]
    url, settings, _ = stream_server
    database = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
    database.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
    call = caller_for(url, settings)
    try:
        call.connect()
        assert wait_for(lambda: call.received.media_times, 5)
        with session_scope(settings.database_url) as session:
            assert repository.get_call(session, call.call_sid) is None
    finally:
        database.rollback()
        database.close()
    assert wait_for(lambda: call.received.marks, 15), "the disclosure plays to its end"
    db_call, _, _ = stored_call(settings, call.call_sid)
    assert db_call.status == "in-progress"
    call.hang_up()


def test_agent_from_partial_results_transfers_and_closes_the_stream(stream_server,  # type: ignore[no-untyped-def]
                                                                     tmp_path) -> None:
    url, settings, app = stream_server
    call = caller_for(url, settings)
    call.connect()
    assert call.wait_quiet()
    call.play(speech("I want to talk to an agent", tmp_path))
    finished_speaking = time.monotonic()
    assert call.wait_closed(timeout=20), "the stream closes so Twilio fetches the transfer"
    assert wait_for(lambda: call.received.closed_at is not None, 2)
    end_of_speech = settings.end_of_speech_ms / 1000
    assert call.received.closed_at - finished_speaking < end_of_speech, (
        "acted on the partial result, without waiting for the end-of-speech silence")
    db_call, turns, transfer = stored_call(settings, call.call_sid)
    assert transfer is not None and transfer.trigger == "caller_request"
    assert db_call.status == "transferring"
    assert [turn.intent for turn in turns if turn.kind == "speech"] == ["agent"]
    # Twilio now follows the <Redirect> after <Connect>: the transfer, from the stored state.
    form = {"CallSid": call.call_sid, "From": "+14155550123"}
    signature = sign(AUTH_TOKEN, settings.public_url + "/voice/continue", form)
    client = app.test_client()
    answer = ElementTree.fromstring(client.post(
        "/voice/continue", data=form, headers={"X-Twilio-Signature": signature}).data)
    number = answer.find("Dial/Number")
    assert number is not None and number.text == "+15005550006"
    assert number.get("url") == f"https://ivr.example.com/voice/whisper/{call.call_sid}"


def test_a_recognition_failure_sends_the_caller_to_a_person(stream_server,  # type: ignore[no-untyped-def]
                                                            tmp_path) -> None:
    url, settings, app = stream_server
    call = caller_for(url, settings)
    call.connect()
    assert call.wait_quiet()
    pool = app.extensions["ivr"].speech.loaded
    assert pool.worker_pids(), "PocketSphinx streams decode in worker processes by default"
    for pid in pool.worker_pids():
        os.kill(pid, signal.SIGKILL)
    call.play(speech("where is my order", tmp_path))
    assert call.wait_closed(timeout=20), "the stream closes so Twilio fetches the transfer"
    db_call, turns, transfer = stored_call(settings, call.call_sid)
    assert transfer is not None and transfer.trigger == "fault"
    assert db_call.status == "transferring"
    assert [turn.kind for turn in turns][-1] == "fault"
    # The next call gets a new worker process and is understood again.
    second = caller_for(url, settings)
    second.connect()
    assert second.wait_quiet()
    second.play(speech("where is my order", tmp_path))
    second.silence(1.5)
    _, turns, _ = stored_call(settings, second.call_sid)
    assert [turn.heard for turn in turns if turn.kind == "speech"] == ["where is my order"]
    second.hang_up()


def test_keys_work_on_the_stream(stream_server) -> None:  # type: ignore[no-untyped-def]
    url, settings, _ = stream_server
    call = caller_for(url, settings)
    call.connect()
    assert call.wait_quiet()
    call.press("1")
    assert call.wait_for_answer() and call.wait_quiet()
    call.press("123456")
    call.silence(1.0)
    _, turns, _ = stored_call(settings, call.call_sid)
    assert [turn.digits for turn in turns if turn.kind == "digits"] == ["1", "123456"]
    assert any(turn.action == "action_order_status" and turn.action_ok for turn in turns)
    call.hang_up()


def test_barge_in_clears_the_prompt(stream_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, settings, _ = stream_server
    call = caller_for(url, settings)
    call.connect()
    assert call.wait_quiet()
    call.press("1")  # "Please say or key in your six digit order number ..." (barge-in)
    call.silence(0.6)
    call.play(speech("one two three four five six", tmp_path))
    call.silence(1.2)
    assert call.received.clears, "the server told Twilio to stop the prompt"
    _, turns, _ = stored_call(settings, call.call_sid)
    assert any(turn.kind == "speech" and turn.node == "ask_order_number" for turn in turns)
    call.hang_up()


def test_end_of_utterance_waits_for_the_configured_silence(stream_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, settings, _ = stream_server
    call = caller_for(url, settings)
    call.connect()
    assert call.wait_quiet()
    call.press("3")  # opening hours, then "anything else?"
    assert call.wait_for_answer() and call.wait_quiet()
    turns_before = len(stored_call(settings, call.call_sid).turns)
    call.play(speech("I forgot my password", tmp_path))
    call.silence(0.3)  # shorter than end_of_speech_ms: not yet a turn
    assert len(stored_call(settings, call.call_sid).turns) == turns_before
    call.silence(1.0)
    assert wait_for(lambda: len(stored_call(settings, call.call_sid).turns) > turns_before, 3)
    call.hang_up()


def test_a_stream_without_a_valid_token_is_refused(stream_server) -> None:  # type: ignore[no-untyped-def]
    url, settings, _ = stream_server
    forged = StreamCaller(url, "CAforged", token.issue(b"someone else's key", "CAforged"))
    forged.connect()
    assert forged.wait_closed(timeout=5)
    assert not forged.received.media_times
    with session_scope(settings.database_url) as session:
        assert repository.get_call(session, "CAforged") is None
    borrowed = StreamCaller(url, "CAother", token.issue(settings.secret, "CAvictim"))
    borrowed.connect()
    assert borrowed.wait_closed(timeout=5) and not borrowed.received.media_times


def test_a_foreign_origin_or_bad_signature_cannot_open_the_stream(stream_server) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = stream_server
    with pytest.raises(simple_websocket.ConnectionError):
        simple_websocket.Client.connect(url, headers={"Origin": "https://evil.example"})
    with pytest.raises(simple_websocket.ConnectionError):
        simple_websocket.Client.connect(url, headers={"X-Twilio-Signature": "bogus"})

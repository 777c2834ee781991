"""The browser softphone: its page and JSON endpoints, and a real call from headless Chromium
whose microphone is a WAV file that asks for an agent."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import headless_chromium
from conftest import make_settings
from servers import free_port, serve
from sqlalchemy import select

from ivr.storage import repository
from ivr.storage.db import session_scope
from ivr.storage.models import Call
from ivr.streams import token as stream_token

ROOT = Path(__file__).resolve().parent.parent
SOFT_SID = re.compile(r"^CAsoft[0-9a-f]{26}$")


def new_session(client) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/softphone/session")
    assert response.status_code == 200
    return response.get_json()


# Page and endpoints, in process. ---------------------------------------------------------


def test_page_renders_with_its_assets(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/softphone")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "automated assistant" in html
    assert 'id="call"' in html and 'data-digit="0"' in html
    assert 'data-session-url="/softphone/session"' in html
    assert 'data-calls-url="/softphone/calls/CALL_SID"' in html
    assert "script-src 'self' blob:" in page.headers["Content-Security-Policy"]
    assert "://" not in html, "the page loads nothing from elsewhere"
    for asset, kind in (("softphone.js", "javascript"), ("softphone.css", "css")):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and kind in response.content_type
        response.close()


def test_session_gives_a_softphone_sid_and_a_token_that_verifies(client, settings) -> None:  # type: ignore[no-untyped-def]
    first, second = new_session(client), new_session(client)
    assert SOFT_SID.match(first["call_sid"]) and first["call_sid"] != second["call_sid"]
    assert stream_token.verify(settings.secret, first["call_sid"], first["token"])
    assert not stream_token.verify(settings.secret, second["call_sid"], first["token"])
    assert first["stream_url"] == "ws://localhost/voice/stream"
    secure = client.post("/softphone/session", base_url="https://ivr.example.com").get_json()
    assert secure["stream_url"] == "wss://ivr.example.com/voice/stream"


def test_calls_endpoint_needs_the_calls_own_token(client, settings) -> None:  # type: ignore[no-untyped-def]
    mine, other = new_session(client), new_session(client)
    url = f"/softphone/calls/{mine['call_sid']}"
    assert client.get(url).status_code == 403
    assert client.get(url, headers={"X-Softphone-Token": "123.abc"}).status_code == 403
    assert client.get(url, headers={"X-Softphone-Token": other["token"]}).status_code == 403
    expired = stream_token.issue(
        settings.secret, mine["call_sid"], now=time.time() - 10, ttl_seconds=1
    )
    assert client.get(url, headers={"X-Softphone-Token": expired}).status_code == 403
    # The right token for a call that has not started on the stream yet.
    response = client.get(url, headers={"X-Softphone-Token": mine["token"]})
    assert response.status_code == 404 and response.get_json()["error"]


def test_calls_endpoint_refuses_calls_that_are_not_softphone_calls(
    client,
    settings,  # type: ignore[no-untyped-def]
    new_call,
) -> None:
    phone_call = new_call()  # a real Twilio-shaped call, with a valid stream token for it
    phone_call.start()
    token = stream_token.issue(settings.secret, phone_call.call_sid)
    response = client.get(
        f"/softphone/calls/{phone_call.call_sid}", headers={"X-Softphone-Token": token}
    )
    assert response.status_code == 403 and "turns" not in response.get_json()
    for sid in ("CAsoft" + "0" * 25, "CAsoft" + "G" * 26, "CAsoft" + "0" * 27):
        token = stream_token.issue(settings.secret, sid)
        assert (
            client.get(f"/softphone/calls/{sid}", headers={"X-Softphone-Token": token}).status_code
            == 403
        )


def test_calls_endpoint_shows_turns_and_the_transfer(client, settings, new_call) -> None:  # type: ignore[no-untyped-def]
    # The stream path is not needed to fill the tables: a webhook call with a softphone SID.
    session = new_session(client)
    call = new_call(call_sid=session["call_sid"])
    call.start()
    call.say("I want to talk to an agent")
    response = client.get(
        f"/softphone/calls/{session['call_sid']}", headers={"X-Softphone-Token": session["token"]}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    view = response.get_json()
    assert set(view) == {"status", "state", "turns", "transfer"}
    assert [turn["kind"] for turn in view["turns"]] == ["start", "speech"]
    assert set(view["turns"][0]) == {
        "seq",
        "kind",
        "heard",
        "digits",
        "intent",
        "intent_confidence",
        "reply",
        "action",
        "action_ok",
    }
    assert "automated assistant" in view["turns"][0]["reply"]
    said = view["turns"][1]
    assert said["heard"] == "I want to talk to an agent" and said["intent"] == "agent"
    assert 0 < said["intent_confidence"] <= 1
    transfer = view["transfer"]
    assert transfer["trigger"] == "caller_request"
    assert transfer["reason"] == "the caller asked for a person"
    assert transfer["summary"]["spoken"].startswith("Transferred because")


def test_softphone_can_be_switched_off(sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from ivr.web import create_app

    client = create_app(make_settings(sqlite_url, softphone=False)).test_client()
    assert client.get("/softphone").status_code == 404
    assert client.post("/softphone/session").status_code in (404, 405)


# A real call from a real browser. --------------------------------------------------------


def make_microphone_wav(folder: Path) -> Path:
    """Silence while the disclosure plays, the request, silence (Chromium loops the file)."""
    speech, microphone = folder / "speech.wav", folder / "microphone.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech), "I want to talk to an agent"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "sox",
            str(speech),
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(microphone),
            "gain",
            "-n",
            "-3",
            "pad",
            "6",
            "4",
        ],
        check=True,
        capture_output=True,
    )
    return microphone


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`ivr serve` as a deployment runs it, with self-hosted speech (PocketSphinx)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    env = {
        **os.environ,
        "IVR_ASR": "pocketsphinx",
        "IVR_DATABASE_URL": database_url,
        "IVR_CONFIG_DIR": str(ROOT / "config"),
        "IVR_DIALOGS": str(ROOT / "dialogs"),
        "IVR_PUBLIC_URL": base_url,
        "IVR_SOFTPHONE": "true",
    }
    log = tmp_path / "server.log"
    process = serve(env, port, log)
    try:
        yield base_url, database_url, log
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Debian's headless Chromium whose microphone plays `microphone.wav`."""
    microphone = make_microphone_wav(tmp_path)
    with headless_chromium(tmp_path / "chromium-profile", "--use-fake-ui-for-media-stream",
                           "--use-fake-device-for-media-stream",
                           f"--use-file-for-fake-audio-capture={microphone}",
                           "--autoplay-policy=no-user-gesture-required") as driver:
        yield driver


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.realtime
def test_browser_call_asking_for_an_agent_ends_in_a_transfer(
    live_server,
    chromium,  # type: ignore[no-untyped-def]
    tmp_path,
) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base_url, database_url, server_log = live_server
    chromium.get(base_url + "/softphone")
    assert "automated assistant" in chromium.find_element(By.CSS_SELECTOR, ".disclosure").text
    chromium.find_element(By.ID, "call").click()
    transfer = chromium.find_element(By.ID, "transfer")
    try:
        WebDriverWait(chromium, 60, poll_frequency=0.25).until(lambda _: transfer.is_displayed())
    except TimeoutException:
        pytest.fail(
            "no transfer within 60 s\n"
            f"status: {chromium.find_element(By.ID, 'status').text}\n"
            f"transcript:\n{chromium.find_element(By.ID, 'transcript').text}\n"
            f"stats: {chromium.execute_script('return window.softphoneStats')}\n"
            f"browser log: {chromium.get_log('browser')[-20:]}\n"
            f"server log:\n{server_log.read_text()[-4000:]}"
        )

    assert chromium.find_element(By.ID, "transfer-reason").text == "the caller asked for a person"
    assert chromium.find_element(By.ID, "transfer-spoken").text.startswith("Transferred because")
    assert chromium.find_elements(By.CSS_SELECTOR, '#transcript [data-intent="agent"]'), (
        chromium.find_element(By.ID, "transcript").text
    )
    # The status settles once the server has closed the stream.
    WebDriverWait(chromium, 10).until(
        lambda driver: "Transferred" in driver.find_element(By.ID, "status").text
    )
    assert chromium.find_element(By.ID, "call").text == "Call"
    stats = chromium.execute_script("return window.softphoneStats")
    assert stats["framesSent"] > 50, stats  # more than a second of microphone audio went out
    assert stats["framesPlayed"] > 50, stats  # and the bot's voice came back
    assert stats["marksEchoed"] >= 1, stats  # played to the end of at least one prompt
    chromium.save_screenshot(
        os.environ.get("IVR_SOFTPHONE_SCREENSHOT", str(tmp_path / "softphone.png"))
    )

    with session_scope(database_url) as session:
        calls = list(session.scalars(select(Call).where(Call.call_sid.like("CAsoft%"))))
        assert len(calls) == 1
        stored = repository.latest_transfer(session, calls[0])
        assert stored is not None and stored.trigger == "caller_request"
        assert any(turn.intent == "agent" for turn in repository.turns_of(session, calls[0]))

"""The live console in a real browser: headless Chromium signs in as an agent and opens
/console/live; a signed simulated call asks for a person and rings that agent; the card
appears with the summary; Accept bridges the agent's leg through Twilio's REST API; then the
agent leaves feedback on the call page.

The server runs in a thread of this process (werkzeug, threaded) so that `responses` can
stand in for Twilio's REST API, with every request to 127.0.0.1 passed through."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from browser import headless_chromium
from conftest import AUTH_TOKEN, make_settings
from servers import free_port
from sqlalchemy import select
from werkzeug.serving import make_server

from ivr.config import Settings
from ivr.storage import audit
from ivr.storage.db import session_scope
from ivr.storage.models import Feedback, Transfer
from ivr.testing.simulated_call import SimulatedCall, http_post

ANN_TARGET = "+15005550006"
PASSWORD = "browser test password"
TWILIO_CALLS = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32 + "/Calls/"
MARKUP = "<img src=x onerror=window.pwned=1>"



@pytest.fixture
def browser(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        yield driver


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    twilio: responses.RequestsMock


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    from ivr.web import create_app

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = make_settings(f"sqlite:///{tmp_path / 'ivr.sqlite3'}", public_url=base_url)
    app = create_app(settings)
    app.config.update(IVR_LIVE_POLL_SECONDS=0.2, IVR_LIVE_KEEPALIVE_SECONDS=1,
                      IVR_LIVE_STREAM_SECONDS=60)
    app.extensions["ivr"].accounts.add("ann", PASSWORD, "agent", agent_target=ANN_TARGET,
                                          actor="test")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as twilio:
        twilio.add_passthru("http://127.0.0.1")
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield LiveServer(base_url, settings, twilio)
        finally:
            server.shutdown()
            thread.join(timeout=10)


@pytest.mark.slow
@pytest.mark.browser
def test_an_agent_takes_a_call_on_screen_and_rates_the_assistant(live_server,  # type: ignore[no-untyped-def]
                                                                  browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def wait_for(condition, timeout: float = 15):  # type: ignore[no-untyped-def]
        return WebDriverWait(browser, timeout).until(condition)

    base = live_server.base_url
    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys("ann")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "sign-in").click()
    wait_for(lambda driver: driver.current_url.endswith("/console"))
    browser.find_element(By.LINK_TEXT, "Incoming").click()
    wait_for(lambda driver: driver.find_element(By.ID, "live-status").text
             == "Connected: waiting for calls.")
    assert browser.find_element(By.ID, "no-calls").is_displayed()

    call = SimulatedCall(http_post(base), auth_token=AUTH_TOKEN, public_url=base)
    assert "automated assistant" in call.start().text
    call.say(f"where is my order {MARKUP}")
    assert call.say("I want to talk to an agent").dial_target == ANN_TARGET
    call.agent_hears()  # ann's phone answered: the whisper request names the agent's leg
    leg = "CAagent" + call.call_sid[-20:]
    live_server.twilio.get(TWILIO_CALLS + leg + ".json", json={
        "sid": leg, "status": "in-progress", "parent_call_sid": call.call_sid})
    live_server.twilio.post(TWILIO_CALLS + leg + ".json", json={
        "sid": leg, "status": "in-progress", "parent_call_sid": call.call_sid})

    card = wait_for(lambda driver: driver.find_element(
        By.CSS_SELECTOR, f'section.incoming[data-call="{call.call_sid}"]'))
    assert card.find_element(By.TAG_NAME, "h2").text == \
        "Incoming call: check the status of an order"
    summary = card.find_element(By.CSS_SELECTOR, "dl.summary").text
    assert "the caller asked for a person" in summary and "order_status (" in summary
    assert "caller_request" not in summary, "the trigger in words"
    assert card.find_element(By.CSS_SELECTOR, "p.spoken").text.startswith("Transferred because")
    transcript = card.find_element(By.CSS_SELECTOR, "table.transcript").text
    assert f"where is my order {MARKUP}" in transcript, "caller text shown as text"
    assert card.find_elements(By.TAG_NAME, "img") == []
    assert browser.execute_script("return window.pwned") is None
    sentiment = card.find_element(By.CSS_SELECTOR, "p.sentiment").text
    assert sentiment == "Not measured for this call." or sentiment.count(",") == 1, \
        "a score (or a dash) for each of the caller's two turns"
    assert "No earlier calls" in card.find_element(By.CSS_SELECTOR, ".past-contacts").text
    assert not browser.find_element(By.ID, "no-calls").is_displayed()
    assert not browser.find_element(By.ID, "live-status").is_displayed(), \
        "no \"waiting for calls\" while a call rings"
    browser.save_screenshot(str(tmp_path / "live-incoming.png"))

    card.find_element(By.CSS_SELECTOR, "button.accept").click()
    wait_for(lambda driver: "You took the call" in card.find_element(
        By.CSS_SELECTOR, ".answer .message").text)
    assert browser.find_element(By.ID, "live-status").is_displayed(), "no card rings now"
    updates = [call_ for call_ in live_server.twilio.calls if call_.request.method == "POST"]
    assert [(update.request.url, parse_qs(update.request.body)) for update in updates] == [
        (TWILIO_CALLS + leg + ".json",
         {"Twiml": ['<?xml version="1.0" encoding="UTF-8"?><Response />']})]
    with session_scope(live_server.settings.database_url) as session:
        transfer = session.scalars(select(Transfer)).one()
        assert (transfer.outcome, transfer.accepted_by) == ("accepted", ANN_TARGET)
        assert transfer.agent_call_sid == leg
        assert [(entry.actor, entry.target) for entry in
                audit.entries(session, action=audit.ACCEPT_ON_SCREEN)] == [("ann", call.call_sid)]

    card.find_element(By.CSS_SELECTOR, "a.open-call").click()
    wait_for(lambda driver: driver.current_url.endswith(f"/console/calls/{call.call_sid}"))
    browser.find_element(By.ID, "intent-wrong-1").click()
    browser.find_element(By.ID, "summary-right-1").click()
    Select(browser.find_element(By.ID, "corrected-intent-1")).select_by_value("reset_password")
    browser.find_element(By.ID, "correction-1").send_keys(
        "Locked out after a charge on card 4111 1111 1111 1111")
    browser.find_element(By.ID, "save-feedback-1").click()
    wait_for(lambda driver: "Thank you: your feedback is saved." in driver.find_element(
        By.CSS_SELECTOR, "p.notice").text)
    assert browser.find_element(By.ID, "intent-wrong-1").is_selected()
    browser.save_screenshot(str(tmp_path / "live-feedback.png"))
    with session_scope(live_server.settings.database_url) as session:
        rows = [(row.username, row.intent_correct, row.summary_correct, row.corrected_intent,
                 row.correction) for row in session.scalars(select(Feedback))]
    assert rows == [("ann", False, True, "reset_password",
                     "Locked out after a charge on card [CARD]")]
    refused = [entry["message"] for entry in browser.get_log("browser")
               if "Content Security Policy" in entry["message"]]
    assert refused == [], "the page's script and its requests pass the page's own CSP"

"""The console in a real browser: `ivr serve` in its own process, users made with `ivr users`,
a call transferred and accepted through signed webhooks, and headless Chromium signing in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from browser import headless_chromium
from helpers.stored import audit_entries
from servers import free_port, serve

from ivr.storage import audit
from ivr.testing.simulated_call import SimulatedCall, http_post

ROOT = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "browser-test-auth-token"
PASSWORD = "browser test password"


@dataclass
class Server:
    base_url: str
    database_url: str
    log: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`ivr serve` on a fresh SQLite file, with an agent and an admin made by `ivr users add`."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    env = {**os.environ, "IVR_DATABASE_URL": database_url, "IVR_CONFIG_DIR": str(ROOT / "config"),
           "IVR_DIALOGS": str(ROOT / "dialogs"), "IVR_PUBLIC_URL": base_url,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "IVR_TTS": "twilio",
           "IVR_SECRET_KEY": "browser-test-secret", "IVR_LOG_FORMAT": "text"}
    for name, role, extra in (("ann", "agent", ["--agent-target", "+15005550006"]),
                              ("ada", "admin", [])):
        subprocess.run([sys.executable, "-m", "ivr.cli", "users", "add", name, "--role", role,
                        *extra, "--password-stdin"], input=PASSWORD + "\n", env=env, cwd=ROOT,
                       check=True, capture_output=True, text=True, timeout=60)
    log = tmp_path / "server.log"
    process = serve(env, port, log)
    try:
        yield Server(base_url, database_url, log)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def accepted_call(base_url: str) -> str:
    """A caller asks about an order, then for a person; ann's phone takes the call."""
    call = SimulatedCall(http_post(base_url), auth_token=AUTH_TOKEN, public_url=base_url)
    assert "automated assistant" in call.start().text
    call.say("where is my order")
    assert call.say("I want to talk to an agent").dial_target == "+15005550006"
    call.agent_hears()
    assert "Connecting you now" in call.agent_presses("1").text
    return call.call_sid


@pytest.mark.slow
@pytest.mark.browser
def test_an_agent_signs_in_reads_their_call_and_is_kept_out_of_admin(server, chromium,  # type: ignore[no-untyped-def]
                                                                      tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    call_sid = accepted_call(server.base_url)

    chromium.get(server.base_url + "/console")
    WebDriverWait(chromium, 10).until(lambda driver: driver.current_url.endswith("/login"))
    chromium.find_element(By.ID, "username").send_keys("ann")
    chromium.find_element(By.ID, "password").send_keys(PASSWORD)
    chromium.find_element(By.ID, "sign-in").click()
    WebDriverWait(chromium, 10).until(lambda driver: driver.current_url.endswith("/console"))
    assert chromium.find_element(By.ID, "signed-in-as").text == "ann (agent)"
    cookie = chromium.get_cookie("session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    rows = chromium.find_elements(By.CSS_SELECTOR, "#transfers tbody tr")
    assert len(rows) == 1, chromium.page_source
    assert "the caller asked for a person" in rows[0].text
    assert "check the status of an order" in rows[0].text
    rows[0].find_element(By.CSS_SELECTOR, "a.open-call").click()
    WebDriverWait(chromium, 10).until(
        lambda driver: driver.current_url.endswith(f"/console/calls/{call_sid}"))
    transcript = chromium.find_element(By.ID, "transcript").text
    assert "where is my order" in transcript and "I want to talk to an agent" in transcript
    assert "automated assistant" in transcript
    assert chromium.find_element(By.ID, "spoken-summary").text.startswith("Transferred because")
    chromium.save_screenshot(str(tmp_path / "console-call.png"))

    views = [(entry.actor, entry.target)
             for entry in audit_entries(server.database_url, action=audit.VIEW_CALL)]
    assert views == [("ann", call_sid)]

    chromium.get(server.base_url + "/admin/users")
    assert chromium.find_element(By.ID, "error-title").text == "Not allowed"
    assert "ada" not in chromium.find_element(By.TAG_NAME, "main").text
    as_browser = requests.get(server.base_url + "/admin/users", timeout=10,
                              cookies={"session": cookie["value"]}, allow_redirects=False)
    assert as_browser.status_code == 403

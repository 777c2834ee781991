"""`ivr serve` in development: with no public URL configured, the server signs-checks and
prints the address it is bound to, so Twilio-style requests to any port are accepted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from servers import free_port, wait_for_health

from ivr.config import DEVELOPMENT_AUTH_TOKEN
from ivr.telephony.signature import sign

ROOT = Path(__file__).resolve().parent.parent
FORM = {"CallSid": "CA" + "5" * 32, "From": "+14155550123", "To": "+15005550006",
        "AccountSid": "AC" + "0" * 32, "CallStatus": "ringing", "Direction": "inbound"}


@pytest.mark.slow
def test_the_development_webhook_url_follows_the_bound_port(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("IVR_", "TWILIO_"))}
    env.update({"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
                "IVR_CONFIG_DIR": str(ROOT / "config"), "IVR_DIALOGS": str(ROOT / "dialogs"),
                "IVR_TTS": "twilio"})
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--port", str(port), "--workers", "1"],
            env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, server, log)
        right = requests.post(base + "/voice/incoming", data=FORM, timeout=10, headers={
            "X-Twilio-Signature": sign(DEVELOPMENT_AUTH_TOKEN, base + "/voice/incoming", FORM)})
        wrong = requests.post(base + "/voice/incoming", data=FORM, timeout=10, headers={
            "X-Twilio-Signature": sign(DEVELOPMENT_AUTH_TOKEN,
                                       "http://localhost:5000/voice/incoming", FORM)})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"Twilio webhook: {base}/voice/incoming" in log.read_text()
    assert right.status_code == 200 and "automated assistant" in right.text
    assert wrong.status_code == 403

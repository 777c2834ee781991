"""A simulated phone call that drives the webhooks exactly as Twilio would: signed form
posts to `/voice/incoming` and `/voice/turn`, TwiML back. Used by `ivr simulate`, the tests
and the benchmark."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ivr.telephony.signature import sign

if TYPE_CHECKING:
    import requests
    from werkzeug.test import Client

Post = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]
"""post(path, form, headers) -> (status, body)"""


@dataclass
class Heard:
    """What one webhook answer makes the caller experience."""

    status: int
    twiml: str
    says: list[str] = field(default_factory=list)
    listening: bool = False
    gather_action: str | None = None  # where the caller's answer goes
    dial_target: str | None = None
    whisper_url: str | None = None
    dial_action: str | None = None
    recording: bool = False
    hangup: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.says)


def parse_twiml(status: int, body: str) -> Heard:
    """Read a TwiML answer the way a caller would live through it."""
    heard = Heard(status, body)
    if status != 200:
        return heard
    root = ElementTree.fromstring(body)
    for element in root.iter():
        match element.tag:
            case "Say":
                heard.says.append(element.text or "")
            case "Gather":
                heard.gather_action = element.get("action")
                heard.listening = heard.listening or "speech" in element.get("input", "") or (
                    "dtmf" in element.get("input", ""))
            case "Dial":
                heard.dial_action = element.get("action")
                for target in element:
                    heard.dial_target = (target.text or "").strip()
                    if target.tag == "Client":
                        heard.dial_target = "client:" + heard.dial_target
                    heard.whisper_url = target.get("url")
            case "Record":
                heard.recording = True
            case "Hangup":
                heard.hangup = True
    return heard


class SimulatedCall:
    """One caller. `post` sends a form to a path of the server under test."""

    def __init__(
        self,
        post: Post,
        *,
        auth_token: str,
        public_url: str,
        call_sid: str | None = None,
        caller: str = "+14155550123",
    ):
        self.post = post
        self.auth_token = auth_token
        self.public_url = public_url.rstrip("/")
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.caller = caller
        self.last: Heard | None = None

    def send(self, path: str, extra: dict[str, str] | None = None) -> Heard:
        form = {"CallSid": self.call_sid, "AccountSid": "AC" + "0" * 32, "From": self.caller,
                "To": "+15005550006", "CallStatus": "in-progress", "Direction": "inbound"}
        form.update(extra or {})
        if path.startswith(self.public_url):
            path = path.removeprefix(self.public_url)
        signature = sign(self.auth_token, self.public_url + path, form)
        status, body = self.post(path, form, {"X-Twilio-Signature": signature})
        self.last = parse_twiml(status, body)
        return self.last

    def start(self, flow: str | None = None) -> Heard:
        return self.send("/voice/incoming" + (f"?flow={flow}" if flow else ""))

    def say(self, text: str, confidence: float = 0.92) -> Heard:
        return self.send("/voice/turn", {"SpeechResult": text, "Confidence": f"{confidence}"})

    def press(self, digits: str) -> Heard:
        return self.send("/voice/turn", {"Digits": digits})

    def silence(self) -> Heard:
        return self.send("/voice/turn")

    def agent_hears(self) -> Heard:
        """The whisper the agent gets when the transfer rings them."""
        assert self.last and self.last.whisper_url, "the call is not ringing an agent"
        return self.send(self.last.whisper_url, {"CallSid": "CAagent" + self.call_sid[-20:],
                                                 "ParentCallSid": self.call_sid})

    def agent_presses(self, digits: str) -> Heard:
        return self.send(f"/voice/whisper/{self.call_sid}",
                         {"CallSid": "CAagent" + self.call_sid[-20:], "Digits": digits,
                          "ParentCallSid": self.call_sid})

    def dial_ends(self, dial_status: str) -> Heard:
        return self.send(f"/voice/dial-result/{self.call_sid}", {"DialCallStatus": dial_status})

    def hang_up(self, duration: int = 30) -> Heard:
        return self.send("/voice/status", {"CallStatus": "completed",
                                           "CallDuration": str(duration)})


def flask_post(client: Client) -> Post:
    """A `Post` over a Flask test client (in-process, through the real WSGI app)."""

    def post(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(path, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    return post


def http_post(base_url: str, session: requests.Session | None = None) -> Post:
    """A `Post` over HTTP to a running server."""
    import requests

    http = session or requests.Session()

    def post(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = http.post(base_url.rstrip("/") + path, data=form, headers=headers, timeout=10)
        return response.status_code, response.text

    return post

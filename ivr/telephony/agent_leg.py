"""The agent's leg of a direct (`<Dial>`) transfer, on Twilio's side through the REST API:
is it still live, take the call (bridge), pass it (hang up that leg)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.telephony import twiml

TIMEOUT_SECONDS = 5.0
T = TypeVar("T")


class AgentLegError(RuntimeError):
    """Twilio refused or could not be reached; nothing changed on the call. Carries Twilio's
    HTTP status and error code, never its error text (which can quote phone numbers)."""

    def __init__(self, what: str, http_status: int | None = None, code: int | None = None):
        super().__init__(f"{what}: Twilio error {code} (HTTP {http_status})"
                         if http_status else f"{what}: Twilio could not be reached")
        self.http_status = http_status
        self.code = code


def is_live_leg_of(account_sid: str, auth_token: str, agent_call_sid: str,
                   parent_call_sid: str) -> bool:
    """Whether `agent_call_sid` is an answered, ongoing leg dialled from `parent_call_sid`. A
    leg that rang an earlier agent has ended, so it is never bridged or hung up by mistake."""
    call = _request("checking the agent's leg", account_sid, auth_token,
                    lambda client: client.calls(agent_call_sid).fetch())
    return call.status == "in-progress" and call.parent_call_sid == parent_call_sid


def bridge(account_sid: str, auth_token: str, agent_call_sid: str) -> None:
    """Take the call. The whisper is the TwiML the agent's leg runs (`<Number url>`) before
    the parties are connected; replacing it with an empty document ends it at once, and
    `<Dial>` connects the two legs, as when the agent presses 1."""
    _request("bridging the agent's leg", account_sid, auth_token,
             lambda client: client.calls(agent_call_sid).update(twiml=twiml.empty()))


def hang_up(account_sid: str, auth_token: str, agent_call_sid: str) -> None:
    """Pass the call: end the agent's leg, so `<Dial action>` moves on to the next agent."""
    _request("ending the agent's leg", account_sid, auth_token,
             lambda client: client.calls(agent_call_sid).update(status="completed"))


def _request(what: str, account_sid: str, auth_token: str, send: Callable[[Client], T]) -> T:
    client = Client(account_sid, auth_token,
                    http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS))
    try:
        return send(client)
    except TwilioException as error:
        raise AgentLegError(what, getattr(error, "status", None),
                            getattr(error, "code", None)) from error
    except requests.RequestException as error:
        raise AgentLegError(what) from error

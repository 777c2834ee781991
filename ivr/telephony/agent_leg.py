"""The agent's leg of a transfer, on Twilio's side through the REST API: is it still live,
take the call, pass it (hang up that leg)."""

from __future__ import annotations

from ivr.telephony import twiml
from ivr.telephony.rest import TwilioUnavailable, call_twilio, client

TIMEOUT_SECONDS = 5.0
AgentLegError = TwilioUnavailable
"""Twilio refused or could not be reached; nothing changed on the call."""


def is_live_leg_of(account_sid: str, auth_token: str, agent_call_sid: str,
                   parent_call_sid: str | None) -> bool:
    """Whether `agent_call_sid` is an answered, ongoing leg (dialled from `parent_call_sid`,
    for a `<Dial>` transfer). A leg that rang an earlier agent has ended, so it is never
    bridged or hung up by mistake."""
    call = call_twilio("checking the agent's leg", lambda: client(
        account_sid, auth_token, TIMEOUT_SECONDS).calls(agent_call_sid).fetch())
    return call.status == "in-progress" and (
        parent_call_sid is None or call.parent_call_sid == parent_call_sid)


def bridge(account_sid: str, auth_token: str, agent_call_sid: str,
           document: str | None = None) -> None:
    """Take the call: replace the whisper the agent's leg runs with `document`. For `<Dial>`
    (the default, an empty document) the whisper ends at once and `<Dial>` connects the two
    legs, as when the agent presses 1; for a conference it is the TwiML that joins it."""
    body = document or twiml.empty()
    call_twilio("bridging the agent's leg", lambda: client(
        account_sid, auth_token, TIMEOUT_SECONDS).calls(agent_call_sid).update(twiml=body))


def hang_up(account_sid: str, auth_token: str, agent_call_sid: str) -> None:
    """Pass the call: end the agent's leg, so the next agent is rung."""
    call_twilio("ending the agent's leg", lambda: client(
        account_sid, auth_token, TIMEOUT_SECONDS).calls(agent_call_sid).update(
            status="completed"))

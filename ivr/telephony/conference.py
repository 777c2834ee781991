"""Conference warm transfer on Twilio's side: the caller waits in a named conference with hold
music (`twiml.ConferencePlan`), the agent's leg is created through the REST API with the
whisper, and joins on 1.

TwiML documents and REST requests only; what to do when is decided in `ivr.app.handoff`.
"""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, VoiceResponse

from ivr.telephony.rest import call_twilio, client
from ivr.telephony.twiml import Plays, Voice, speak

AGENT_LEG_EVENTS = ["initiated", "ringing", "answered", "completed"]


def room(call_sid: str) -> str:
    """The conference a transferred caller waits in (named after their call, nothing else)."""
    return f"ivr-{call_sid}"


def hold(update: str, music_url: str, voice: Voice, plays: Plays = ()) -> str:
    """The conference's wait TwiML: an update, then music. Twilio asks again when it ends."""
    response = VoiceResponse()
    if update:
        speak(response, update, voice, plays)
    response.play(music_url)
    return str(response)


def agent_joins(call_sid: str) -> str:
    """The agent accepted: into the caller's conference, which ends when the agent leaves."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference(room(call_sid), start_conference_on_enter=True,
                    end_conference_on_exit=True, beep=False)
    response.append(dial)
    return str(response)


def ring_agent(account_sid: str, auth_token: str, *, to: str, from_: str, answer_url: str,
               status_url: str, ring_seconds: int) -> str:
    """Create the agent's leg; Twilio fetches `answer_url` (the whisper) when they answer and
    posts the leg's progress to `status_url`. Returns the leg's call SID."""
    call = call_twilio("ringing an agent", lambda: client(account_sid, auth_token).calls.create(
        to=to, from_=from_, url=answer_url, method="POST", status_callback=status_url,
        status_callback_method="POST", status_callback_event=AGENT_LEG_EVENTS,
        timeout=ring_seconds))
    return str(call.sid)


def end_leg(account_sid: str, auth_token: str, call_sid: str, *, ringing: bool) -> None:
    """Hang up a call: `canceled` while it still rings, `completed` once answered."""
    status = "canceled" if ringing else "completed"
    call_twilio("ending a call", lambda: client(account_sid, auth_token).calls(call_sid)
                .update(status=status))


def redirect(account_sid: str, auth_token: str, call_sid: str, url: str) -> None:
    """Send a live call to new TwiML at `url` (a caller waiting for nobody: the fallback)."""
    call_twilio("redirecting a call", lambda: client(account_sid, auth_token).calls(call_sid)
                .update(url=url, method="POST"))

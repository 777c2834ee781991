"""The conference transfer's Twilio side: TwiML documents and REST requests (`responses`)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from urllib.parse import parse_qs

import pytest
import responses

from ivr.dialog import Transfer
from ivr.telephony import conference, twiml
from ivr.telephony.rest import TwilioUnavailable
from ivr.telephony.twiml import Voice

ACCOUNT = "AC" + "1" * 32
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls"
AGENT_LEG = "CA" + "a" * 32


def test_the_caller_holds_in_a_conference_named_after_the_call_only() -> None:
    plan = twiml.ConferencePlan("Please hold.", conference.room("CA123"),
                                wait_url="https://x/hold", action_url="https://x/after")
    root = ElementTree.fromstring(twiml.render([Transfer(reason="asked")], voice=Voice(),
                                               turn_url="https://x/turn", handover=plan))
    assert root.find("Say").text == "Please hold."  # type: ignore[union-attr]
    dial = root.find("Dial")
    assert dial is not None and dial.get("action") == "https://x/after"
    room = dial.find("Conference")
    assert room is not None and room.text == "ivr-CA123"
    assert room.get("startConferenceOnEnter") == "false"
    assert room.get("endConferenceOnExit") == "true"
    assert room.get("waitUrl") == "https://x/hold"


def test_the_agent_starts_the_conference_and_ends_it_on_leaving() -> None:
    room = ElementTree.fromstring(conference.agent_joins("CA123")).find("Dial/Conference")
    assert room is not None and room.text == "ivr-CA123"
    assert room.get("startConferenceOnEnter") == "true"
    assert room.get("endConferenceOnExit") == "true"


def test_hold_plays_an_update_then_music() -> None:
    root = ElementTree.fromstring(conference.hold("You're next.", "https://x/m.wav", Voice()))
    assert [child.tag for child in root] == ["Say", "Play"]


@responses.activate
def test_ringing_an_agent_creates_a_call_with_the_whisper_and_status_callbacks() -> None:
    responses.post(CALLS + ".json", status=201, json={"sid": AGENT_LEG, "status": "queued"})
    sid = conference.ring_agent(ACCOUNT, "token", to="+15005550006", from_="+15005550001",
                                answer_url="https://x/agent", status_url="https://x/status",
                                ring_seconds=20)
    assert sid == AGENT_LEG
    form = parse_qs(responses.calls[0].request.body)
    assert form["To"] == ["+15005550006"] and form["Url"] == ["https://x/agent"]
    assert form["StatusCallback"] == ["https://x/status"] and form["Timeout"] == ["20"]
    assert set(form["StatusCallbackEvent"]) == set(conference.AGENT_LEG_EVENTS)


@responses.activate
@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_twilio_errors_become_one_clear_error_without_twilio_text(status: int) -> None:
    responses.post(CALLS + ".json", status=status,
                   json={"code": 21211, "message": "The 'To' number +15005550006 is not valid"})
    with pytest.raises(TwilioUnavailable) as raised:
        conference.ring_agent(ACCOUNT, "token", to="+15005550006", from_="+15005550001",
                              answer_url="https://x/a", status_url="https://x/s",
                              ring_seconds=20)
    assert "5550006" not in str(raised.value) and str(status) in str(raised.value)


@responses.activate
@pytest.mark.parametrize(("ringing", "status"), [(True, "canceled"), (False, "completed")])
def test_ending_a_leg_cancels_or_completes_it(ringing: bool, status: str) -> None:
    responses.post(f"{CALLS}/{AGENT_LEG}.json", status=200, json={"sid": AGENT_LEG})
    conference.end_leg(ACCOUNT, "token", AGENT_LEG, ringing=ringing)
    assert parse_qs(responses.calls[0].request.body)["Status"] == [status]


@responses.activate
def test_redirecting_a_waiting_caller() -> None:
    responses.post(f"{CALLS}/CAcaller.json", status=200, json={"sid": "CAcaller"})
    conference.redirect(ACCOUNT, "token", "CAcaller", "https://x/fallback")
    assert parse_qs(responses.calls[0].request.body)["Url"] == ["https://x/fallback"]

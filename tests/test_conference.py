"""Conference warm transfer (`[transfer] mode = "conference"`) through signed webhooks, with
Twilio's REST API answered by `responses`: the caller holds, agents are rung one by one over
REST, the one who presses 1 joins; declines, no answer, Twilio errors and a caller hanging up
are each handled and stored with their outcome type."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from urllib.parse import parse_qs

import pytest
import responses
from conftest import AUTH_TOKEN, make_settings
from helpers.stored import latest_transfer

from ivr.testing.simulated_call import SimulatedCall, flask_post

ACCOUNT = "AC00000000000000000000000000000000"
CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls"
FIRST_LEG, SECOND_LEG = "CA" + "1" * 32, "CA" + "2" * 32
FIRST_AGENT, SECOND_AGENT = "+15005550006", "client:support-desk"  # config/ivr.toml


@pytest.fixture
def line(sqlite_url: str):  # type: ignore[no-untyped-def]
    """A server in conference mode, and a way to place calls to it."""
    from ivr.web import create_app

    settings = make_settings(sqlite_url)
    settings = settings.model_copy(update={"transfer": settings.transfer.model_copy(
        update={"mode": "conference", "caller_id": "+15005550001"})})
    assert settings.transfer.queues["support"].targets == [FIRST_AGENT, SECOND_AGENT]
    client = create_app(settings).test_client()

    def new_call() -> SimulatedCall:
        return SimulatedCall(flask_post(client), auth_token=AUTH_TOKEN,
                             public_url=settings.public_url)

    return new_call, settings


def ring_legs(*legs: str) -> None:
    """Twilio creates these agent legs, in order."""
    for leg in legs:
        responses.post(CALLS + ".json", status=201, json={"sid": leg, "status": "queued"})


def created_calls() -> list[dict[str, list[str]]]:
    return [parse_qs(call.request.body) for call in responses.calls
            if call.request.url == CALLS + ".json"]


def agent_leg(call: SimulatedCall, leg: str, path: str, **form: str):  # type: ignore[no-untyped-def]
    """A request Twilio makes on the agent's leg (its own CallSid)."""
    return call.send(path, {"CallSid": leg, "From": "+15005550001", **form})


def escalated(new_call) -> SimulatedCall:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.say("I want to talk to a person")
    return call


@responses.activate
def test_the_caller_holds_while_the_agent_is_rung_and_joins_on_1(line) -> None:  # type: ignore[no-untyped-def]
    new_call, settings = line
    ring_legs(FIRST_LEG)
    call = escalated(new_call)
    room = ElementTree.fromstring(call.last.twiml).find("Dial/Conference")  # type: ignore[union-attr]
    assert room is not None and room.text == f"ivr-{call.call_sid}"
    assert room.get("waitUrl") == f"{settings.public_url}/voice/hold/{call.call_sid}"
    assert "won't need to repeat yourself" in call.last.text  # type: ignore[union-attr]
    (created,) = created_calls()
    assert created["To"] == [FIRST_AGENT] and created["From"] == ["+15005550001"]
    assert created["Url"] == [f"{settings.public_url}/voice/whisper/{call.call_sid}"]
    assert created["StatusCallback"] == [f"{settings.public_url}/voice/agent-status/"
                                         f"{call.call_sid}"]
    assert latest_transfer(settings, call.call_sid).agent_call_sid == FIRST_LEG

    hold = call.send(f"/voice/hold/{call.call_sid}")
    assert "ringing a member of our team" in hold.text
    assert "/static/hold-music.wav" in hold.twiml

    whisper = agent_leg(call, FIRST_LEG, f"/voice/whisper/{call.call_sid}")
    assert "Transferred because" in whisper.text
    joined = agent_leg(call, FIRST_LEG, f"/voice/whisper/{call.call_sid}", Digits="1")
    agent_room = ElementTree.fromstring(joined.twiml).find("Dial/Conference")
    assert agent_room is not None and agent_room.text == f"ivr-{call.call_sid}"
    assert agent_room.get("startConferenceOnEnter") == "true"
    transfer = latest_transfer(settings, call.call_sid)
    assert transfer.outcome == "accepted" and transfer.accepted_by == FIRST_AGENT
    assert transfer.mode == "conference"
    (answered,) = transfer.attempts
    assert answered["outcome"] == "answered" and answered["seconds_to_answer"] >= 0

    # The agent's leg ends after the call: nothing more to ring.
    agent_leg(call, FIRST_LEG, f"/voice/agent-status/{call.call_sid}", CallStatus="completed")
    assert len(created_calls()) == 1
    # The agent leaves, the conference ends: the caller's <Dial action> ends the call.
    done = call.dial_ends("completed")
    assert "<Conference" not in done.twiml
    assert latest_transfer(settings, call.call_sid).outcome == "completed"


@responses.activate
def test_a_decline_then_no_answer_rings_the_next_agent_then_the_fallback(line) -> None:  # type: ignore[no-untyped-def]
    new_call, settings = line
    ring_legs(FIRST_LEG, SECOND_LEG)
    call = escalated(new_call)
    agent_leg(call, FIRST_LEG, f"/voice/whisper/{call.call_sid}")
    declined = agent_leg(call, FIRST_LEG, f"/voice/whisper/{call.call_sid}", Digits="2")
    assert declined.hangup
    agent_leg(call, FIRST_LEG, f"/voice/agent-status/{call.call_sid}", CallStatus="completed")
    assert [c["To"] for c in created_calls()] == [[FIRST_AGENT], [SECOND_AGENT]]
    assert latest_transfer(settings, call.call_sid).agent_call_sid == SECOND_LEG

    # A late callback about the first leg changes nothing.
    agent_leg(call, FIRST_LEG, f"/voice/agent-status/{call.call_sid}", CallStatus="completed")
    assert len(created_calls()) == 2

    responses.post(f"{CALLS}/{call.call_sid}.json", status=200, json={"sid": call.call_sid})
    agent_leg(call, SECOND_LEG, f"/voice/agent-status/{call.call_sid}", CallStatus="no-answer")
    redirect = parse_qs(responses.calls[-1].request.body)
    assert redirect["Url"] == [f"{settings.public_url}/voice/conference-fallback/"
                               f"{call.call_sid}"]
    transfer = latest_transfer(settings, call.call_sid)
    assert [a["outcome"] for a in transfer.attempts] == ["declined", "no-answer"]
    assert transfer.outcome == "fallback-busy"
    fallback = call.send(f"/voice/conference-fallback/{call.call_sid}")
    assert fallback.hangup and "call us again" in fallback.text


@responses.activate
def test_twilio_refusing_to_ring_counts_as_failed_and_moves_on(line) -> None:  # type: ignore[no-untyped-def]
    new_call, settings = line
    responses.post(CALLS + ".json", status=500, json={"code": 20500, "message": "error"})
    ring_legs(SECOND_LEG)
    call = escalated(new_call)
    assert "<Conference" in call.last.twiml  # type: ignore[union-attr]
    transfer = latest_transfer(settings, call.call_sid)
    assert [a["outcome"] for a in transfer.attempts] == ["failed"]
    assert transfer.agent_call_sid == SECOND_LEG


@responses.activate
def test_when_twilio_rings_nobody_the_caller_gets_the_fallback_at_once(line) -> None:  # type: ignore[no-untyped-def]
    new_call, settings = line
    responses.post(CALLS + ".json", status=503, json={"code": 20503, "message": "down"})
    call = escalated(new_call)
    assert "<Conference" not in call.last.twiml  # type: ignore[union-attr]
    assert call.last.hangup and "call us again" in call.last.text  # type: ignore[union-attr]
    transfer = latest_transfer(settings, call.call_sid)
    assert [a["outcome"] for a in transfer.attempts] == ["failed", "failed"]
    assert transfer.outcome == "fallback-busy"


@responses.activate
def test_the_caller_hanging_up_while_waiting_cancels_the_agent_leg(line) -> None:  # type: ignore[no-untyped-def]
    new_call, settings = line
    ring_legs(FIRST_LEG)
    responses.post(f"{CALLS}/{FIRST_LEG}.json", status=200, json={"sid": FIRST_LEG})
    call = escalated(new_call)
    call.hang_up(duration=12)
    cancel = responses.calls[-1]
    assert cancel.request.url == f"{CALLS}/{FIRST_LEG}.json"
    assert parse_qs(cancel.request.body)["Status"] == ["canceled"]
    transfer = latest_transfer(settings, call.call_sid)
    assert transfer.outcome == "caller-abandoned"
    assert [a["outcome"] for a in transfer.attempts] == ["caller-abandoned"]


@responses.activate
def test_twilio_asking_again_for_the_call_rings_nobody_twice(line) -> None:  # type: ignore[no-untyped-def]
    new_call, _ = line
    ring_legs(FIRST_LEG)
    call = escalated(new_call)
    again = call.start()
    assert "<Conference" in again.twiml
    assert len(created_calls()) == 1


def test_dial_mode_stays_the_default(new_call) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    heard = call.say("I want to talk to a person")
    assert heard.dial_target and "<Conference" not in heard.twiml


@pytest.mark.parametrize("path", ["/voice/hold/CA1", "/voice/agent-status/CA1",
                                  "/voice/conference-fallback/CA1"])
def test_the_conference_callbacks_check_the_signature(client, path: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post(path, data={"CallSid": "CA1"}).status_code == 403


@responses.activate
def test_an_agent_can_take_a_conference_call_on_screen(line) -> None:  # type: ignore[no-untyped-def]
    new_call, settings = line
    ring_legs(FIRST_LEG)
    responses.get(f"{CALLS}/{FIRST_LEG}.json", status=200,
                  json={"sid": FIRST_LEG, "status": "in-progress", "parent_call_sid": None})
    responses.post(f"{CALLS}/{FIRST_LEG}.json", status=200, json={"sid": FIRST_LEG})
    call = escalated(new_call)
    from ivr.app.handoff import HandoffService
    from ivr.app.transfer_policy import TransferPolicy

    handoff = HandoffService(settings, {}, TransferPolicy.from_settings(settings))
    answer = handoff.answer_on_screen(call.call_sid, FIRST_AGENT, "accept")
    assert answer.result == "accepted"
    joined = parse_qs(responses.calls[-1].request.body)["Twiml"][0]
    assert "<Conference" in joined and f"ivr-{call.call_sid}" in joined
    assert latest_transfer(settings, call.call_sid).outcome == "accepted"

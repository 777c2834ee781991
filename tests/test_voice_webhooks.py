"""The call loop through the real Flask app with requests signed by Twilio's validator."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest
import responses
from conftest import AUTH_TOKEN
from helpers.stored import audit_entries, stored_call
from sqlalchemy import text
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from ivr.storage import audit
from ivr.storage.db import engine_for
from ivr.telephony.signature import sign


def test_incoming_call_discloses_then_listens(new_call, settings, support_flow) -> None:  # type: ignore[no-untyped-def]
    heard = new_call().start()
    assert heard.status == 200
    root = ElementTree.fromstring(heard.twiml)
    first = root[0]
    assert first.tag == "Say" and first.text == support_flow.disclosure
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "speech dtmf"
    assert gather.get("action") == "https://ivr.example.com/voice/turn"
    assert gather.get("actionOnEmptyResult") == "true"
    assert gather.get("speechTimeout") == "auto"
    assert "track my package" in (gather.get("hints") or "")
    assert gather[0].tag == "Say" and "How can I help" in (gather[0].text or "")
    assert root[-1].tag == "Redirect", "silence must not hang up"


def test_order_status_call_end_to_end(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    heard = call.say("hi I want to check where my order is")
    assert "order number" in heard.text and heard.listening
    heard = call.say("one two three four five six", confidence=0.87)
    assert "1 2 3 4 5 6" in heard.text and "shipped" in heard.text
    assert "anything else" in heard.text
    heard = call.say("no thanks")
    assert heard.hangup and "Goodbye" in heard.text
    stored, turns, transfer = stored_call(settings, call.call_sid)
    assert transfer is None and stored.status == "completed-by-bot"
    kinds = [turn.kind for turn in turns]
    assert kinds == ["start", "speech", "speech", "action", "speech"]
    assert turns[1].intent == "order_status" and turns[1].intent_confidence >= 0.45
    assert turns[2].asr_confidence == pytest.approx(0.87)
    assert stored.caller_hash and call.caller not in stored.caller_hash
    assert all(turn.server_ms is not None for turn in turns if turn.kind != "action")


def test_keypad_works_everywhere(new_call) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    assert "order number" in call.press("1").text
    heard = call.press("654321")
    assert "couldn't find that order" in heard.text


@pytest.mark.parametrize("words", ["agent", "representative", "can I talk to a real human",
                                   "operator please", "I want to speak to somebody",
                                   "get me a person"])
def test_asking_for_a_person_in_any_words_transfers_with_a_whisper(new_call, settings,  # type: ignore[no-untyped-def]
                                                                   words) -> None:
    call = new_call()
    call.start()
    heard = call.say(words)
    assert heard.dial_target == "+15005550006"
    assert heard.whisper_url == f"https://ivr.example.com/voice/whisper/{call.call_sid}"
    assert heard.dial_action == f"https://ivr.example.com/voice/dial-result/{call.call_sid}"
    assert "won't need to repeat yourself" in heard.text
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.trigger == "caller_request" and transfer.outcome == "ringing"


def test_key_zero_transfers_mid_flow(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.say("I forgot my password")
    heard = call.press("0")
    assert heard.dial_target
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.summary["caller_wants"] == "reset their account password"


def test_second_low_confidence_turn_transfers(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    first = call.say("where is my order", confidence=0.1)
    assert first.listening and not first.dial_target
    second = call.say("mumble mumble", confidence=0.2)
    assert second.dial_target
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.trigger == "low_confidence"


def test_silence_reprompts_twice_then_transfers(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    one, two = call.silence(), call.silence()
    assert one.listening and two.listening and one.text != two.text
    three = call.silence()
    assert three.dial_target
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.trigger == "no_input"


def test_no_match_reprompts_then_transfers(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.press("7")
    call.press("8")
    assert call.press("9").dial_target
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.trigger == "no_match"


def test_frustration_transfers(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    assert call.say("this is ridiculous, stupid machine").dial_target
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.trigger in ("frustration", "caller_request")


def test_a_database_failure_mid_call_reaches_a_person(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    with engine_for(settings.database_url).begin() as connection:
        connection.execute(text("ALTER TABLE turns RENAME TO turns_gone"))
    heard = call.say("where is my order")
    assert heard.status == 200 and heard.dial_target
    assert "sorry" in heard.text.lower()


def test_a_broken_action_apologises_and_transfers(new_call, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with engine_for(settings.database_url).begin() as connection:
        connection.execute(text("DROP TABLE orders"))
    call = new_call()
    call.start()
    call.say("track my package")
    heard = call.say("1 2 3 4 5 6")
    assert heard.dial_target and "sorry" in heard.text.lower()
    _, turns, transfer = stored_call(settings, call.call_sid)
    assert transfer.trigger == "fault"
    assert [t.action_ok for t in turns if t.kind == "action"] == [False]


@responses.activate
def test_password_reset_sends_an_sms_through_twilio(app, settings, new_call) -> None:  # type: ignore[no-untyped-def]
    settings_with_sms = settings.model_copy(update={"sms_from": "+15005550006"})
    app.extensions["ivr"].calls.settings = settings_with_sms
    app.extensions["ivr"].calls._runners.clear()
    sent = responses.post(
        f"https://api.twilio.com/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json",
        json={"sid": "SM" + "1" * 32, "status": "queued"}, status=201)
    call = new_call()
    call.start()
    assert "text a password reset link" in call.say("I'm locked out of my account").text
    heard = call.say("yes please")
    assert "sent a password reset link" in heard.text
    assert sent.call_count == 1
    body = sent.calls[0].request.body
    assert "To=%2B14155550123" in body and "example.com%2Freset" in body


def test_warm_transfer_whisper_accept_and_end(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.say("where's my parcel")
    call.say("2 3 4 5 6 7")
    call.say("actually let me talk to an agent")
    whisper = call.agent_hears()
    assert whisper.listening and "Press 1 to take the call" in whisper.text
    assert whisper.text.index("asked for a person") < whisper.text.index("check the status")
    assert "2 3 4 5 6 7" in whisper.text
    accepted = call.agent_presses("1")
    assert "Connecting you now" in accepted.text and not accepted.hangup
    ended = call.dial_ends("completed")
    assert ended.hangup
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.outcome == "completed" and transfer.accepted_by == "+15005550006"


def _caller_of(settings):  # type: ignore[no-untyped-def]
    """A caller of a new app made with `settings` (the use cases take settings when built)."""
    from ivr.testing.simulated_call import SimulatedCall, flask_post
    from ivr.web import create_app

    return SimulatedCall(flask_post(create_app(settings).test_client()), auth_token=AUTH_TOKEN,
                         public_url=settings.public_url)


def test_declines_go_to_the_next_agent_then_voicemail(settings) -> None:  # type: ignore[no-untyped-def]
    call = _caller_of(settings.model_copy(
        update={"privacy": settings.privacy.model_copy(update={"recordings": True})}))
    call.start()
    call.press("0")
    call.agent_hears()
    declined = call.agent_presses("2")
    assert declined.hangup
    next_agent = call.dial_ends("completed")
    assert next_agent.dial_target == "client:support-desk"
    assert "trying someone else" in next_agent.text
    voicemail = call.dial_ends("no-answer")
    assert voicemail.recording and "call you back" in voicemail.text
    _, _, transfer = stored_call(settings, call.call_sid)
    assert [a["outcome"] for a in transfer.attempts] == ["declined", "no-answer"]
    assert transfer.outcome == "fallback-voicemail"
    done = call.send(f"/voice/voicemail/{call.call_sid}", {"RecordingSid": "RE" + "2" * 32})
    assert done.hangup
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.outcome == "voicemail"


def test_without_recordings_nobody_answering_ends_with_an_apology(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.press("0")
    call.dial_ends("no-answer")
    ended = call.dial_ends("busy")
    assert ended.hangup and not ended.recording and "call us again" in ended.text
    _, _, transfer = stored_call(settings, call.call_sid)
    assert transfer.outcome == "fallback-busy"


def test_backup_number_fallback(settings) -> None:  # type: ignore[no-untyped-def]
    transfer_settings = settings.transfer.model_copy(
        update={"fallback": "number", "fallback_number": "+15005550009"})
    call = _caller_of(settings.model_copy(update={"transfer": transfer_settings}))
    call.start()
    call.press("0")
    call.dial_ends("busy")
    backup = call.dial_ends("no-answer")
    assert backup.dial_target == "+15005550009" and "backup line" in backup.text


def test_summary_api_needs_the_token_and_returns_the_summary(client, new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.say("when are you open")
    call.say("yes")
    call.say("I need a human")
    path = f"/api/calls/{call.call_sid}/summary"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get(path, headers={"Authorization": "Bearer api-token-for-tests"})
    assert response.status_code == 200
    summary = response.get_json()["summary"]
    assert summary["trigger"] == "caller_request"
    assert summary["caller_wants"] is None  # the bot answered it: no open need is invented
    assert summary["answered_requests"] == ["know the opening hours"]
    assert summary["intents"][0]["intent"] == "opening_hours"
    assert 0 < summary["intents"][0]["confidence"] <= 1
    assert summary["actions"][0]["name"] == "action_opening_hours"
    assert summary["last_utterances"][-1] == "I need a human"
    assert summary["turns"] == 3 and summary["duration_seconds"] >= 0
    assert len(summary["spoken"].split()) <= 25 * 2.5
    missing = client.get("/api/calls/CAnope/summary",
                         headers={"Authorization": "Bearer api-token-for-tests"})
    assert missing.status_code == 404
    views = audit_entries(settings, action=audit.VIEW_CALL)
    assert [(entry.actor, entry.target) for entry in views] == [("api-token", call.call_sid)]


def test_status_callback_records_the_end_and_an_abandoned_transfer(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.press("0")
    heard = call.hang_up(duration=42)
    assert heard.status == 204
    stored, _, transfer = stored_call(settings, call.call_sid)
    assert stored.duration_seconds == 42 and stored.ended_at is not None
    assert transfer.outcome == "caller-abandoned"


def test_fallback_url_always_reaches_a_person(new_call) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    heard = call.send("/voice/fallback", {"ErrorCode": "11200"})
    assert heard.status == 200 and heard.dial_target
    call.start()
    assert call.send("/voice/fallback", {"ErrorCode": "11205"}).dial_target


# --- security and bad input ------------------------------------------------------------------

def signed_post(client, settings, path, form, token=AUTH_TOKEN):  # type: ignore[no-untyped-def]
    signature = sign(token, settings.public_url + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


@pytest.mark.parametrize("path", ["/voice/incoming", "/voice/turn", "/voice/status",
                                  "/voice/fallback", "/voice/whisper/CA1",
                                  "/voice/dial-result/CA1", "/voice/voicemail/CA1"])
def test_unsigned_or_wrongly_signed_requests_are_refused(client, settings, path) -> None:  # type: ignore[no-untyped-def]
    form = {"CallSid": "CA1", "From": "+15550100123"}
    assert client.post(path, data=form).status_code == 403
    assert signed_post(client, settings, path, form, token="someone-else").status_code == 403
    tampered = sign(AUTH_TOKEN, settings.public_url + path, form)
    response = client.post(path, data={**form, "Digits": "0"},
                           headers={"X-Twilio-Signature": tampered})
    assert response.status_code == 403


def test_missing_call_sid_is_a_bad_request(client, settings) -> None:  # type: ignore[no-untyped-def]
    assert signed_post(client, settings, "/voice/incoming", {"From": "+1555"}).status_code == 400
    assert signed_post(client, settings, "/voice/turn", {"SpeechResult": "hi"}).status_code == 400


def assert_valid_twiml(response) -> ElementTree.Element:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.get_data())
    assert root.tag == "Response" and len(root) > 0
    return root


@pytest.mark.parametrize("form", [
    {"SpeechResult": "x" * 100_000, "Confidence": "0.9"},
    {"SpeechResult": "where is my order", "Confidence": "very sure"},
    {"SpeechResult": "where is my order", "Confidence": "nan"},
    {"SpeechResult": "<Say>hacked</Say><Hangup/> ]]> &amp;", "Confidence": "0.9"},
    {"SpeechResult": "emoji 📦 and \u202e", "Unknown": "field", "Another": "1"},
    {"Digits": "12ab#*", "SpeechResult": ""},
])
def test_bad_input_still_gets_valid_twiml(client, settings, new_call, form) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    response = signed_post(client, settings, "/voice/turn", {"CallSid": call.call_sid, **form})
    root = assert_valid_twiml(response)
    assert "hacked" not in [element.text for element in root.iter("Say")]
    assert root.find("Hangup") is None or root.find("Dial") is not None


def test_invalid_utf8_gets_valid_twiml(client, settings, new_call) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    body = b"CallSid=" + call.call_sid.encode() + b"&SpeechResult=caf%C3%28%FF+order"
    # Sign what the server will read, as Werkzeug parses the broken bytes.
    environ = EnvironBuilder(method="POST", data=body,
                             content_type="application/x-www-form-urlencoded").get_environ()
    form = Request(environ).form.to_dict()
    signature = sign(AUTH_TOKEN, settings.public_url + "/voice/turn", form)
    response = client.post("/voice/turn", data=body,
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature})
    assert_valid_twiml(response)


def test_unknown_call_sid_on_turn_starts_a_call_with_the_disclosure(client, settings,  # type: ignore[no-untyped-def]
                                                                    support_flow) -> None:
    response = signed_post(client, settings, "/voice/turn",
                           {"CallSid": "CAneverseen", "SpeechResult": "hello"})
    root = assert_valid_twiml(response)
    assert root[0].text == support_flow.disclosure


def test_twilio_asking_twice_for_the_same_call_repeats_the_question(new_call, support_flow) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.say("where is my order")
    again = call.start()
    assert again.listening and "order number" in again.text
    assert support_flow.disclosure not in again.text


def test_flow_can_be_chosen_per_number(new_call) -> None:  # type: ignore[no-untyped-def]
    heard = new_call().start(flow="nope")
    assert heard.status == 200 and heard.listening


def test_the_development_switch_disables_signature_checks_loudly(sqlite_url, caplog) -> None:  # type: ignore[no-untyped-def]
    from conftest import make_settings

    from ivr.web import create_app

    with caplog.at_level("WARNING"):
        app = create_app(make_settings(sqlite_url, validate_signatures=False))
    assert any("signature checks are OFF" in record.message for record in caplog.records)
    response = app.test_client().post("/voice/incoming", data={"CallSid": "CAunsigned"})
    assert response.status_code == 200 and b"<Gather" in response.data


def test_even_a_rendering_failure_reaches_a_person(new_call, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ivr.telephony import twiml

    call = new_call()
    call.start()

    def broken_render(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("template bug")

    monkeypatch.setattr(twiml, "render", broken_render)
    heard = call.say("where is my order")
    assert heard.status == 200 and heard.dial_target == "+15005550006"
    assert "Connecting you to a person" in heard.text


def test_asking_again_for_a_transferred_call_rings_the_agent_again(new_call) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.press("0")
    again = call.send("/voice/continue")
    assert again.dial_target == "+15005550006" and "won't need to repeat" in again.text

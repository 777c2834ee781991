"""The live console through the Flask test client: the event stream of transfers ringing the
signed-in agent, accept and decline on screen (Twilio's REST API mocked with `responses`),
and the agents' feedback with its figures. Calls are real: signed Twilio webhooks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from helpers.console import PASSWORD, csrf_token, signed_in, text_of
from helpers.stored import audit_entries, latest_transfer
from sqlalchemy import select
from test_console import ANN_TARGET, BOB_TARGET, CALLER

from ivr.app.accounts import Accounts
from ivr.storage import audit
from ivr.storage.db import session_scope
from ivr.storage.models import Call, Feedback, Turn

TWILIO_CALLS = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32 + "/Calls/"


@pytest.fixture
def accounts(app) -> Accounts:  # type: ignore[no-untyped-def]
    service: Accounts = app.extensions["ivr"].accounts
    service.add("ann", PASSWORD, "agent", agent_target=ANN_TARGET, actor="test")
    service.add("bob", PASSWORD, "agent", agent_target=BOB_TARGET, actor="test")
    service.add("sue", PASSWORD, "supervisor", actor="test")
    app.config.update(IVR_LIVE_POLL_SECONDS=0.02, IVR_LIVE_KEEPALIVE_SECONDS=60,
                      IVR_LIVE_STREAM_SECONDS=5)
    return service


@pytest.fixture
def ringing(new_call):  # type: ignore[no-untyped-def]
    """A caller who called once before asks about an order, then for a person; ann's phone
    rings and has fetched the whisper, so the server knows the agent's leg."""
    earlier = new_call(caller=CALLER)
    earlier.start()
    earlier.say("what are your opening hours")
    earlier.say("no thanks")
    call = new_call(caller=CALLER)
    call.start()
    call.say("where is my order <img src=x onerror=alert(1)>")
    assert call.say("agent").dial_target == ANN_TARGET
    assert "Press 1 to take the call" in call.agent_hears().text
    return call


def agent_leg(call) -> str:  # type: ignore[no-untyped-def]
    return "CAagent" + call.call_sid[-20:]  # what `SimulatedCall` sends as the agent's leg


def transfer_state(settings, call_sid: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the console may change on the call's latest transfer, to compare before and after."""
    transfer = latest_transfer(settings, call_sid)
    assert transfer is not None
    return {"outcome": transfer.outcome, "accepted_by": transfer.accepted_by,
            "attempt": transfer.attempt, "answered_at": transfer.answered_at,
            "agent_call_sid": transfer.agent_call_sid,
            "attempts": [(item["index"], item["outcome"]) for item in transfer.attempts]}


def events(response) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    """(event name, data) of a streamed text/event-stream response; comments as ("#", text)."""
    pending = ""
    for chunk in response.response:
        pending += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in pending:
            block, pending = pending.split("\n\n", 1)
            if block.startswith(":"):
                yield "#", block[1:].strip()
                continue
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            if "event" in fields:
                yield fields["event"], json.loads(fields["data"])


def until(stream: Iterator[tuple[str, Any]], name: str) -> list[tuple[str, Any]]:
    seen = []
    for event in stream:
        seen.append(event)
        if event[0] == name:
            return seen
    raise AssertionError(f"the stream ended without {name!r}: {seen}")


def post(client, call_sid: str, choice: str, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(f"/console/transfers/{call_sid}/{choice}", headers=headers)


def live_token(client) -> str:  # type: ignore[no-untyped-def]
    """The token the live page's script sends (agents without a target get the form one)."""
    page = client.get("/console/live").get_data(as_text=True)
    match = re.search(r'data-csrf="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return unescape(match.group(1))


def mock_leg(mock: responses.RequestsMock, leg: str, parent: str, *,
             status: str = "in-progress", fetch: int = 200, update: int = 200) -> None:
    body = {"sid": leg, "status": status, "parent_call_sid": parent}
    error = {"code": 20404 if fetch == 404 else 20500, "message": "some text with +14155550123",
             "status": fetch}
    mock.get(TWILIO_CALLS + leg + ".json", json=body if fetch == 200 else error, status=fetch)
    mock.post(TWILIO_CALLS + leg + ".json",
              json=body if update == 200 else {"code": 20500, "message": "x", "status": update},
              status=update)


def twilio_updates(mock: responses.RequestsMock) -> list[dict[str, list[str]]]:
    return [parse_qs(call.request.body) for call in mock.calls if call.request.method == "POST"]


# The event stream --------------------------------------------------------------------------


def test_the_rung_agent_sees_the_incoming_call_with_its_context_live(app, accounts, ringing,  # type: ignore[no-untyped-def]
                                                                     settings) -> None:
    ann = signed_in(app, "ann")
    response = ann.get("/console/events", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    stream = events(response)
    seen = until(stream, "ready")
    incoming = [data for name, data in seen if name == "incoming"]
    assert len(incoming) == 1 and seen[-1] == ("ready", {"ringing": [ringing.call_sid]})
    card = incoming[0]
    assert card["call_sid"] == ringing.call_sid
    assert card["summary"]["wants"] == "check the status of an order"
    assert card["summary"]["reason"] == "the caller asked for a person"
    assert card["summary"]["intents"][0]["intent"] == "order_status"
    assert 0 < card["summary"]["intents"][0]["confidence"] <= 1
    assert card["summary"]["spoken"].startswith("Transferred because")
    heard = [turn["heard"] for turn in card["transcript"] if turn["heard"]]
    assert heard == ["where is my order <img src=x onerror=alert(1)>", "agent"], \
        "the transcript as stored, markup and all: the page shows it as text"
    assert any("automated assistant" in (turn["reply"] or "") for turn in card["transcript"])
    assert len(card["sentiment"]) == 2 and all(
        value is None or -1 <= value <= 1 for value in card["sentiment"])
    assert [(past["wanted"], past["outcome"]) for past in card["past_contacts"]] == [
        ("know the opening hours", "handled by the bot")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T", card["past_contacts"][0]["date"])
    raw = json.dumps(card)
    assert CALLER not in raw and CALLER[1:] not in raw, "never the caller's number"

    # Ann takes it on her keypad: the card goes, as hers.
    assert "Connecting you now" in ringing.agent_presses("1").text
    gone = [data for name, data in until(stream, "gone") if name == "gone"]
    assert gone == [{"call_sid": ringing.call_sid, "outcome": "taken-by-you",
                     "call_url": f"/console/calls/{ringing.call_sid}"}]
    response.close()

    views = [(entry.actor, entry.target)
             for entry in audit_entries(settings, action=audit.VIEW_INCOMING)]
    assert views == [("ann", ringing.call_sid)]


def test_sentiment_per_caller_turn_keeps_the_gaps(app, accounts, ringing, settings) -> None:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as session:
        turns = session.scalars(select(Turn).join(Turn.call).where(
            Call.call_sid == ringing.call_sid, Turn.kind == "speech").order_by(Turn.seq)).all()
        turns[0].sentiment, turns[1].sentiment = None, -0.6123
    stream = events(signed_in(app, "ann").get("/console/events", buffered=False))
    card = next(data for name, data in until(stream, "ready") if name == "incoming")
    assert card["sentiment"] == [None, -0.61]
    assert [turn["sentiment"] for turn in card["transcript"] if turn["kind"] == "speech"] == \
        [None, -0.61]


def test_another_agents_stream_shows_nothing_and_ends_with_keep_alives(app, accounts,  # type: ignore[no-untyped-def]
                                                                        ringing) -> None:
    app.config.update(IVR_LIVE_STREAM_SECONDS=0.5, IVR_LIVE_KEEPALIVE_SECONDS=0.1)
    bob = signed_in(app, "bob")
    seen = list(events(bob.get("/console/events", buffered=False)))
    assert seen[0] == ("ready", {"ringing": []})
    assert {name for name, _ in seen} == {"ready", "#"}, "keep-alive comments and nothing else"
    assert ringing.call_sid not in json.dumps(seen)


def test_the_stream_needs_a_signed_in_agent_with_a_target(app, client, accounts) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/console/events").headers["Location"] == "/login"
    assert client.get("/console/live").headers["Location"] == "/login"
    sue = signed_in(app, "sue")
    assert sue.get("/console/events").status_code == 204, "EventSource gives up on 204"
    assert "no agent target" in text_of(sue.get("/console/live"))


def test_a_disabled_agents_stream_stops(app, accounts, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ivr.web.live

    monkeypatch.setattr(ivr.web.live, "ACCOUNT_CHECK_SECONDS", 0.0)
    ann = signed_in(app, "ann")
    stream = events(ann.get("/console/events", buffered=False))
    until(stream, "ready")
    accounts.disable("ann", actor="test")
    assert until(stream, "signed-out")[-1] == ("signed-out", {})
    assert list(stream) == [], "and the stream ends"


def test_only_the_live_page_may_run_its_script(app, accounts, ringing) -> None:  # type: ignore[no-untyped-def]
    ann = signed_in(app, "ann")
    live_page = ann.get("/console/live")
    policy = live_page.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce and "connect-src 'self'" in policy and "default-src 'none'" in policy
    html = live_page.get_data(as_text=True)
    assert f'<script nonce="{nonce.group(1)}" src="/static/console.js"' in html
    assert html.count("<script") == 1
    for path in ("/console", "/console/figures", "/login"):
        assert "script-src" not in ann.get(path).headers["Content-Security-Policy"], path
    script = ann.get("/static/console.js")
    assert script.status_code == 200 and "javascript" in script.mimetype
    source = script.get_data(as_text=True)
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source
    assert "X-CSRFToken" in source


def test_the_whisper_keeps_the_agents_leg(settings, accounts, ringing) -> None:  # type: ignore[no-untyped-def]
    assert transfer_state(settings, ringing.call_sid)["agent_call_sid"] == agent_leg(ringing)


# Accept and decline on screen --------------------------------------------------------------


def test_accept_on_screen_bridges_the_agents_leg(app, accounts, ringing, settings) -> None:  # type: ignore[no-untyped-def]
    ann = signed_in(app, "ann")
    token = live_token(ann)
    leg = agent_leg(ringing)
    with responses.RequestsMock() as mock:
        mock_leg(mock, leg, ringing.call_sid)
        response = post(ann, ringing.call_sid, "accept", token)
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {
            "ok": True, "result": "accepted", "call_url": f"/console/calls/{ringing.call_sid}",
            "message": "You took the call: it is connecting on your phone."}
        assert [call.request.method for call in mock.calls] == ["GET", "POST"]
        assert twilio_updates(mock) == [{"Twiml": [
            '<?xml version="1.0" encoding="UTF-8"?><Response />']}]
        assert mock.calls[1].request.headers["Authorization"].startswith("Basic ")
    state = transfer_state(settings, ringing.call_sid)
    assert state["outcome"] == "accepted" and state["accepted_by"] == ANN_TARGET
    assert state["answered_at"] is not None
    assert state["attempts"] == [(0, "answered")]
    assert ringing.dial_ends("completed").hangup, "the bridged call ends as a keypad accept's"
    assert transfer_state(settings, ringing.call_sid)["outcome"] == "completed"
    assert f"/console/calls/{ringing.call_sid}" in text_of(ann.get("/console"))
    entries = audit_entries(settings, action=audit.ACCEPT_ON_SCREEN)
    assert [(entry.actor, entry.target, entry.detail["result"]) for entry in entries] == [
        ("ann", ringing.call_sid, "accepted")]


def test_decline_on_screen_ends_the_leg_and_the_next_agent_is_rung(app, accounts, ringing,  # type: ignore[no-untyped-def]
                                                                   settings) -> None:
    ann = signed_in(app, "ann")
    leg = agent_leg(ringing)
    with responses.RequestsMock() as mock:
        mock_leg(mock, leg, ringing.call_sid)
        response = post(ann, ringing.call_sid, "decline", live_token(ann))
        assert response.status_code == 200 and response.get_json()["result"] == "declined"
        assert twilio_updates(mock) == [{"Status": ["completed"]}]
    assert transfer_state(settings, ringing.call_sid)["attempts"] == [(0, "declined")]
    # Twilio's <Dial action> follows the ended leg: the next agent is rung.
    assert ringing.dial_ends("completed").dial_target == BOB_TARGET
    state = transfer_state(settings, ringing.call_sid)
    assert state["attempt"] == 1 and state["attempts"] == [(0, "declined")]

    # Bob clicks before his phone fetched the whisper: the leg on record is ann's, ended.
    bob = signed_in(app, "bob")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock_leg(mock, leg, ringing.call_sid, status="completed")
        stale = post(bob, ringing.call_sid, "accept", live_token(bob))
        assert stale.status_code == 409 and stale.get_json()["result"] == "no-agent-leg"
        assert "Answer your phone first" in stale.get_json()["message"]
        assert twilio_updates(mock) == [], "an ended leg is never touched"
    assert transfer_state(settings, ringing.call_sid)["outcome"] == "ringing"


@pytest.mark.parametrize(("choice", "fetch", "update", "http"), [
    ("accept", 404, 200, 404), ("accept", 200, 500, 500),
    ("decline", 404, 200, 404), ("decline", 200, 500, 500)])
def test_twilio_errors_are_explained_and_change_nothing(app, accounts, ringing, settings,  # type: ignore[no-untyped-def]
                                                        choice, fetch, update, http) -> None:
    ann = signed_in(app, "ann")
    before = transfer_state(settings, ringing.call_sid)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock_leg(mock, agent_leg(ringing), ringing.call_sid, fetch=fetch, update=update)
        response = post(ann, ringing.call_sid, choice, live_token(ann))
    body = response.get_json()
    assert response.status_code == 502 and body["result"] == "twilio-error"
    assert f"HTTP {http}" in body["message"] and "keypad still works" in body["message"]
    assert "+1415" not in body["message"], "Twilio's error text is never repeated"
    assert transfer_state(settings, ringing.call_sid) == before, "nothing recorded"
    assert "Connecting you now" in ringing.agent_presses("1").text, "the keypad still works"
    assert transfer_state(settings, ringing.call_sid)["outcome"] == "accepted"
    entries = audit_entries(settings, target=ringing.call_sid, limit=5)
    assert any(item.detail.get("result") == "twilio-error"
               and item.detail.get("http_status") == http for item in entries)


def test_twilio_out_of_reach_is_explained(app, accounts, ringing, settings) -> None:  # type: ignore[no-untyped-def]
    ann = signed_in(app, "ann")
    with responses.RequestsMock() as mock:  # nothing registered: every request fails to connect
        response = post(ann, ringing.call_sid, "accept", live_token(ann))
        assert len(mock.calls) == 1
    assert response.status_code == 502
    assert response.get_json()["message"].endswith("(Twilio could not be reached.)")
    assert transfer_state(settings, ringing.call_sid)["outcome"] == "ringing"


def test_no_agent_leg_yet_means_answer_the_phone_first(app, accounts, new_call,  # type: ignore[no-untyped-def]
                                                        settings) -> None:
    call = new_call(caller=CALLER)
    call.start()
    assert call.say("agent").dial_target == ANN_TARGET  # ringing, whisper not fetched yet
    ann = signed_in(app, "ann")
    with responses.RequestsMock() as mock:
        response = post(ann, call.call_sid, "accept", live_token(ann))
        assert len(mock.calls) == 0
    assert response.status_code == 409 and response.get_json()["result"] == "no-agent-leg"
    assert transfer_state(settings, call.call_sid)["outcome"] == "ringing"


def test_only_the_rung_agent_may_answer_and_only_with_the_csrf_token(app, client, accounts,  # type: ignore[no-untyped-def]
                                                                      ringing, settings) -> None:
    before = transfer_state(settings, ringing.call_sid)
    ann, bob, sue = (signed_in(app, name) for name in ("ann", "bob", "sue"))
    with responses.RequestsMock() as mock:
        for choice in ("accept", "decline"):
            assert post(ann, ringing.call_sid, choice, None).status_code == 400
            assert post(ann, ringing.call_sid, choice, "forged.token").status_code == 400
            for other in (bob, sue):
                refused = post(other, ringing.call_sid, choice, live_token(other))
                assert refused.status_code == 409
                assert refused.get_json()["result"] == "not-ringing-you"
            missing = post(ann, "CA" + "0" * 32, choice, live_token(ann))
            assert missing.status_code == 409
            signed_out = post(client, ringing.call_sid, choice, csrf_token(client))
            assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/login"
        assert len(mock.calls) == 0, "Twilio is never asked"
    assert transfer_state(settings, ringing.call_sid) == before


# Feedback ----------------------------------------------------------------------------------


def feedback_rows(settings) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as session:
        return [(row.username, row.intent_correct, row.summary_correct, row.corrected_intent,
                 row.correction)
                for row in session.scalars(select(Feedback).order_by(Feedback.id))]


def form_for(client, call_sid: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = client.get(f"/console/calls/{call_sid}").get_data(as_text=True)
    transfer = re.search(r'name="transfer" value="(\d+)"', page)
    assert transfer, "the feedback form is on the page"
    return {"csrf_token": csrf_token(client, f"/console/calls/{call_sid}"),
            "transfer": transfer.group(1)}


def test_feedback_is_stored_redacted_and_a_second_one_updates_it(app, accounts, ringing,  # type: ignore[no-untyped-def]
                                                                 settings) -> None:
    ringing.agent_presses("1")
    ann = signed_in(app, "ann")
    page = text_of(ann.get(f"/console/calls/{ringing.call_sid}"))
    assert "How did the assistant do?" in page
    assert '<option value="reset_password">reset their account password (reset_password)' in page
    form = form_for(ann, ringing.call_sid)
    sent = ann.post(f"/console/calls/{ringing.call_sid}/feedback", data={
        **form, "intent": "wrong", "summary": "right", "corrected_intent": "reset_password",
        "correction": "Card 4111 1111 1111 1111 was charged twice, call 415 555 0123"})
    assert sent.status_code == 303 and sent.headers["Location"] == \
        f"/console/calls/{ringing.call_sid}"
    assert feedback_rows(settings) == [
        ("ann", False, True, "reset_password", "Card [CARD] was charged twice, call [PHONE]")]
    again = text_of(ann.get(f"/console/calls/{ringing.call_sid}"))
    assert "Thank you: your feedback is saved." in again
    assert 'value="wrong" id="intent-wrong-1" checked' in again
    assert "Update feedback" in again

    ann.post(f"/console/calls/{ringing.call_sid}/feedback", data={
        **form, "intent": "right", "corrected_intent": "reset_password", "correction": ""})
    assert feedback_rows(settings) == [("ann", True, None, None, None)], \
        "one row per agent and transfer; a right intent needs no correction"
    details = [entry.detail for entry in audit_entries(settings, action=audit.FEEDBACK)]
    assert [detail["updated"] for detail in details] == [True, False]


def test_feedback_is_refused_for_others_bad_input_and_without_csrf(app, accounts, ringing,  # type: ignore[no-untyped-def]
                                                                   settings) -> None:
    ringing.agent_presses("1")
    ann, bob = signed_in(app, "ann"), signed_in(app, "bob")
    form = form_for(ann, ringing.call_sid)
    url = f"/console/calls/{ringing.call_sid}/feedback"
    assert ann.post(url, data={**form, "csrf_token": "", "intent": "right"}).status_code == 400
    assert ann.post(url, data=form).status_code == 400, "nothing said"
    assert ann.post(url, data={**form, "intent": "maybe"}).status_code == 400
    assert ann.post(url, data={**form, "intent": "wrong",
                               "corrected_intent": "launch_rockets"}).status_code == 400
    for transfer in ("999", "²", "", "1" * 40):
        assert ann.post(url, data={**form, "transfer": transfer, "intent": "right"}) \
            .status_code == 404, transfer
    bob_form = {**form, "csrf_token": csrf_token(bob, "/console"), "intent": "right"}
    assert bob.post(url, data=bob_form).status_code == 404, "not bob's call"
    assert feedback_rows(settings) == []


def test_figures_show_feedback_accuracy_and_corrected_intents(app, accounts, ringing, new_call,  # type: ignore[no-untyped-def]
                                                              settings) -> None:
    sue = signed_in(app, "sue")
    page = text_of(sue.get("/console/figures"))
    assert re.search(r'id="feedback-share">-<', page)
    ringing.agent_presses("1")
    other = new_call(caller=CALLER)
    other.start()
    other.say("I forgot my password")
    other.press("0")
    other.agent_hears()
    other.agent_presses("1")

    ann = signed_in(app, "ann")
    form = form_for(ann, ringing.call_sid)
    ann.post(f"/console/calls/{ringing.call_sid}/feedback", data={
        **form, "intent": "wrong", "summary": "wrong", "corrected_intent": "opening_hours"})
    page = text_of(sue.get("/console/figures"))
    assert re.search(r'id="feedback-share">50 % \(1 of 2 accepted transfers\)<', page)
    assert re.search(r'id="intent-accuracy">0 % \(0 of 1 rated\)<', page)
    assert re.search(r'id="summary-accuracy">0 % \(0 of 1 rated\)<', page)
    assert "<tr><td>opening_hours</td><td>1</td></tr>" in page

    form = form_for(ann, other.call_sid)
    ann.post(f"/console/calls/{other.call_sid}/feedback", data={**form, "intent": "right",
                                                               "summary": "right"})
    page = text_of(sue.get("/console/figures"))
    assert re.search(r'id="feedback-share">100 % \(2 of 2 accepted transfers\)<', page)
    assert re.search(r'id="intent-accuracy">50 % \(1 of 2 rated\)<', page)
    for private in ("where is my order", ringing.call_sid, CALLER):
        assert private not in page

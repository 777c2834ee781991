"""After the agent's part of a call: the one-question survey and the confirmation text, through
the real app with requests signed as Twilio signs them and Twilio's SMS API in `responses`."""

from __future__ import annotations

import logging
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses
from conftest import AUTH_TOKEN, BUNDLED_FLOW, make_settings
from helpers.stored import stored_call
from test_flow_validation import GOOD

from ivr.app.after_call import AfterCall, call_reference
from ivr.app.prompts import static_prompts
from ivr.config import Settings
from ivr.dialog import Hangup, Listen
from ivr.dialog.lines import DEFAULT_GOODBYE, SURVEY_AGAIN, SURVEY_QUESTION, SURVEY_THANKS
from ivr.dialog.parse import FlowError, parse_flow
from ivr.dialog.schema import Flow
from ivr.speech.tts import PromptLibrary
from ivr.storage import surveys
from ivr.storage.db import session_scope
from ivr.testing.simulated_call import Heard, SimulatedCall, flask_post

ROOT = Path(__file__).resolve().parent.parent
CALLER = "+14155550123"  # SimulatedCall's caller
SMS_FROM = "+15005550006"
MESSAGE_SID = "SM" + "a" * 32
SECTION = """after_transfer:
  survey: true
  sms_confirmation: "Thanks for calling {business}. Your reference is {reference}."
"""


def messages_url(settings: Settings) -> str:
    return (f"https://api.twilio.com/2010-04-01/Accounts/{settings.twilio_account_sid}"
            "/Messages.json")


def line(settings: Settings, flows: dict[str, Flow] | None = None):  # type: ignore[no-untyped-def]
    """A new-call factory on an app of its own (settings or flows other than the fixtures')."""
    from ivr.web import create_app

    client = create_app(settings, flows).test_client()

    def make(**kwargs: object) -> SimulatedCall:
        return SimulatedCall(flask_post(client), auth_token=AUTH_TOKEN,
                             public_url=settings.public_url, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def texting(sqlite_url: str):  # type: ignore[no-untyped-def]
    """Calls on a server that can send text messages (`sms_from` set)."""
    return line(make_settings(sqlite_url, sms_from=SMS_FROM))


def without_section() -> Flow:
    text = BUNDLED_FLOW.read_text()
    assert SECTION in text, "the bundled flow turns both features on"
    return parse_flow(text.replace(SECTION, ""), str(BUNDLED_FLOW))


def agent_leaves(call: SimulatedCall) -> Heard:
    """Transfer, the agent takes the call on the keypad, then hangs up."""
    call.start()
    call.press("0")
    call.agent_hears()
    assert "Connecting you now" in call.agent_presses("1").text
    return call.dial_ends("completed")


def survey_gather(heard: Heard) -> ElementTree.Element:
    root = ElementTree.fromstring(heard.twiml)
    gather = root.find("Gather")
    assert gather is not None, heard.twiml
    return gather


def answer(call: SimulatedCall, digits: str | None, *, again: bool = False) -> Heard:
    path = f"/voice/survey/{call.call_sid}" + ("?attempt=2" if again else "")
    return call.send(path, {"Digits": digits} if digits is not None else {})


# --- the survey -----------------------------------------------------------------------------


def test_the_survey_is_offered_when_the_agent_hangs_up(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    heard = agent_leaves(call)
    gather = survey_gather(heard)
    assert gather.get("input") == "dtmf" and gather.get("numDigits") == "1"
    assert gather.get("action") == f"https://ivr.example.com/voice/survey/{call.call_sid}"
    assert gather.get("timeout") == "6" and gather.get("finishOnKey") == ""
    assert gather.get("actionOnEmptyResult") is None, "silence falls through to the goodbye"
    assert [say.text for say in gather] == [SURVEY_QUESTION]
    root = ElementTree.fromstring(heard.twiml)
    assert [element.tag for element in root] == ["Gather", "Say", "Hangup"]
    assert root[1].text == DEFAULT_GOODBYE
    assert SURVEY_QUESTION.startswith("Before you go: how satisfied were you with your call")
    call_row, _, transfer = stored_call(settings, call.call_sid)
    assert transfer is not None and transfer.outcome == "completed"
    assert call_row.status == "completed-by-agent"
    assert call_row.survey_score is None


def test_key_4_is_stored_once(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    agent_leaves(call)
    thanks = answer(call, "4")
    assert thanks.says == [SURVEY_THANKS] and thanks.hangup and not thanks.listening
    row = stored_call(settings, call.call_sid).call
    assert row.survey_score == 4 and row.survey_at is not None
    assert answer(call, "1").says == [SURVEY_THANKS]  # Twilio again, or a second key
    again = call.dial_ends("completed")  # Twilio retrying the <Dial action>
    assert again.twiml.endswith("<Response><Hangup /></Response>")
    assert stored_call(settings, call.call_sid).call.survey_score == 4
    from ivr.app.data_rights import DataRights
    from ivr.storage.db import session_scope
    from ivr.storage.surveys import survey_figures

    exported = DataRights(settings).export(call.caller, "test")
    assert [c["survey_score"] for c in exported["calls"]] == [4]
    with session_scope(settings.database_url) as session:
        assert survey_figures(session) == {"survey_responses": 1, "survey_average_score": 4.0}


def test_a_bad_key_asks_once_more_then_5_counts(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    agent_leaves(call)
    asked_again = answer(call, "9")
    gather = survey_gather(asked_again)
    assert [say.text for say in gather] == [SURVEY_AGAIN]
    assert gather.get("action") == (f"https://ivr.example.com/voice/survey/{call.call_sid}"
                                    "?attempt=2")
    assert stored_call(settings, call.call_sid).call.survey_score is None
    assert answer(call, "5", again=True).says == [SURVEY_THANKS]
    assert stored_call(settings, call.call_sid).call.survey_score == 5


def test_two_bad_keys_end_with_goodbye_and_nothing_stored(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    agent_leaves(call)
    answer(call, "#")
    bye = answer(call, "0", again=True)
    assert bye.says == [DEFAULT_GOODBYE] and bye.hangup and not bye.listening
    row = stored_call(settings, call.call_sid).call
    assert row.survey_score is None and row.survey_at is None


def test_silence_or_hanging_up_is_a_no(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    heard = agent_leaves(call)
    assert heard.text.endswith(DEFAULT_GOODBYE) and heard.hangup  # what silence leads to
    bye = answer(call, None)  # a <Gather> posting nothing, should Twilio ever
    assert bye.says == [DEFAULT_GOODBYE] and bye.hangup
    call.hang_up()
    row = stored_call(settings, call.call_sid).call
    assert row.survey_score is None and row.survey_at is None


def test_no_survey_answer_without_an_agent_or_a_call(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.press("0")  # ringing, nobody took it
    assert answer(call, "5").says == [DEFAULT_GOODBYE]
    assert stored_call(settings, call.call_sid).call.survey_score is None
    assert answer(new_call(), "5").says == [DEFAULT_GOODBYE]


def test_the_survey_route_checks_the_signature(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/voice/survey/CA1", data={"CallSid": "CA1", "Digits": "5"})
    assert response.status_code == 403


@responses.activate
def test_flows_without_the_section_are_unchanged(sqlite_url) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, sms_from=SMS_FROM)
    flow = without_section()
    assert not flow.after_transfer.survey and flow.after_transfer.sms_confirmation is None
    call = line(settings, {"support": flow})()
    ended = agent_leaves(call)
    assert ended.twiml.endswith("<Response><Hangup /></Response>")
    assert len(responses.calls) == 0, "no text without `sms_confirmation`"
    assert answer(call, "5").says == [DEFAULT_GOODBYE]
    row = stored_call(settings, call.call_sid).call
    assert row.survey_score is None and row.confirmation_sms_sid is None
    assert SURVEY_QUESTION not in static_prompts(flow)


# --- the confirmation text ------------------------------------------------------------------


@responses.activate
def test_the_confirmation_text_is_sent_once_without_personal_data(texting, sqlite_url,  # type: ignore[no-untyped-def]
                                                                  caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="ivr")
    settings = make_settings(sqlite_url)
    sent = responses.post(messages_url(settings), status=201,
                          json={"sid": MESSAGE_SID, "status": "queued"})
    call = texting()
    heard = agent_leaves(call)
    assert survey_gather(heard) is not None, "the text does not replace the survey"
    call.dial_ends("completed")  # Twilio retrying the <Dial action>
    assert sent.call_count == 1
    form = {key: values[0] for key, values in parse_qs(sent.calls[0].request.body).items()}
    reference = call.call_sid[-6:].upper()
    assert call_reference(call.call_sid) == reference
    assert form == {"To": CALLER, "From": SMS_FROM,
                    "Body": f"Thanks for calling Acme Outfitters. Your reference is {reference}."}
    assert stored_call(settings, call.call_sid).call.confirmation_sms_sid == MESSAGE_SID
    assert CALLER not in caplog.text and CALLER[2:] not in caplog.text
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    dump = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert CALLER.encode() not in dump and CALLER[2:].encode() not in dump


@pytest.mark.parametrize(("sms_from", "caller", "said"), [
    (None, CALLER, "no SMS sender number is configured"),
    (SMS_FROM, "anonymous", "the caller's number is withheld"),
    (SMS_FROM, "client:softphone", "the caller's number is withheld"),
])
@responses.activate
def test_no_text_without_a_sender_or_a_number(sqlite_url, caplog, sms_from, caller,  # type: ignore[no-untyped-def]
                                              said) -> None:
    caplog.set_level(logging.INFO, logger="ivr")
    settings = make_settings(sqlite_url, sms_from=sms_from)
    call = line(settings)(caller=caller)
    heard = agent_leaves(call)
    assert survey_gather(heard) is not None
    assert len(responses.calls) == 0
    assert said in caplog.text
    assert stored_call(settings, call.call_sid).call.confirmation_sms_sid is None


@pytest.mark.parametrize(("status", "code"), [(400, 21211), (429, 20429), (500, 20500),
                                              (503, 20003)])
@responses.activate
def test_twilio_refusing_the_text_still_ends_the_call_politely(texting, sqlite_url, caplog,  # type: ignore[no-untyped-def]
                                                               status, code) -> None:
    caplog.set_level(logging.INFO, logger="ivr")
    settings = make_settings(sqlite_url)
    responses.post(messages_url(settings), status=status, json={
        "code": code, "message": f"The 'To' number {CALLER} is not valid.",
        "more_info": "https://www.twilio.com/docs/errors", "status": status})
    call = texting()
    heard = agent_leaves(call)
    assert heard.status == 200 and survey_gather(heard) is not None
    # Nothing was sent.
    assert stored_call(settings, call.call_sid).call.confirmation_sms_sid is None
    assert f"Twilio error {code}" in caplog.text and CALLER not in caplog.text
    assert answer(call, "3").says == [SURVEY_THANKS]


@responses.activate
def test_twilio_out_of_reach_sends_nothing_and_the_survey_goes_on(texting, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url)
    responses.post(messages_url(settings), body=requests.exceptions.ConnectionError())
    call = texting()
    assert survey_gather(agent_leaves(call)) is not None
    assert stored_call(settings, call.call_sid).call.confirmation_sms_sid is None


def test_a_dead_database_after_the_agent_still_says_goodbye(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from ivr.storage.db import engine_for

    call = new_call()
    call.start()
    call.press("0")
    call.agent_hears()
    call.agent_presses("1")
    after = AfterCall(settings, {"support": parse_flow(BUNDLED_FLOW.read_text())})
    with engine_for(settings.database_url).begin() as connection:
        connection.execute(text("ALTER TABLE calls RENAME TO calls_gone"))
    assert after.agent_leg_ended(call.call_sid, CALLER).directives == [Hangup()]
    assert after.survey_answered(call.call_sid, "5").directives[-1] == Hangup()


# --- the service on its own (what the conference transfer calls) ----------------------------


def test_agent_leg_ended_is_callable_from_elsewhere(new_call, settings, support_flow) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    after = AfterCall(settings, {"support": support_flow})
    reply = after.agent_leg_ended(call.call_sid, None)
    assert isinstance(reply.directives[1], Listen) and not reply.directives[1].speech
    assert after.agent_leg_ended("CAunknown", None).directives == [Hangup()]


def test_figures_count_answers_and_average_them(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    for digits in ("4", "5", None, "9"):
        call = new_call()
        agent_leaves(call)
        answer(call, digits)
    with session_scope(settings.database_url) as session:
        figures = surveys.survey_figures(session)
    assert figures == {"survey_responses": 2, "survey_average_score": 4.5}


@pytest.mark.postgres
@responses.activate
def test_once_per_call_on_postgres(fresh_postgres_url) -> None:  # type: ignore[no-untyped-def]
    from ivr.web import create_app

    settings = make_settings(fresh_postgres_url, sms_from=SMS_FROM)
    sent = responses.post(messages_url(settings), status=201,
                          json={"sid": MESSAGE_SID, "status": "queued"})
    client = create_app(settings, migrate=True).test_client()
    call = SimulatedCall(flask_post(client), auth_token=AUTH_TOKEN,
                         public_url=settings.public_url)
    agent_leaves(call)
    call.dial_ends("completed")
    assert answer(call, "2").says == [SURVEY_THANKS]
    assert answer(call, "5").says == [SURVEY_THANKS]
    row = stored_call(settings, call.call_sid).call
    assert (row.survey_score, row.confirmation_sms_sid, sent.call_count) == (2, MESSAGE_SID, 1)


# --- the flow file and the prompts ----------------------------------------------------------

MINI = GOOD + """\
after_transfer:
  survey: true
  sms_confirmation: "TEXT"
"""


@pytest.mark.parametrize(("text", "words"), [
    ("Hi {caller}, your reference is {reference}.", "{caller} is not a placeholder"),
    ("Order {order_number} for {name}.", "{order_number} is not a placeholder"),
    ("Your reference is {}.", "{} is not a placeholder"),
    ("Your reference is {0}.", "{0} is not a placeholder"),
    ("Reference {reference.upper}", "{reference.upper} is not a placeholder"),
    ("Your reference is {reference", "a { or } without its pair"),
    ("Your reference is reference}", "a { or } without its pair"),
    ("Your reference is {reference!r}.", "write the placeholder plainly"),
    ("Your reference is {reference:>10}.", "write the placeholder plainly"),
    ("   ", "the confirmation text is empty"),
    ("x" * 301, "at most 300 characters"),
])
def test_a_confirmation_text_may_use_only_known_placeholders(text: str, words: str) -> None:
    with pytest.raises(FlowError) as caught:
        parse_flow(MINI.replace("TEXT", text), "flows/mini.yaml")
    issues = [(issue.line, issue.message) for issue in caught.value.issues]
    assert any(line == 17 and words in message and "after_transfer.sms_confirmation" in message
               for line, message in issues), issues


def test_the_section_is_optional_and_strict() -> None:
    plain = parse_flow(MINI.split("after_transfer:")[0], "mini.yaml")
    assert not plain.after_transfer.survey and plain.after_transfer.sms_confirmation is None
    good = parse_flow(MINI.replace("TEXT", "{business}: {{ref}} {reference}"), "mini.yaml")
    assert good.after_transfer.survey
    with pytest.raises(FlowError) as caught:
        parse_flow(MINI.replace("  survey: true", "  surveys: true"), "flows/mini.yaml")
    assert any(issue.line == 16 and "`surveys` is not a setting" in issue.message
               for issue in caught.value.issues)


def test_the_survey_lines_are_pre_rendered(support_flow) -> None:  # type: ignore[no-untyped-def]
    texts = static_prompts(support_flow)
    assert {SURVEY_QUESTION, SURVEY_AGAIN, SURVEY_THANKS} <= set(texts)
    library = PromptLibrary(ROOT / "audio_prompts")
    try:
        assert all(library.has(text) for text in (SURVEY_QUESTION, SURVEY_AGAIN, SURVEY_THANKS))
    finally:
        library.close()


def test_with_pre_rendered_prompts_the_survey_plays_them(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for wav in (ROOT / "audio_prompts").glob("*.wav"):  # the committed ones, no cache
        shutil.copy(wav, prompts)
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite3'}", tts="pyttsx3",
                             prompts_dir=prompts)
    heard = agent_leaves(line(settings)())
    root = ElementTree.fromstring(heard.twiml)
    assert [element.tag for element in root] == ["Gather", "Play", "Hangup"]
    question = root.find("Gather/Play")
    assert question is not None and question.text is not None
    assert question.text.startswith("https://ivr.example.com/prompts/")

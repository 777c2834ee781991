"""Caller sentiment: real VADER scores, the offer of a person after sustained negative turns
(engine fed events), the trend in the summary, and the whole thing through signed webhooks."""

from __future__ import annotations

import pytest
from helpers.engine import said, started, transfer_of
from helpers.stored import stored_call
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ivr.app.prompts import server_lines
from ivr.app.summary import TurnRecord, build_summary, sentiment_trend, spoken_summary
from ivr.dialog import (
    ActionDone,
    CallState,
    Flow,
    Hangup,
    Listen,
    NoInput,
    RunAction,
    UserInput,
    step,
)
from ivr.dialog.engine import CARRY_ON, OFFER_ACCEPTED, PERSON_OFFER
from ivr.nlu import Interpreter
from ivr.nlu.sentiment import analyzer, score

# --- scores -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["this is hopeless, I am very disappointed", "I hate this", "my parcel arrived broken",
     "I lost the email, this is a horrible mess", "why is this so difficult",
     "no, this is a disaster", "no thanks, this has been awful", "no help at all", "no good"],
)  # fmt: skip
def test_clearly_negative_sentences_score_below_zero(text: str) -> None:
    assert score(text) < -0.25  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    ["thank you so much, that's great", "wonderful, that really helps", "I love this service",
     "yes thank you, that's perfect"],
)  # fmt: skip
def test_clearly_positive_sentences_score_above_zero(text: str) -> None:
    assert score(text) > 0.25  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    ["where is my order", "I forgot my password", "what are your opening hours",
     "I have no idea where it is", "no I want to check my order", "one two three four five six",
     "123456", "#", "12 34 56"],
)  # fmt: skip
def test_plain_requests_and_numbers_are_neutral(text: str) -> None:
    assert abs(score(text)) < 0.1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["no", "No.", "NO!", "nope", "no thanks", "no thank you", "not really", "nah", "um no",
     "I said no", "no no no", "not right now", "I don't think so", "yes", "yes please", "okay",
     "uh huh", "no that's wrong"],
)  # fmt: skip
def test_yes_and_no_answers_are_neutral(text: str) -> None:
    assert score(text) == 0.0


def test_plain_vader_would_hear_anger_in_a_no() -> None:
    plain = SentimentIntensityAnalyzer()
    assert plain.polarity_scores("no")["compound"] < 0
    assert plain.polarity_scores("no thanks")["compound"] < 0


@pytest.mark.parametrize("text", ["[CARD]", "[CARD] [CVV]", "my card is [CARD]", "[SSN]",
                                  "it's [PHONE] or [EMAIL]", "[DOB]"])
def test_redaction_markers_are_neutral(text: str) -> None:
    assert score(text) == 0.0


@pytest.mark.parametrize("text", ["", "   ", None])
def test_no_words_no_score(text: str | None) -> None:
    assert score(text) is None


def test_the_analyzer_is_built_once() -> None:
    assert analyzer() is analyzer()


@pytest.mark.parametrize("text", ["\ud800 lone \udfff", "😀🔥📦", "\x00\x1b[31m", "Ω≈ç√∫ ﬁ",
                                  "x" * 500, "!!!???"])
def test_odd_text_scores_within_bounds(text: str) -> None:
    value = score(text)
    assert value is not None and -1.0 <= value <= 1.0


def test_the_interpreter_attaches_the_score(support_flow: Flow) -> None:
    interpreter = Interpreter(support_flow)
    heard = interpreter.interpret("my order is late and I am very disappointed", "", 0.9)
    assert heard.sentiment is not None and heard.sentiment < -0.4
    assert heard.intent == "order_status" and not heard.frustrated
    assert interpreter.interpret("no thanks").sentiment == 0.0
    assert interpreter.interpret("", "123#").sentiment is None, "keys carry no words to score"
    assert interpreter.interpret("").sentiment is None


# --- the engine -------------------------------------------------------------------------


def words(text: str = "words", sentiment: float | None = 0.0, intent: str | None = None,
          confidence: float = 0.9, **entities: object) -> UserInput:
    return UserInput(text=text, asr_confidence=0.9, intent=intent, intent_confidence=confidence,
                     entities=dict(entities), sentiment=sentiment)


def upset(intent: str | None = None, sentiment: float = -0.7, **entities: object) -> UserInput:
    return words("this is hopeless", sentiment, intent, **entities)


YES = words("yes", 0.0, "yes", yes_no=True)
NO = words("no", 0.0, "no", yes_no=False)


def run(flow: Flow, state: CallState, *events) -> tuple[CallState, list]:  # type: ignore[no-untyped-def]
    directives: list = []
    for event in events:
        state, directives = step(flow, state, event)
    return state, directives


def with_settings(flow: Flow, **settings: object) -> Flow:
    return flow.model_copy(update={"settings": flow.settings.model_copy(update=settings)})


def test_two_negative_turns_bring_the_offer(support_flow: Flow) -> None:
    state, directives = run(support_flow, started(support_flow), upset())
    assert PERSON_OFFER not in said(directives), "one negative turn is not enough"
    state, directives = step(support_flow, state, upset())
    assert said(directives) == PERSON_OFFER
    listen = directives[-1]
    assert isinstance(listen, Listen) and {"yes", "no", "agent"} <= set(listen.hints)
    assert transfer_of(directives) is None
    assert state.person_offer == "asked" and state.node == "main_menu"
    assert state.sentiment == [-0.7, -0.7]


@pytest.mark.parametrize("answer", [YES, words("yeah go on", 0.0, None, yes_no=True),
                                    words("agent", 0.0, "agent", 1.0), UserInput(digits="1"),
                                    UserInput(digits="0")])
def test_yes_to_the_offer_transfers_with_trigger_sentiment(support_flow: Flow, answer) -> None:  # type: ignore[no-untyped-def]
    state, directives = run(support_flow, started(support_flow), upset(), upset(), answer)
    transfer = transfer_of(directives)
    assert transfer is not None and transfer.trigger == "sentiment"
    assert transfer.reason == OFFER_ACCEPTED and "frustrated" in transfer.reason
    assert transfer.queue == "support" and state.transferred


def test_no_to_the_offer_asks_the_question_again_and_never_offers_twice(
    support_flow: Flow,
) -> None:
    state, _ = run(support_flow, started(support_flow), upset(), upset())
    state, directives = step(support_flow, state, NO)
    question = support_flow.states["main_menu"].ask
    assert said(directives) == f"{CARRY_ON} {question}"
    assert isinstance(directives[-1], Listen) and "track my package" in directives[-1].hints
    assert state.node == "main_menu" and state.last_prompt == question
    assert state.person_offer == "made" and transfer_of(directives) is None
    state, directives = run(support_flow, state, upset("order_status"), upset())
    assert state.node == "ask_order_number" and "six digit" in said(directives)
    assert PERSON_OFFER not in said(directives) and transfer_of(directives) is None
    state, directives = run(support_flow, state, upset(), upset())
    assert PERSON_OFFER not in said(directives)


@pytest.mark.parametrize("answer", [NoInput(), words("banana", -0.1), UserInput(digits="2"),
                                    UserInput(text="")])
def test_silence_or_anything_else_on_the_offer_counts_as_no(support_flow: Flow, answer) -> None:  # type: ignore[no-untyped-def]
    state, directives = run(support_flow, started(support_flow), upset(), upset(), answer)
    assert said(directives).startswith(CARRY_ON) and transfer_of(directives) is None
    assert state.person_offer == "made" and state.node == "main_menu"
    state, directives = step(support_flow, state, NoInput())
    assert said(directives) != PERSON_OFFER, "the offer is not repeated"


def test_a_frustrated_answer_without_a_no_still_transfers(support_flow: Flow) -> None:
    state, _ = run(support_flow, started(support_flow), upset(), upset())
    angry = UserInput(text="this is ridiculous", asr_confidence=0.9, frustrated=True,
                      sentiment=-0.6)
    _, directives = step(support_flow, state, angry)
    assert transfer_of(directives).trigger == "frustration"  # type: ignore[union-attr]


def test_with_the_setting_off_nothing_changes(support_flow: Flow) -> None:
    flow = with_settings(support_flow, offer_person_on_negative_sentiment=False)
    quiet_state, quiet = run(flow, started(flow), words(sentiment=0.0), words(sentiment=0.0))
    state, directives = run(flow, started(flow), upset(), upset())
    assert directives == quiet and state.person_offer == "not_yet"
    assert state.no_match == quiet_state.no_match == 2


def test_asking_for_a_person_during_a_negative_streak_transfers_at_once(
    support_flow: Flow,
) -> None:
    state, _ = step(support_flow, started(support_flow), upset())
    state, directives = step(support_flow, state, upset("agent", confidence=1.0))
    transfer = transfer_of(directives)
    assert transfer is not None and transfer.trigger == "caller_request"
    assert PERSON_OFFER not in said(directives)
    _, directives = run(support_flow, started(support_flow), upset(), UserInput(digits="0"))
    assert transfer_of(directives).trigger == "caller_request"  # type: ignore[union-attr]


def test_a_turn_that_transfers_anyway_is_not_delayed_by_the_offer(support_flow: Flow) -> None:
    low = words("mumble", -0.7, "order_status", confidence=0.1)
    _, directives = run(support_flow, started(support_flow), low, low)
    assert transfer_of(directives).trigger == "low_confidence"  # type: ignore[union-attr]


def test_neutral_keys_or_silence_end_a_negative_run(support_flow: Flow) -> None:
    for between in (words(sentiment=0.0), NoInput(), UserInput(digits="9")):
        state, directives = run(support_flow, started(support_flow), upset(), between, upset())
        assert PERSON_OFFER not in said(directives), between
        assert state.person_offer == "not_yet"


def test_a_turn_must_be_below_the_threshold(support_flow: Flow) -> None:
    at = support_flow.settings.negative_sentiment_threshold
    _, directives = run(support_flow, started(support_flow), upset(sentiment=at),
                        upset(sentiment=at))
    assert PERSON_OFFER not in said(directives)
    flow = with_settings(support_flow, negative_sentiment_turns=3, no_match_reprompts=5)
    state, directives = run(flow, started(flow), upset(), upset())
    assert PERSON_OFFER not in said(directives)
    _, directives = step(flow, state, upset())
    assert said(directives) == PERSON_OFFER


def test_the_offer_waits_for_the_question_after_an_action(support_flow: Flow) -> None:
    state = started(support_flow, "ask_order_number")
    state, _ = step(support_flow, state, upset())
    state, directives = step(support_flow, state, upset(digits="123456"))
    assert directives == [RunAction("action_order_status")] and state.person_offer == "due"
    state, directives = step(support_flow, state, ActionDone(
        "action_order_status", ok=True, messages=("It shipped on Monday.",),
        slots={"order_found": True}))
    assert said(directives) == f"It shipped on Monday. {PERSON_OFFER}"
    assert state.node == "anything_else" and state.person_offer == "asked"
    _, directives = step(support_flow, state, NO)
    assert said(directives) == f"{CARRY_ON} {support_flow.states['anything_else'].ask}"


def test_goodbye_during_a_negative_run_still_hangs_up(support_flow: Flow) -> None:
    state, directives = run(support_flow, started(support_flow, "anything_else"), upset(),
                            upset(yes_no=False))
    assert isinstance(directives[-1], Hangup) and state.ended


def test_the_remembered_scores_are_bounded_and_old_states_still_load(support_flow: Flow) -> None:
    repeats = [words("say that again", 0.1 * n, "repeat") for n in range(8)]
    state, _ = run(support_flow, started(support_flow), *repeats)
    assert len(state.sentiment) == 5 and state.sentiment[-1] == pytest.approx(0.7)
    old = CallState.model_validate({"node": "main_menu", "last_prompt": "How can I help?"})
    assert old.sentiment == [] and old.person_offer == "not_yet"


def test_prompts_pre_render_the_new_lines() -> None:
    assert {PERSON_OFFER, CARRY_ON} <= set(server_lines())


# --- the summary ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "trend"),
    [
        ([], None),
        ([0.0], "neutral"),
        ([-0.6], "negative"),
        ([0.5], "positive"),
        ([0.0, 0.1, 0.0], "neutral"),
        ([-0.5, -0.7, 0.0], "negative"),
        ([0.0, 0.0, -0.6, -0.6], "worsening"),
        ([0.0, -0.6], "worsening"),
        ([-0.7, -0.5, 0.2, 0.4], "improving"),
        ([-0.6, 0.0], "negative"),
        ([-0.6, -0.6, 0.0, 0.1], "negative"),
        ([0.6, 0.8, 0.3], "positive"),
    ],
)
def test_sentiment_trend(scores: list[float], trend: str | None) -> None:
    assert sentiment_trend(scores) == trend


def caller_turns(*scores: float | None) -> list[TurnRecord]:
    return [TurnRecord(kind="speech" if value is not None else "digits", node="main_menu",
                       heard="words" if value is not None else None,
                       digits=None if value is not None else "1", sentiment=value)
            for value in scores]


def test_summary_carries_per_turn_sentiment_and_the_trend(support_flow: Flow) -> None:
    turns = [TurnRecord(kind="start"), *caller_turns(0.0, None, -0.5123, -0.71)]
    state = CallState(node="main_menu", intents=["order_status"])
    summary = build_summary(support_flow, state, turns, reason="the caller asked for a person",
                            trigger="caller_request", duration_seconds=40)
    assert summary["sentiment"] == [0.0, None, -0.51, -0.71]
    assert summary["sentiment_trend"] == "worsening"
    spoken = summary["spoken"]
    assert spoken.index("check the status") < spoken.index("more and more frustrated")
    calm = build_summary(support_flow, state, [*caller_turns(0.0, 0.2)], reason="r",
                         trigger="caller_request", duration_seconds=5)
    assert calm["sentiment_trend"] == "neutral" and "frustrated" not in calm["spoken"]


def test_the_spoken_summary_says_frustrated_once_and_fits(support_flow: Flow) -> None:
    summary = build_summary(support_flow, CallState(node="main_menu"),
                            caller_turns(-0.6, -0.7), reason="the caller asked for a person",
                            trigger="caller_request", duration_seconds=40)
    assert summary["sentiment_trend"] == "negative"
    assert "The caller sounds frustrated." in summary["spoken"]
    summary["slots"] = {f"note_{n}": "a long value of many many words" for n in range(20)}
    summary["reason"] = "the caller sounded frustrated and accepted the offer of a person"
    summary["trigger"] = "sentiment"
    spoken = spoken_summary(summary)
    assert spoken.count("frustrated") == 1, "the reason already says it"
    assert len(spoken.split()) <= 25 * 2.5


# --- through the webhooks -----------------------------------------------------------------


def test_a_frustrated_caller_is_offered_a_person_and_says_yes(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    heard = call.say("my order is late and I am very disappointed")
    assert "order number" in heard.text and PERSON_OFFER not in heard.text
    heard = call.say("I lost the email, this is a horrible mess")
    assert PERSON_OFFER in heard.text and heard.listening and not heard.dial_target
    heard = call.say("yes")
    assert heard.dial_target and "won't need to repeat yourself" in heard.text
    _, turns, transfer = stored_call(settings, call.call_sid)
    assert transfer.trigger == "sentiment" and "frustrated" in transfer.reason
    speech = [turn for turn in turns if turn.kind == "speech"]
    assert [turn.sentiment < -0.4 for turn in speech[:2]] == [True, True]
    assert speech[2].sentiment == 0.0
    assert turns[0].kind == "start" and turns[0].sentiment is None
    assert transfer.summary["sentiment"] == [round(turn.sentiment, 2) for turn in speech]
    assert transfer.summary["sentiment_trend"] == "negative"
    assert transfer.summary["spoken"].startswith(f"Transferred because {transfer.reason}.")


def test_a_caller_who_declines_the_offer_carries_on(new_call, settings) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.say("my order is late and I am very disappointed")
    call.say("I lost the email, this is a horrible mess")
    heard = call.say("no thanks")
    assert heard.text.startswith(CARRY_ON) and "six digit order number" in heard.text
    assert heard.listening and not heard.dial_target
    heard = call.press("123456")
    assert "shipped" in heard.text and PERSON_OFFER not in heard.text
    _, turns, transfer = stored_call(settings, call.call_sid)
    assert transfer is None
    assert [turn.sentiment for turn in turns if turn.kind == "digits"] == [None]


def test_twilio_asking_again_during_the_offer_listens_for_the_offers_answer(new_call) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    call.start()
    call.say("my order is late and I am very disappointed")
    offered = call.say("I lost the email, this is a horrible mess")
    assert "put you through to a person" in offered.text
    again = call.start()  # Twilio fetches /voice/incoming again for the same call
    assert "put you through to a person" in again.text
    assert 'numDigits="1"' in again.twiml
    assert call.press("1").dial_target

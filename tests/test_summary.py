"""The hand-over summary built directly from stored turns and the call state (no web, no
database): the structured record for screens and the spoken version, with its time cap."""

from __future__ import annotations

import pytest

from ivr.app import summary as summary_module
from ivr.app.summary import (
    LAST_UTTERANCES,
    MAX_SPOKEN_SECONDS,
    WORDS_PER_SECOND,
    TurnRecord,
    build_summary,
    sentiment_trend,
    spoken_summary,
)
from ivr.dialog import CallState, Flow

CAP = int(MAX_SPOKEN_SECONDS * WORDS_PER_SECOND)
"""The most words the spoken version may have, as the module counts them."""
REASON = "the caller asked for a person"


def speech(text: str, node: str = "main_menu", *, intent: str | None = None,
           confidence: float | None = None, asr: float | None = 0.9,
           sentiment: float | None = 0.0) -> TurnRecord:
    return TurnRecord(kind="speech", node=node, heard=text, asr_confidence=asr, intent=intent,
                      intent_confidence=confidence, sentiment=sentiment)


def keyed(digits: str, node: str = "ask_order_number", *, intent: str | None = None,
          confidence: float | None = None) -> TurnRecord:
    return TurnRecord(kind="digits", node=node, digits=digits, intent=intent,
                      intent_confidence=confidence)


def silence(node: str = "main_menu") -> TurnRecord:
    return TurnRecord(kind="no_input", node=node)


def action(name: str, ok: bool | None, reply: str | None, node: str = "lookup_order") -> TurnRecord:
    return TurnRecord(kind="action", node=node, action=name, action_ok=ok, reply=reply)


def summarise(flow: Flow, turns: list[TurnRecord], state: CallState | None = None, *,
              reason: str = REASON, trigger: str = "caller_request", duration_seconds: int = 60,
              earlier_calls: int | None = 0) -> dict:  # type: ignore[type-arg]
    return build_summary(flow, state or CallState(node="anything_else"), turns, reason=reason,
                         trigger=trigger, duration_seconds=duration_seconds,
                         earlier_calls=earlier_calls)


ORDER_CALL = [
    TurnRecord(kind="start", node="main_menu", reply="Hi, thanks for calling"),
    speech("where is my order", intent="order_status", confidence=0.91234, asr=0.87654),
    keyed("123456"),
    action("action_order_status", True, "Order 1 2 3 4 5 6 shipped on Monday."),
    speech("agent", "anything_else", intent="agent", confidence=0.955, sentiment=-0.1),
]
ORDER_STATE = CallState(node="anything_else", intents=["order_status"],
                        slots={"order_number": "123456", "order_found": True})


# --- the structured summary ------------------------------------------------------------------


def test_reason_trigger_state_duration_and_repeat_calls_are_carried(support_flow: Flow) -> None:
    summary = summarise(support_flow, ORDER_CALL, ORDER_STATE, reason="the caller pressed 0",
                        trigger="keypad_zero", duration_seconds=95, earlier_calls=2)
    assert summary["reason"] == "the caller pressed 0"
    assert summary["trigger"] == "keypad_zero"
    assert summary["state"] == "anything_else"
    assert summary["duration_seconds"] == 95
    assert summary["earlier_calls_30_days"] == 2
    withheld = summarise(support_flow, ORDER_CALL, ORDER_STATE, earlier_calls=None)
    assert withheld["earlier_calls_30_days"] is None, "a withheld number is not a first call"


def test_what_the_caller_wants_in_the_flows_words(support_flow: Flow) -> None:
    state = CallState(node="confirm_reset", intents=["order_status", "reset_password"])
    summary = summarise(support_flow, [], state)
    assert summary["all_requests"] == ["check the status of an order",
                                       "reset their account password"]
    assert summary["caller_wants"] == "reset their account password", "the latest request"


def test_each_request_is_listed_once_and_unknown_intents_read_as_words(support_flow: Flow) -> None:
    state = CallState(intents=["opening_hours", "billing_question", "opening_hours", "agent"])
    summary = summarise(support_flow, [], state)
    assert summary["all_requests"] == ["know the opening hours", "billing question", "agent"]


def test_without_a_request_the_caller_wants_nothing_yet(support_flow: Flow) -> None:
    summary = summarise(support_flow, [TurnRecord(kind="start"), silence()], CallState())
    assert summary["caller_wants"] is None and summary["all_requests"] == []
    assert "The caller's request is not known yet." in summary["spoken"]
    assert "The caller wants" not in summary["spoken"]


def test_intents_per_caller_turn_with_rounded_confidences(support_flow: Flow) -> None:
    turns = [*ORDER_CALL, keyed("1", "main_menu", intent="order_status", confidence=1.0),
             TurnRecord(kind="action", action="action_order_status", action_ok=True,
                        intent="order_status", reply="x")]
    assert summarise(support_flow, turns, ORDER_STATE)["intents"] == [
        {"intent": "order_status", "confidence": 0.91, "speech_confidence": 0.88,
         "state": "main_menu"},
        {"intent": "agent", "confidence": 0.95, "speech_confidence": 0.9,
         "state": "anything_else"},
        {"intent": "order_status", "confidence": 1.0, "speech_confidence": None,
         "state": "main_menu"},
    ], "caller turns without an intent, and action turns, are left out"


def test_slots_are_the_states_as_a_copy(support_flow: Flow) -> None:
    summary = summarise(support_flow, ORDER_CALL, ORDER_STATE)
    assert summary["slots"] == {"order_number": "123456", "order_found": True}
    summary["slots"]["order_number"] = "000000"
    assert ORDER_STATE.slots["order_number"] == "123456"


def test_actions_with_what_they_said_or_their_error(support_flow: Flow) -> None:
    turns = [*ORDER_CALL,
             action("action_send_password_reset", False, "the SMS provider is unreachable"),
             action("action_opening_hours", None, None)]
    assert summarise(support_flow, turns, ORDER_STATE)["actions"] == [
        {"name": "action_order_status", "ok": True,
         "said": "Order 1 2 3 4 5 6 shipped on Monday.", "error": None},
        {"name": "action_send_password_reset", "ok": False, "said": "",
         "error": "the SMS provider is unreachable"},
        {"name": "action_opening_hours", "ok": False, "said": "", "error": None},
    ]


def test_turns_count_the_callers_turns_only(support_flow: Flow) -> None:
    turns = [*ORDER_CALL, silence("anything_else"), TurnRecord(kind="fault", node="x")]
    # speech, digits, speech and silence; not the start, the action or the fault
    assert summarise(support_flow, turns, ORDER_STATE)["turns"] == 4


def test_the_last_three_utterances_with_keys_spelt_and_silence_left_out(support_flow: Flow) -> None:
    assert LAST_UTTERANCES == 3
    turns = [*ORDER_CALL, silence("anything_else")]
    assert summarise(support_flow, turns, ORDER_STATE)["last_utterances"] == [
        "where is my order", "(keyed 123456)", "agent"]
    turns = [speech("one"), speech("two"), keyed("42"), silence(), speech("four")]
    assert summarise(support_flow, turns)["last_utterances"] == ["two", "(keyed 42)", "four"]


def test_sentiment_per_caller_turn_keeps_the_gaps_and_rounds(support_flow: Flow) -> None:
    turns = [TurnRecord(kind="start"), speech("a", sentiment=0.0), keyed("1"), silence(),
             speech("b", sentiment=-0.6049), speech("c", sentiment=0.0)]
    summary = summarise(support_flow, turns)
    assert summary["sentiment"] == [0.0, None, None, -0.6, 0.0]
    # Scored turns 0.0 | -0.6, 0.0: the middle one goes to the later half, which is negative.
    assert summary["sentiment_trend"] == "worsening"


def test_no_scored_turn_means_no_trend(support_flow: Flow) -> None:
    summary = summarise(support_flow, [keyed("1"), silence()])
    assert summary["sentiment"] == [None, None] and summary["sentiment_trend"] is None


@pytest.mark.parametrize(("scores", "trend"), [
    ([-0.25], "negative"),
    ([-0.2499], "neutral"),
    ([0.25], "positive"),
    ([0.0, -0.6, 0.0], "worsening"),  # the middle turn is in the later half
    ([-0.6, 0.0, 0.0], "neutral"),  # calmer later, but neutral is not improving
    ([-0.6, 0.3, 0.4], "improving"),
    ([-0.3, -0.3, -0.4, -0.5], "negative"),  # negative throughout is not worsening
])
def test_sentiment_trend_bands_and_halves(scores: list[float], trend: str) -> None:
    assert sentiment_trend(scores) == trend


# --- the spoken summary ----------------------------------------------------------------------


def test_the_spoken_summary_of_an_order_call(support_flow: Flow) -> None:
    summary = summarise(support_flow, ORDER_CALL, ORDER_STATE, duration_seconds=95,
                        earlier_calls=2)
    assert summary["spoken"] == (
        "Transferred because the caller asked for a person. "
        "The bot already helped them to check the status of an order; nothing else is known "
        "yet. "
        "Repeat caller: 2 earlier calls this month. "
        "Order number: 1 2 3 4 5 6. "
        "The bot told them: Order 1 2 3 4 5 6 shipped on Monday. "
        "They last said: agent. "
        "3 turns, 95 seconds.")
    without_spoken = {key: value for key, value in summary.items() if key != "spoken"}
    assert spoken_summary(without_spoken) == summary["spoken"]


def test_the_spoken_summary_leads_with_the_reason_then_the_open_request(
        support_flow: Flow) -> None:
    state = ORDER_STATE.model_copy(update={"intents": ["order_status", "reset_password"]})
    turns = [*ORDER_CALL[:-1], speech("I forgot my password", "anything_else",
                                      intent="reset_password", confidence=0.9),
             speech("agent", "confirm_reset", intent="agent", confidence=0.95)]
    spoken = summarise(support_flow, turns, state)["spoken"]
    assert spoken.startswith(f"Transferred because {REASON}. "
                             "The caller wants to reset their account password. "
                             "The bot already helped them to check the status of an order. ")


def test_the_need_is_the_request_left_open_not_the_latest_answered_one(
        support_flow: Flow) -> None:
    """Order status answered, then a request left open, then opening hours answered, then
    "agent": the agent hears the open request first, then what the bot already answered."""
    turns = [speech("where is my order", intent="order_status", confidence=0.9), keyed("123456"),
             action("action_order_status", True, "Order 1 2 3 4 5 6 shipped on Monday."),
             speech("reset my password", "anything_else", intent="reset_password",
                    confidence=0.9),
             speech("no", "confirm_reset", intent="no", confidence=1.0),
             speech("opening hours", "anything_else", intent="opening_hours", confidence=0.9),
             action("action_opening_hours", True, "We're open until 8 PM.", "opening_hours"),
             speech("agent", "anything_else", intent="agent", confidence=0.95)]
    state = CallState(node="anything_else",
                      intents=["order_status", "reset_password", "opening_hours"])
    summary = summarise(support_flow, turns, state)
    assert summary["caller_wants"] == "reset their account password"
    assert summary["answered_requests"] == ["check the status of an order",
                                            "know the opening hours"]
    assert [(r["intent"], r["answered"], r["bot_said"]) for r in summary["requests"]] == [
        ("order_status", True, "Order 1 2 3 4 5 6 shipped on Monday."),
        ("reset_password", False, None),
        ("opening_hours", True, "We're open until 8 PM.")]
    assert ("The caller wants to reset their account password. The bot already helped them "
            "to check the status of an order and to know the opening hours.") in summary["spoken"]


def test_when_every_request_was_answered_no_need_is_invented(support_flow: Flow) -> None:
    """The issue's call: order status, then opening hours (both answered), then "agent"."""
    turns = [speech("where is my order", intent="order_status", confidence=0.9), keyed("123456"),
             action("action_order_status", True, "Order 1 2 3 4 5 6 shipped on Monday."),
             speech("opening hours", "anything_else", intent="opening_hours", confidence=0.9),
             action("action_opening_hours", True, "We're open until 8 PM.", "opening_hours"),
             speech("agent", "anything_else", intent="agent", confidence=0.95)]
    state = CallState(node="anything_else", intents=["order_status", "opening_hours"],
                      slots={"order_number": "123456", "order_found": True,
                             "order_status": "shipped", "open_now": True})
    summary = summarise(support_flow, turns, state)
    assert summary["caller_wants"] is None
    spoken = summary["spoken"]
    assert "The caller wants to know the opening hours" not in spoken
    assert ("The bot already helped them to check the status of an order and to know the "
            "opening hours; nothing else is known yet.") in spoken
    assert "Order number: 1 2 3 4 5 6." in spoken
    assert "order found" not in spoken and "open now" not in spoken
    assert "order status" not in spoken  # set by an action, not said by the caller
    assert summary["slots"]["open_now"] is True  # still on screen


def test_a_slot_is_read_out_by_the_label_the_flow_gives_it(support_flow: Flow) -> None:
    ask = support_flow.states["ask_order_number"]
    assert ask.slot is not None
    labelled = ask.model_copy(update={"slot": ask.slot.model_copy(
        update={"label": "the order reference"})})
    flow = support_flow.model_copy(update={"states": {**support_flow.states,
                                                      "ask_order_number": labelled}})
    spoken = summarise(flow, ORDER_CALL, ORDER_STATE)["spoken"]
    assert "The order reference: 1 2 3 4 5 6." in spoken


@pytest.mark.parametrize(("count", "sentence"), [
    (1, "Repeat caller: 1 earlier call this month."),
    (3, "Repeat caller: 3 earlier calls this month."),
    (0, None),
    (None, None),
])
def test_the_spoken_summary_names_repeat_callers(support_flow: Flow, count: int | None,
                                                 sentence: str | None) -> None:
    spoken = summarise(support_flow, ORDER_CALL, ORDER_STATE, earlier_calls=count)["spoken"]
    if sentence is None:
        assert "Repeat caller" not in spoken
    else:
        assert sentence in spoken


@pytest.mark.parametrize(("scores", "trigger", "sentence"), [
    ((-0.6, -0.7), "caller_request", "The caller sounds frustrated."),
    ((0.0, -0.6), "caller_request", "The caller sounds more and more frustrated."),
    ((-0.6, -0.7), "frustration", None),  # the reason already says so
    ((0.0, -0.6), "sentiment", None),
    ((-0.7, 0.5), "caller_request", None),  # improving
    ((0.0, 0.1), "caller_request", None),
])
def test_the_spoken_summary_says_how_the_caller_sounds(support_flow: Flow,
                                                       scores: tuple[float, float], trigger: str,
                                                       sentence: str | None) -> None:
    turns = [speech("x", sentiment=score) for score in scores]
    spoken = summarise(support_flow, turns, trigger=trigger)["spoken"]
    if sentence is None:
        assert "frustrated" not in spoken
    else:
        assert spoken.count("frustrated") == 1 and sentence in spoken


def test_the_spoken_summary_tells_the_last_two_actions_only(support_flow: Flow) -> None:
    turns = [action("action_opening_hours", True, "We're open until 8 PM."),
             action("action_send_password_reset", False, "timeout talking to the SMS gateway"),
             action("action_order_status", True, "Order 1 2 3 shipped."),
             action("action_lookup_account", True, "")]
    spoken = summarise(support_flow, turns)["spoken"]
    assert "open until 8 PM" not in spoken, "the third action from the end is left out"
    assert "The bot told them: Order 1 2 3 shipped." in spoken
    assert "lookup account" not in spoken, "an action that said nothing is not mentioned"
    turns = turns[:3]
    spoken = summarise(support_flow, turns)["spoken"]
    assert "The send password reset step failed." in spoken
    assert "timeout" not in spoken, "an error is for the screen, not read out"


def test_the_spoken_summary_ends_with_turns_and_seconds(support_flow: Flow) -> None:
    spoken = summarise(support_flow, [speech("hello"), silence()], duration_seconds=12)["spoken"]
    assert spoken.endswith("They last said: hello. 2 turns, 12 seconds.")


def test_the_spoken_summary_fits_25_seconds(support_flow: Flow,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_SPOKEN_SECONDS == 25
    assert CAP == 62  # 25 s at 2.5 words a second
    note = " ".join(["leave the parcel with the neighbour at number twelve"] * 4)
    call = [*ORDER_CALL[:-1], speech("I want to talk to a person", "anything_else")]
    summary = summarise(support_flow, call, ORDER_STATE, duration_seconds=300,
                        earlier_calls=None)
    summary["spoken_slots"] = {"order number": "1 2 3 4 5 6", "delivery note": note}
    spoken = spoken_summary(summary)
    assert len(spoken.split()) <= CAP

    monkeypatch.setattr(summary_module, "MAX_SPOKEN_SECONDS", 1000)
    uncut = spoken_summary(summary)
    assert len(uncut.split()) > CAP, "the test needs more than fits"
    assert spoken == uncut.replace(f" Delivery note: {note}.", ""), \
        "the sentence that does not fit is left out; shorter ones after it still fit"
    assert spoken.endswith("They last said: I want to talk to a person. 3 turns, 300 seconds.")


def test_a_spoken_summary_of_many_slots_stops_at_the_cap(support_flow: Flow) -> None:
    state = CallState(intents=["reset_password"])
    summary = summarise(support_flow, [speech("help")], state)
    summary["spoken_slots"] = {f"note {n}": "a value of several words" for n in range(30)}
    spoken = spoken_summary(summary)
    words = len(spoken.split())
    assert CAP - 7 < words <= CAP, "filled up to the cap, less than one more note short of it"
    assert spoken.startswith(f"Transferred because {REASON}. "
                             "The caller wants to reset their account password. Note 0: ")


def test_an_overlong_reason_is_cut_to_the_cap(support_flow: Flow) -> None:
    reason = " ".join(["because"] * (CAP + 10))
    spoken = summarise(support_flow, [speech("hello")], reason=reason)["spoken"]
    assert spoken.startswith("Transferred because because")
    assert len(spoken.split()) <= CAP

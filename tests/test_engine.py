"""The dialog engine, fed events directly: no web, no database, no NLU model."""

from __future__ import annotations

import pytest
from helpers.engine import said, started, transfer_of

from ivr.dialog import (
    ActionDone,
    CallStarted,
    CallState,
    Fault,
    Flow,
    Hangup,
    Listen,
    NoInput,
    RunAction,
    Say,
    UserInput,
    step,
)


def speech(intent: str | None, confidence: float = 0.9, asr: float = 0.9, text: str = "words",
           **entities: object) -> UserInput:
    return UserInput(text=text, asr_confidence=asr, intent=intent, intent_confidence=confidence,
                     entities=dict(entities))


def test_call_opens_with_the_disclosure_then_the_first_question(support_flow: Flow) -> None:
    state, directives = step(support_flow, CallState(), CallStarted())
    assert isinstance(directives[0], Say) and directives[0].text == support_flow.disclosure
    assert directives[0].barge_in is False
    question = support_flow.states[support_flow.start].ask
    assert directives[1] == Say(question or "", barge_in=True)
    listen = directives[2]
    assert isinstance(listen, Listen) and listen.speech and listen.keys
    assert "track my package" in listen.hints and "agent" in listen.hints
    assert state.node == support_flow.start


def test_an_intent_moves_to_its_state(support_flow: Flow) -> None:
    state, directives = step(support_flow, started(support_flow), speech("order_status"))
    assert state.node == "ask_order_number"
    assert "order number" in said(directives)
    assert isinstance(directives[-1], Listen) and directives[-1].max_digits == 6
    assert state.intents == ["order_status"]


def test_keypad_menu_keys_pick_intents(support_flow: Flow) -> None:
    state, _ = step(support_flow, started(support_flow), UserInput(digits="2"))
    assert state.node == "confirm_reset"


@pytest.mark.parametrize("event", [UserInput(digits="0"), speech("agent", confidence=1.0)])
def test_asking_for_a_person_transfers_from_any_question(support_flow: Flow, event) -> None:  # type: ignore[no-untyped-def]
    for node in ("main_menu", "confirm_reset", "anything_else"):
        state = started(support_flow).entering(node)
        state, directives = step(support_flow, state, event)
        transfer = transfer_of(directives)
        assert transfer is not None and transfer.trigger == "caller_request"
        assert transfer.queue == "support" and state.transferred


def test_zero_inside_an_order_number_is_a_digit_not_a_transfer(support_flow: Flow) -> None:
    state = started(support_flow).entering("ask_order_number")
    state, directives = step(support_flow, state, UserInput(digits="012345"))
    assert transfer_of(directives) is None
    assert state.slots["order_number"] == "012345"


def test_second_low_confidence_turn_transfers(support_flow: Flow) -> None:
    state = started(support_flow)
    state, directives = step(support_flow, state, speech("order_status", confidence=0.2))
    assert transfer_of(directives) is None
    assert isinstance(directives[-1], Listen)
    assert said(directives) == support_flow.states["main_menu"].reprompts.no_match[0]  # type: ignore[union-attr]
    state, directives = step(support_flow, state, speech("order_status", asr=0.1))
    transfer = transfer_of(directives)
    assert transfer is not None and transfer.trigger == "low_confidence"


def test_a_confident_turn_resets_the_low_confidence_count(support_flow: Flow) -> None:
    state = started(support_flow)
    state, _ = step(support_flow, state, speech("order_status", confidence=0.2))
    state, _ = step(support_flow, state, speech("reset_password"))
    state, _ = step(support_flow, state, speech(None, confidence=0.1))
    assert state.low_confidence == 1 and not state.transferred


def test_silence_reprompts_in_different_words_then_transfers(support_flow: Flow) -> None:
    state = started(support_flow)
    heard = []
    for _ in range(support_flow.settings.no_input_reprompts):
        state, directives = step(support_flow, state, NoInput())
        assert transfer_of(directives) is None
        heard.append(said(directives))
    assert len(set(heard)) == len(heard), "each reprompt uses other words"
    state, directives = step(support_flow, state, NoInput())
    transfer = transfer_of(directives)
    assert transfer is not None and transfer.trigger == "no_input"


def test_repeated_no_match_transfers(support_flow: Flow) -> None:
    state = started(support_flow)
    for _ in range(support_flow.settings.no_match_reprompts):
        state, directives = step(support_flow, state, speech("goodbye_never_defined"))
        assert transfer_of(directives) is None
    state, directives = step(support_flow, state, speech("also_unknown"))
    assert transfer_of(directives).trigger == "no_match"  # type: ignore[union-attr]


def test_invalid_slot_value_reasks_then_transfers(support_flow: Flow) -> None:
    state = started(support_flow).entering("ask_order_number")
    state, directives = step(support_flow, state, UserInput(digits="12"))
    assert "six digit" in said(directives) and state.node == "ask_order_number"
    state, directives = step(support_flow, state, speech(None, text="my cat", confidence=0.9))
    assert transfer_of(directives) is None
    state, directives = step(support_flow, state, UserInput(digits="1234567890"))
    assert transfer_of(directives).trigger == "no_match"  # type: ignore[union-attr]


def test_spoken_digits_fill_the_slot_and_run_the_action(support_flow: Flow) -> None:
    state = started(support_flow).entering("ask_order_number")
    state, directives = step(support_flow, state,
                             speech(None, text="one two three four five six", digits="123456"))
    assert state.slots["order_number"] == "123456"
    assert directives == [RunAction("action_order_status")]


def test_action_result_is_spoken_and_routes_on_slots(support_flow: Flow) -> None:
    state = started(support_flow).entering("lookup_order")
    found = ActionDone("action_order_status", ok=True, messages=("It shipped.",),
                       slots={"order_found": True})
    next_state, directives = step(support_flow, state, found)
    assert next_state.node == "anything_else" and said(directives).startswith("It shipped.")
    missing = ActionDone("action_order_status", ok=True, slots={"order_found": False})
    next_state, _ = step(support_flow, state, missing)
    assert next_state.node == "order_not_found"


def test_a_failed_action_apologises_and_transfers(support_flow: Flow) -> None:
    state = started(support_flow).entering("lookup_order")
    state, directives = step(support_flow, state,
                             ActionDone("action_order_status", ok=False, error="timeout"))
    assert "sorry" in said(directives).lower()
    assert transfer_of(directives).trigger == "fault"  # type: ignore[union-attr]


def test_a_fault_apologises_and_transfers(support_flow: Flow) -> None:
    _, directives = step(support_flow, started(support_flow), Fault("database down"))
    assert "sorry" in said(directives).lower() and transfer_of(directives) is not None


def test_yes_no_questions_use_the_yes_no_entity(support_flow: Flow) -> None:
    state = started(support_flow).entering("confirm_reset")
    yes, _ = step(support_flow, state, speech(None, confidence=0.1, text="yeah", yes_no=True))
    assert yes.node == "send_reset"
    no, _ = step(support_flow, state, speech(None, confidence=0.1, text="nope", yes_no=False))
    assert no.node == "anything_else"


def test_goodbye_ends_the_call(support_flow: Flow) -> None:
    state = started(support_flow).entering("anything_else")
    state, directives = step(support_flow, state, speech("no", text="no thanks", yes_no=False))
    assert isinstance(directives[-1], Hangup) and state.ended
    assert "Goodbye" in said(directives)


def test_frustration_transfers(support_flow: Flow) -> None:
    event = UserInput(text="this is useless", asr_confidence=0.9, intent=None,
                      frustrated=True)
    _, directives = step(support_flow, started(support_flow), event)
    assert transfer_of(directives).trigger == "frustration"  # type: ignore[union-attr]


def test_repeat_says_the_question_again(support_flow: Flow) -> None:
    state = started(support_flow)
    _, directives = step(support_flow, state, speech("repeat"))
    assert said(directives) == support_flow.states["main_menu"].ask


def test_a_transferred_call_stays_transferred(support_flow: Flow) -> None:
    state, _ = step(support_flow, started(support_flow), UserInput(digits="0"))
    state, directives = step(support_flow, state, speech("order_status"))
    assert transfer_of(directives) is not None and state.transferred

"""The NLU: entities, escalation rules, the intent classifier and the interpreter, on the real
bundled flow and a held-out set of caller paraphrases."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ivr.dialog.directives import Hangup, Transfer
from ivr.dialog.engine import step
from ivr.dialog.events import ActionDone, CallStarted, UserInput
from ivr.dialog.parse import parse_flow
from ivr.dialog.schema import Flow
from ivr.dialog.state import CallState
from ivr.nlu import (
    IntentClassifier,
    IntentGuess,
    Interpreter,
    asks_for_person,
    classifier_for,
    sounds_frustrated,
    spoken_digits,
    training_examples,
    yes_no,
)
from ivr.nlu.builtin import BUILTIN_EXAMPLES, OUT_OF_SCOPE
from ivr.nlu.classifier import normalise

FLOW_FILE = Path("dialogs/support.yaml")
PARAPHRASES = Path("tests/data/paraphrases.yaml")
HELD_OUT_ACCURACY_MIN = 0.90


@pytest.fixture(scope="module")
def flow() -> Flow:
    return parse_flow(FLOW_FILE.read_text(), str(FLOW_FILE))


@pytest.fixture(scope="module")
def interpreter(flow: Flow) -> Interpreter:
    return Interpreter(flow)


@pytest.fixture(scope="module")
def classifier(flow: Flow) -> IntentClassifier:
    return classifier_for(flow)


def _paraphrases() -> list[tuple[str, str | None]]:
    return [(item["text"], item["intent"]) for item in yaml.safe_load(PARAPHRASES.read_text())]


# --- entities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("one two three four five six", "123456"),
        ("oh one two", "012"),
        ("zero zero seven", "007"),
        ("double five", "55"),
        ("triple 3", "333"),
        ("double oh seven", "007"),
        ("oh oh seven", "007"),
        ("one oh oh", "100"),
        ("four double five six triple two", "4556222"),
        ("12 34 56", "123456"),
        ("1 2 3 4 5 6", "123456"),
        ("123-456", "123456"),
        ("123 456", "123456"),
        ("123456.", "123456"),
        ("my order number is 4 5 6 seven eight nine", "456789"),
        ("um one two three uh four five six", "123456"),
        ("Forty two", "42"),
        ("one twenty three", "123"),
        ("twenty", "20"),
        ("ONE TWO", "12"),
    ],
)
def test_spoken_digits_normalises_words_to_digits(text: str, digits: str) -> None:
    assert spoken_digits(text) == digits


@pytest.mark.parametrize(
    "text",
    ["", "hello", "where is my order", "oh I forgot my password", "oh", "oh oh", "double trouble"],
)
def test_spoken_digits_is_none_without_digits(text: str) -> None:
    assert spoken_digits(text) is None


@pytest.mark.parametrize(
    "text",
    ["yes", "Yes.", "yeah", "yep", "yup", "sure", "please do", "go ahead", "that's right",
     "correct", "absolutely", "um yeah", "yes please", "of course", "okay", "sure, send it",
     "yes I want an agent", "no problem", "I said yes", "uh huh", "definitely"],
)  # fmt: skip
def test_yes(text: str) -> None:
    assert yes_no(text) is True


@pytest.mark.parametrize(
    "text",
    ["no", "No.", "nope", "nah", "no thanks", "no thank you", "don't", "please don't",
     "not now", "not right now", "negative", "no I want to check my order", "not really",
     "that's not right", "I said no", "no thanks I'm done", "I don't think so"],
)  # fmt: skip
def test_no(text: str) -> None:
    assert yes_no(text) is False


@pytest.mark.parametrize(
    "text",
    ["", "I don't know", "I'm not sure", "maybe", "yes no", "yeah no", "hello",
     "where is my order", "I have no idea where it is", "I don't have my password",
     "okay I want to check another order", "my boots never arrived", "what do you mean"],
)  # fmt: skip
def test_yes_no_is_none_when_unclear_or_absent(text: str) -> None:
    assert yes_no(text) is None


# --- escalation -------------------------------------------------------------------------

ASKS_FOR_PERSON = [
    "agent", "Agent!", "AGENT AGENT", "an agent please", "representative", "rep", "operator",
    "human", "a real human", "a person", "somebody", "someone please", "customer service",
    "let me talk to someone", "speak to a person please", "I want to talk to a live person",
    "can I speak to a manager", "get me a human being", "transfer me", "put me through",
    "is there anyone I can talk to", "I need to speak with someone about my order",
    "I don't want to talk to a robot", "stop, I want a real person", "yes I want an agent",
    "no, agent", "I don't need the opening hours, I need a person", "live agent",
    "connect me with a representative", "can somebody help me", "get me someone who can help",
]  # fmt: skip
NOT_ASKING_FOR_PERSON = [
    "", "I'm not a robot", "my agent number is 5", "get the person who delivered it",
    "where is my order", "no", "yes",
    "someone stole my package", "somebody else got my parcel", "the delivery person left it",
    "I forgot my password", "can I pick it up in person", "I don't need an agent",
    "I do not want to talk to a person", "human error", "my travel agent booked it",
    "what are your opening hours", "the other person said it shipped",
]  # fmt: skip


@pytest.mark.parametrize("text", ASKS_FOR_PERSON)
def test_asks_for_person(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize("text", NOT_ASKING_FOR_PERSON)
def test_does_not_ask_for_person(text: str) -> None:
    assert not asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    ["damn", "this is ridiculous", "useless", "stupid machine", "I'm so angry",
     "this is a joke", "what a waste of time", "what the hell", "are you even listening",
     "for the last time, where is my order", "I'm fed up", "that's a joke", "shit",
     "this is so stupid", "how many times do I have to say it"],
)  # fmt: skip
def test_sounds_frustrated(text: str) -> None:
    assert sounds_frustrated(text)


@pytest.mark.parametrize(
    "text",
    ["", "no", "no no", "nope", "I'm not angry", "my parcel arrived broken", "hello",
     "where is my order", "how many times can I try my password", "this is not a joke",
     "agent", "I forgot my password"],
)  # fmt: skip
def test_does_not_sound_frustrated(text: str) -> None:
    assert not sounds_frustrated(text)


# --- classifier -------------------------------------------------------------------------


def test_training_examples_add_flow_examples_to_builtins(flow: Flow) -> None:
    examples = training_examples(flow)
    assert set(examples) == set(BUILTIN_EXAMPLES) | set(flow.intents)
    assert examples["order_status"] == flow.intents["order_status"].examples
    assert examples["agent"][: len(BUILTIN_EXAMPLES["agent"])] == list(BUILTIN_EXAMPLES["agent"])


def test_builtin_intents_have_rich_examples() -> None:
    assert len(BUILTIN_EXAMPLES["agent"]) >= 25
    assert len(OUT_OF_SCOPE) >= 40


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("where is my order", "order_status"),
        ("I forgot my password", "reset_password"),
        ("when are you open", "opening_hours"),
        ("yes", "yes"),
        ("no", "no"),
        ("nope", "no"),
        ("no thanks", "no"),
        ("say that again", "repeat"),
        ("bye", "goodbye"),
        ("that's all thanks", "goodbye"),
    ],
)
def test_classifies_flow_and_builtin_intents(
    classifier: IntentClassifier, text: str, intent: str
) -> None:
    guess = classifier.classify(text)
    assert guess.intent == intent
    assert guess.confidence >= 0.45
    assert guess.ranking[0][0] == intent


@pytest.mark.parametrize(
    "text", ["I'd like to order a pizza", "the weather is nice", "banana", "qwzx vbnm"]
)
def test_unrelated_text_gets_no_confident_intent(
    classifier: IntentClassifier, flow: Flow, text: str
) -> None:
    guess = classifier.classify(text)
    assert guess.intent is None or guess.confidence < flow.settings.intent_confidence_min


def test_guess_shape(classifier: IntentClassifier) -> None:
    guess = classifier.classify("where is my parcel")
    assert isinstance(guess, IntentGuess)
    assert len(guess.ranking) == 3
    assert all(intent != "out_of_scope" for intent, _ in guess.ranking)
    scores = [score for _, score in guess.ranking]
    assert scores == sorted(scores, reverse=True)
    assert 0.0 <= guess.confidence <= 1.0
    with pytest.raises(AttributeError):
        guess.intent = "other"  # type: ignore[misc]


def test_empty_text_has_no_intent(classifier: IntentClassifier) -> None:
    assert classifier.classify("") == IntentGuess(None, 0.0, ())
    assert classifier.classify("?!").intent is None


def test_fast_path_matches_scikit_learn(classifier: IntentClassifier) -> None:
    texts = [normalise(text) for text, _ in _paraphrases()]
    expected = classifier.model.predict_proba(classifier.union.transform(texts))
    actual = np.array([classifier.probabilities(text) for text in texts])
    np.testing.assert_allclose(actual, expected, atol=1e-9)


def test_training_is_deterministic(flow: Flow) -> None:
    examples = training_examples(flow)
    first = IntentClassifier.train(examples)
    second = IntentClassifier.train(examples)
    np.testing.assert_array_equal(first.model.coef_, second.model.coef_)
    assert first.labels == second.labels


def test_training_rejects_the_reserved_label() -> None:
    with pytest.raises(ValueError):
        IntentClassifier.train({"out_of_scope": ["anything"]})
    with pytest.raises(ValueError):
        IntentClassifier.train({})


def test_a_single_intent_still_separates_from_unrelated_text() -> None:
    classifier = IntentClassifier.train({"hours": ["when are you open", "opening hours"]})
    assert classifier.classify("are you open today").intent == "hours"
    assert classifier.classify("I'd like a pizza").intent is None
    texts = [normalise("are you open today"), normalise("pizza")]
    expected = classifier.model.predict_proba(classifier.union.transform(texts))
    actual = np.array([classifier.probabilities(text) for text in texts])
    np.testing.assert_allclose(actual, expected, atol=1e-9)


def test_classifier_is_trained_once_per_flow(flow: Flow) -> None:
    assert Interpreter(flow).classifier is Interpreter(flow).classifier


def test_changed_examples_train_a_new_classifier(flow: Flow) -> None:
    intents = {**flow.intents}
    intents["opening_hours"] = intents["opening_hours"].model_copy(
        update={"examples": [*intents["opening_hours"].examples, "is the shop open at noon"]}
    )
    changed = flow.model_copy(update={"intents": intents})
    assert classifier_for(changed) is not classifier_for(flow)


# --- held-out paraphrases ---------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def test_paraphrases_are_held_out(flow: Flow) -> None:
    taught = {_plain(example) for spec in flow.intents.values() for example in spec.examples}
    taught |= {_plain(example) for phrases in BUILTIN_EXAMPLES.values() for example in phrases}
    taught |= {_plain(example) for example in OUT_OF_SCOPE}
    paraphrases = _paraphrases()
    assert len(paraphrases) >= 80
    assert sum(intent is None for _, intent in paraphrases) >= 15
    known = set(flow.intents) | set(BUILTIN_EXAMPLES) | {None}
    assert {intent for _, intent in paraphrases} <= known
    assert [text for text, _ in paraphrases if _plain(text) in taught] == []


def test_held_out_accuracy(interpreter: Interpreter, flow: Flow) -> None:
    threshold = flow.settings.intent_confidence_min
    misses = []
    for text, expected in _paraphrases():
        heard = interpreter.interpret(text)
        if expected is None:
            correct = heard.intent is None or heard.intent_confidence < threshold
        else:
            correct = heard.intent == expected and heard.intent_confidence >= threshold
        if not correct:
            misses.append(
                f"{text!r}: expected {expected}, got {heard.intent} ({heard.intent_confidence:.2f})"
            )
    total = len(_paraphrases())
    accuracy = 1 - len(misses) / total
    print(f"\nheld-out accuracy: {accuracy:.3f} ({total - len(misses)}/{total})")
    print("\n".join(misses))
    assert accuracy >= HELD_OUT_ACCURACY_MIN, "\n".join(misses)


# --- interpreter ------------------------------------------------------------------------


def test_keys_win_and_are_certain(interpreter: Interpreter) -> None:
    heard = interpreter.interpret("agent", "12#", 0.9)
    assert heard == UserInput(digits="12#", intent_confidence=1.0)


def test_request_for_person_is_certain(interpreter: Interpreter) -> None:
    heard = interpreter.interpret("um can I talk to somebody real quick about my order", "", 0.4)
    assert (heard.intent, heard.intent_confidence, heard.asr_confidence) == ("agent", 1.0, 0.4)


def test_speech_carries_entities_and_frustration(interpreter: Interpreter) -> None:
    heard = interpreter.interpret("yes it's one two three four five six", "", 0.92)
    assert heard.entities == {"digits": "123456", "yes_no": True}
    assert not heard.frustrated
    angry = interpreter.interpret("this is ridiculous, where is my order")
    assert angry.frustrated and angry.intent == "order_status"
    assert interpreter.interpret("no").entities == {"yes_no": False}
    assert interpreter.interpret("where is my order").entities == {}


def test_yes_no_answers_are_not_goodbye(interpreter: Interpreter) -> None:
    for text in ("no", "nope", "no thanks"):
        assert interpreter.interpret(text).intent == "no"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\ud800 lone surrogate \udfff", "😀🔥📦", "\x00\x01\x1b[31m", "<>", "<<<<",
     "&amp;&lt;&#0;&#xffffff;", "Ω≈ç√∫ ₀₁₂ ﬁ", "\u202e reversed", "\n\t\r", "#0*"],
)  # fmt: skip
def test_odd_speech_never_raises(interpreter: Interpreter, text: str) -> None:
    heard = interpreter.interpret(text, "", None)
    assert isinstance(heard, UserInput)
    assert len(heard.text) <= 500
    heard.text.encode("utf-8")


def test_odd_arguments_never_raise(interpreter: Interpreter) -> None:
    assert interpreter.interpret(None, None, None) == UserInput()  # type: ignore[arg-type]
    assert interpreter.interpret("yes", "", float("nan")).asr_confidence is None
    assert interpreter.interpret("yes", "", 7.0).asr_confidence == 1.0  # type: ignore[arg-type]
    assert interpreter.interpret("", "1\ud8002x3").digits == "123"
    assert len(interpreter.interpret("", "5" * 10_000).digits) == 64


def test_huge_speech_is_capped(interpreter: Interpreter) -> None:
    heard = interpreter.interpret("where is my order " * 6000)
    assert len(heard.text) <= 500
    assert heard.intent == "order_status"


def test_markup_is_removed(interpreter: Interpreter) -> None:
    heard = interpreter.interpret('<speak><break time="1s"/>reset my password</speak>')
    assert heard.text == "reset my password"
    assert heard.intent == "reset_password"
    assert "<" not in interpreter.interpret("&lt;script&gt;alert(1)&lt;/script&gt; hi").text


def test_nlu_does_not_import_web_telephony_or_storage() -> None:
    code = (
        "import sys, ivr.nlu; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'twilio') "
        "or m.startswith(('ivr.storage', 'ivr.telephony', 'ivr.web'))]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_whole_call_through_the_engine(interpreter: Interpreter, flow: Flow) -> None:
    state, _ = step(flow, CallState(), CallStarted())
    turns = [
        (
            "yeah hi um I ordered a jacket last week and it still hasn't shown up",
            "ask_order_number",
        ),
        ("it's four five six double one two", "lookup_order"),
    ]
    for said, node in turns:
        state, _ = step(flow, state, interpreter.interpret(said, "", 0.9))
        assert state.node == node, said
    assert state.slots["order_number"] == "456112"
    state, _ = step(
        flow, state, ActionDone("action_order_status", ok=True, slots={"order_found": False})
    )
    assert state.node == "order_not_found"
    state, _ = step(flow, state, interpreter.interpret("no", "", 0.9))
    assert state.node == "anything_else"
    state, directives = step(flow, state, interpreter.interpret("no thanks I'm done", "", 0.9))
    assert state.ended and isinstance(directives[-1], Hangup)


def test_asking_for_a_person_mid_call_transfers(interpreter: Interpreter, flow: Flow) -> None:
    state, _ = step(flow, CallState(), CallStarted())
    heard = interpreter.interpret("ugh can I just talk to a real person", "", 0.35)
    state, directives = step(flow, state, heard)
    assert state.transferred and isinstance(directives[-1], Transfer)

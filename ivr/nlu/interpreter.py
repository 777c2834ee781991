"""Turn what the caller said or keyed into a `UserInput` event for the dialog engine.

One `Interpreter` per flow; the classifier behind it is trained once per process for a given
set of examples and shared by every interpreter built for the same flow.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import threading
import unicodedata
from collections.abc import Mapping
from typing import SupportsFloat, SupportsIndex

from ivr.dialog.events import UserInput
from ivr.dialog.schema import Flow
from ivr.nlu.builtin import BUILTIN_EXAMPLES
from ivr.nlu.classifier import IntentClassifier
from ivr.nlu.entities import spoken_digits, yes_no
from ivr.nlu.escalation import asks_for_person, sounds_frustrated
from ivr.nlu.sentiment import analyzer, score

MAX_TEXT = 500
"""Characters of speech kept. Recognisers never produce more for one turn; more is an attack
or a bug, and classifying it would only cost time."""
MAX_RAW_TEXT = 4 * MAX_TEXT
"""Characters looked at before markup is removed, so that a huge input costs nothing."""
MAX_DIGITS = 64
KEYPAD = re.compile(r"[^0-9*#]")
MARKUP = re.compile(r"<[^<>]{0,200}>")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_trained: dict[str, tuple[str, IntentClassifier]] = {}
"""flow name -> (fingerprint of its examples, classifier). Only the newest version of a flow is
kept; interpreters built for an older one keep their own reference."""
_training = threading.Lock()


def training_examples(flow: Flow) -> dict[str, list[str]]:
    """The built-in intents' examples plus the flow's own (added to the built-in ones)."""
    examples = {intent: list(phrases) for intent, phrases in BUILTIN_EXAMPLES.items()}
    for intent, spec in flow.intents.items():
        examples.setdefault(intent, []).extend(spec.examples)
    return {intent: phrases for intent, phrases in examples.items() if phrases}


def classifier_for(flow: Flow) -> IntentClassifier:
    """The flow's classifier, trained on first use and then shared for the process."""
    examples = training_examples(flow)
    fingerprint = _fingerprint(examples)
    with _training:
        cached = _trained.get(flow.name)
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, IntentClassifier.train(examples))
            _trained[flow.name] = cached
        return cached[1]


def _fingerprint(examples: Mapping[str, list[str]]) -> str:
    digest = hashlib.sha256()
    for intent in sorted(examples):
        digest.update(intent.encode())
        for phrase in examples[intent]:
            digest.update(b"\0" + phrase.encode("utf-8", "replace"))
        digest.update(b"\1")
    return digest.hexdigest()


def clean_text(text: object) -> str:
    """Speech as the NLU should see it: valid text, no markup or control characters,
    single spaces, at most `MAX_TEXT` characters."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text[:MAX_RAW_TEXT]
    # Lone surrogates (from a bad decode upstream) cannot be encoded; make them visible junk.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = MARKUP.sub(" ", text)
    text = CONTROL.sub(" ", text).replace("<", " ").replace(">", " ")
    return " ".join(text.split())[:MAX_TEXT].strip()


def clean_digits(digits: object) -> str:
    """Keypad input: only 0-9, * and #, at most `MAX_DIGITS` of them."""
    if not isinstance(digits, str):
        digits = "" if digits is None else str(digits)
    return KEYPAD.sub("", digits[: MAX_DIGITS * 4])[:MAX_DIGITS]


def clean_confidence(
    confidence: str | bytes | SupportsFloat | SupportsIndex | None,
) -> float | None:
    """The recogniser's confidence as a number in [0, 1], or None when there is none."""
    if confidence is None:
        return None
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        return None
    if math.isnan(value):
        return None
    return min(max(value, 0.0), 1.0)


class Interpreter:
    """Interprets a flow's caller input: keys, speech, intents, entities, escalation cues and
    sentiment."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self.classifier = classifier_for(flow)
        analyzer()  # load the sentiment lexicon now, not on the first caller's turn

    def interpret(
        self, text: str = "", digits: str = "", asr_confidence: float | None = None
    ) -> UserInput:
        """What the caller meant. Never raises: odd input becomes an input with no intent."""
        keyed = clean_digits(digits)
        if keyed:
            return UserInput(digits=keyed, intent_confidence=1.0)
        speech = clean_text(text)
        confidence = clean_confidence(asr_confidence)
        if not speech:
            return UserInput(asr_confidence=confidence)
        entities: dict[str, object] = {}
        number = spoken_digits(speech)
        if number:
            entities["digits"] = number[:MAX_DIGITS]
        answer = yes_no(speech)
        if answer is not None:
            entities["yes_no"] = answer
        intent: str | None
        if asks_for_person(speech):
            intent, intent_confidence = "agent", 1.0
        else:
            guess = self.classifier.classify(speech)
            intent, intent_confidence = guess.intent, guess.confidence
        return UserInput(
            text=speech,
            asr_confidence=confidence,
            intent=intent,
            intent_confidence=intent_confidence,
            entities=entities,
            frustrated=sounds_frustrated(speech),
            sentiment=score(speech),
        )

"""Natural-language understanding for calls: what the caller wants, and how sure we are.

`Interpreter(flow).interpret(text, digits, asr_confidence)` turns one turn of speech or keys
into the `UserInput` event the dialog engine reads: an intent with its probability (None
when the words fit no intent), the digits and yes/no found in the words, and whether
the caller asked for a person or sounds frustrated. No Flask, Twilio or storage here.
"""

from ivr.nlu.classifier import IntentClassifier, IntentGuess
from ivr.nlu.entities import spoken_digits, yes_no
from ivr.nlu.escalation import asks_for_person, sounds_frustrated
from ivr.nlu.interpreter import Interpreter, classifier_for, training_examples

__all__ = [
    "IntentClassifier",
    "IntentGuess",
    "Interpreter",
    "asks_for_person",
    "classifier_for",
    "sounds_frustrated",
    "spoken_digits",
    "training_examples",
    "yes_no",
]

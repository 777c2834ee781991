"""What a recogniser listens for: the phrases a flow expects, as a JSGF or Vosk grammar.

A closed grammar is what makes small offline models usable on the phone: PocketSphinx with an
open vocabulary turns "I want to talk to an agent" into nonsense, with the flow's phrases it
gets it word for word. The phrases are every intent example of the flow, the built-in intents'
examples, yes/no words, digit words (for order numbers) and the words that ask for a person.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from ivr.dialog.schema import Flow
from ivr.nlu.builtin import BUILTIN_EXAMPLES

log = logging.getLogger(__name__)

DIGIT_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "oh", "double", "triple",
)  # fmt: skip
"""Words of a spoken number, said one digit at a time ("four one one oh", "double five")."""

YES_NO_WORDS = (
    "yes", "yeah", "yep", "yup", "sure", "okay", "ok", "correct", "right", "uh huh",
    "no", "nope", "nah", "wrong", "negative", "not really",
)  # fmt: skip
"""Short answers, beside the built-in yes and no examples."""

PERSON_WORDS = (
    "agent", "representative", "operator", "human", "person", "a real person", "someone",
    "somebody", "manager", "supervisor", "customer service", "help",
    "agent please", "i want an agent", "i need an agent", "get me an agent",
    "talk to an agent", "speak to an agent", "i want to talk to an agent",
    "i want to speak to an agent", "i want to talk to a person", "i want to speak to a person",
    "can i talk to an agent", "can i speak to an agent", "i'd like to speak to an agent",
)  # fmt: skip
"""Words and short requests for a person, beside the built-in agent examples: a caller who
asks for a person must be understood every time, in the words a grammar can hold."""

UNKNOWN_WORD = "[unk]"
"""Vosk's word for "something outside the grammar", when the model has it."""

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = (
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_JSGF_SPECIAL = re.compile(r"[;=|*+<>()\[\]{}/\"\\!#]")


def flow_phrases(flow: Flow) -> list[str]:
    """Everything a caller of this flow is expected to say, normalised, without duplicates.

    Intent examples of the flow and the built-in ones, state hints, yes/no words, digit
    words and the words that ask for a person.
    """
    sources: list[Iterable[str]] = [intent.examples for intent in flow.intents.values()]
    sources += [state.hints for state in flow.states.values()]
    sources += list(BUILTIN_EXAMPLES.values())
    sources += [YES_NO_WORDS, DIGIT_WORDS, PERSON_WORDS]
    return _unique(normalise(phrase) for source in sources for phrase in source)


def normalise(text: str) -> str:
    """Lower case, punctuation removed (apostrophes inside words kept), numbers as words.

    "I'd like to check order #42!" -> "i'd like to check order forty two". Letters of any
    script are kept, so Korean or German phrases survive.
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"(\d)[,.](\d{3})\b", r"\1\2", text)  # "1,000" -> "1000"
    words: list[str] = []
    for token in re.findall(r"[^\W_]+(?:'[^\W_]+)*", text):
        for part in re.findall(r"\d+|\D+", token):
            words.extend(number_words(part).split() if part.isdigit() else [part.strip("'")])
    return " ".join(word for word in words if word)


def number_words(digits: str) -> str:
    """A number as words: cardinal up to 999 ("42" -> "forty two"), else digit by digit.

    Order and phone numbers are read one digit at a time, and so are numbers with a leading
    zero ("007" -> "zero zero seven").
    """
    if len(digits) > 3 or (len(digits) > 1 and digits.startswith("0")):
        return " ".join(_ONES[int(digit)] for digit in digits)
    return _cardinal(int(digits))


def _cardinal(number: int) -> str:
    if number < 10:
        return _ONES[number]
    if number < 20:
        return _TEENS[number - 10]
    if number < 100:
        tens, unit = divmod(number, 10)
        return _TENS[tens] + (f" {_ONES[unit]}" if unit else "")
    hundreds, rest = divmod(number, 100)
    return f"{_ONES[hundreds]} hundred" + (f" {_cardinal(rest)}" if rest else "")


def words_of(phrases: Iterable[str]) -> set[str]:
    """Every distinct word in the phrases."""
    return {word for phrase in phrases for word in phrase.split()}


def missing_words(phrases: Iterable[str], known: Callable[[str], bool]) -> list[str]:
    """Words of the phrases the recogniser cannot say, sorted."""
    return sorted(word for word in words_of(phrases) if not known(word))


def keep_known_words(phrases: Iterable[str], known: Callable[[str], bool]) -> list[str]:
    """The phrases with unknown words left out (phrases left empty are dropped), deduplicated."""
    return _unique(" ".join(word for word in phrase.split() if known(word)) for phrase in phrases)


def jsgf(phrases: Sequence[str], dictionary_words: set[str]) -> str:
    """A JSGF grammar that accepts any one phrase, or a run of digit words.

    Words missing from the dictionary cannot be recognised; they are left out of their
    phrase and logged as a warning (see `missing_words` to list them).
    """
    known = dictionary_words.__contains__
    missing = missing_words(phrases, known)
    if missing:
        log.warning(
            "left out of the speech grammar, not in the recogniser's dictionary: %s",
            ", ".join(missing),
        )
    kept = [phrase for phrase in keep_known_words(phrases, known) if _jsgf_safe(phrase)]
    digits = [word for word in DIGIT_WORDS if word in dictionary_words]
    rules = ["#JSGF V1.0;", "", "grammar ivr;", ""]
    alternatives: list[str] = []
    if kept:
        rules.append("<phrase> = " + "\n    | ".join(kept) + " ;")
        alternatives.append("<phrase>")
    if digits:
        rules.append("<digit> = " + " | ".join(digits) + " ;")
        alternatives.append("<digit>+")
    if not alternatives:
        raise ValueError("none of the phrases has a word the recogniser knows")
    rules.append("public <utterance> = " + " | ".join(alternatives) + " ;")
    return "\n".join(rules) + "\n"


def _jsgf_safe(phrase: str) -> bool:
    return not _JSGF_SPECIAL.search(phrase)


def vosk_grammar(phrases: Sequence[str], known: Callable[[str], bool] | None = None) -> str:
    """A Vosk grammar: a JSON list of the phrases, plus "[unk]" for anything else.

    With `known` (the model's vocabulary), unknown words are left out of their phrase, and
    "[unk]" only goes in when the model has it (Vosk warns about it otherwise). The JSON keeps
    non-ASCII letters as they are: Vosk does not decode `\\uXXXX` escapes, and would ignore
    every Korean or accented word as out of vocabulary.
    """
    if known is None:
        entries = _unique(phrases)
        with_unknown = True
    else:
        missing = missing_words(phrases, known)
        if missing:
            log.warning(
                "left out of the speech grammar, not in the Vosk model's vocabulary: %s",
                ", ".join(missing),
            )
        entries = keep_known_words(phrases, known)
        with_unknown = known(UNKNOWN_WORD)
    if with_unknown:
        entries.append(UNKNOWN_WORD)
    return json.dumps(entries, ensure_ascii=False)


def _unique(phrases: Iterable[str]) -> list[str]:
    """Non-empty phrases in first-seen order, each once."""
    return list(dict.fromkeys(phrase for phrase in phrases if phrase))

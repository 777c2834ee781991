"""Values found in what a caller said: a string of digits, and a yes or a no."""

from __future__ import annotations

import re
import unicodedata

DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
TENS_WORDS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5",
    "sixty": "6", "seventy": "7", "eighty": "8", "ninety": "9",
}  # fmt: skip
REPEATERS = {"double": 2, "triple": 3}
LETTER_ZEROS = {"oh", "o"}
"""Zero only next to other digits: "oh" alone is a sigh, not a number."""


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.findall(r"[a-z]+|\d+", text.replace("'", "").replace("’", ""))


def _is_digit_word(word: str) -> bool:
    return word.isdigit() or word in DIGIT_WORDS or word in TENS_WORDS


def spoken_digits(text: str) -> str | None:
    """Every digit in the utterance, in order, as one string; None when there is none.

    Understands digits ("123-456", "12 34 56"), digit words ("one two three", "oh" and
    "zero"), tens ("forty two") and "double five" / "triple 3".
    """
    words = _words(text)
    digits: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in REPEATERS and _is_digit_word(following):
            value = _digit_value(following)
            digits.append(value[0] * REPEATERS[word] + value[1:])
            index += 2
            continue
        if word in TENS_WORDS:
            unit = DIGIT_WORDS.get(following, "")
            if len(unit) == 1 and following not in LETTER_ZEROS and unit != "0":
                digits.append(TENS_WORDS[word] + unit)
                index += 2
                continue
            digits.append(TENS_WORDS[word] + "0")
        elif word in LETTER_ZEROS:
            if _next_to_number(words, index):
                digits.append("0")
        elif _is_digit_word(word):
            digits.append(_digit_value(word))
        index += 1
    joined = "".join(digits)
    return joined or None


def _next_to_number(words: list[str], index: int) -> bool:
    """Whether a run of "oh"s through `index` touches a real number word on either side."""
    for step in (-1, 1):
        neighbour = index + step
        while 0 <= neighbour < len(words) and words[neighbour] in LETTER_ZEROS:
            neighbour += step
        if 0 <= neighbour < len(words) and _is_digit_word(words[neighbour]):
            return True
    return False


def _digit_value(word: str) -> str:
    if word.isdigit():
        return word
    if word in TENS_WORDS:
        return TENS_WORDS[word] + "0"
    return DIGIT_WORDS[word]


YES_PHRASES = (
    "yes", "yeah", "yea", "yah", "ya", "yep", "yup", "yes please", "sure", "sure thing",
    "correct", "thats correct", "thats right", "that is right", "that is correct", "absolutely",
    "definitely", "of course", "certainly", "affirmative", "mhm", "please do", "go ahead",
    "go for it", "do it", "send it", "sounds good", "why not", "you bet", "indeed", "exactly",
    "that would be great", "thatd be great", "thats fine", "no problem",
)  # fmt: skip
NO_PHRASES = (
    "no", "nope", "nah", "no thanks", "no thank you", "please dont", "do not", "not now",
    "not right now", "not today", "negative", "not really", "no way", "never mind",
    "nevermind", "not at all", "i dont think so", "no need", "dont bother", "not necessary",
    "thats wrong", "that is wrong", "incorrect", "thats not right", "not right", "not correct",
    "thats not correct", "nothing else", "im good", "rather not", "dont send it",
)  # fmt: skip
WEAK_YES_PHRASES = ("ok", "okay", "alright", "all right", "right", "please", "great", "i do",
                    "i would", "i will")  # fmt: skip
WEAK_NO_PHRASES = ("dont", "never", "wrong", "nothing", "i dont", "i do not", "i wouldnt",
                   "i would not")  # fmt: skip
"""Weak phrases mean yes or no as a whole answer, but are just words in a longer sentence:
"I don't have my password" is not a no, "okay I want to check my order" is not a yes."""

UNSURE = re.compile(
    r"\b(?:(?:i\s+)?dont\s+know|do\s+not\s+know|not\s+sure|unsure|maybe|perhaps|no\s+idea|"
    r"dunno|(?:i\s+)?(?:cant|can\s+not|cannot)\s+remember|it\s+depends|i\s+guess|"
    r"what\s+do\s+you\s+mean)\b"
)
# fmt: off
FILLERS = frozenset({
    "um", "uh", "er", "erm", "hmm", "ah", "oh", "well", "so", "hi", "hello", "hey", "like",
    "actually",
})
# fmt: on

OPENING_WORDS = 2
"""A yes or no counts when it opens the answer (within this many words, after fillers)..."""
SHORT_ANSWER = 4
"""...or when the whole answer is this short. "I have no idea where it is" is not a no."""
WHOLE_ANSWER = 2
"""Weak phrases count only in an answer this short, or opening a short one."""

_MEANINGS: dict[str, tuple[bool, bool]] = {
    **{phrase: (True, False) for phrase in WEAK_YES_PHRASES},
    **{phrase: (False, False) for phrase in WEAK_NO_PHRASES},
    **{phrase: (True, True) for phrase in YES_PHRASES},
    **{phrase: (False, True) for phrase in NO_PHRASES},
}
"""phrase -> (means yes, strong)."""

# Longest first, so that "no thanks" wins over "no", "not right" over "right", and
# "no problem" over "no".
_ANSWER = re.compile(
    r"\b(?:"
    + "|".join(re.escape(phrase) for phrase in sorted(_MEANINGS, key=len, reverse=True))
    + r")\b"
)
_UH_HUH = re.compile(r"\b(?:uh[\s-]*huh|mm[\s-]*hmm)\b")
_SAID = re.compile(r"\bi said (?P<answer>yes|no)\b")


def yes_no(text: str) -> bool | None:
    """True for a yes, False for a no, None when the answer is neither, unclear, or both."""
    plain = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("’", "")
    # "uh huh" would lose its "uh" to the fillers below.
    words = re.findall(r"[a-z0-9]+", _UH_HUH.sub(" yes ", plain))
    core = " ".join(word for word in words if word not in FILLERS) or " ".join(words)
    if not core or UNSURE.search(core):
        return None
    said = _SAID.search(core)
    if said:
        return said["answer"] == "yes"
    length = len(core.split())
    answers: set[bool] = set()
    for match in _ANSWER.finditer(core):
        means_yes, strong = _MEANINGS[match[0]]
        opening = len(core[: match.start()].split()) < OPENING_WORDS
        if strong:
            counts = opening or length <= SHORT_ANSWER
        else:
            counts = length <= WHOLE_ANSWER or (opening and length <= SHORT_ANSWER)
        if counts:
            answers.add(means_yes)
    if len(answers) == 1:
        return answers.pop()
    return None

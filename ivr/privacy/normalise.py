"""Normalisation for detection: the text as a detector reads it, and the way back.

Its one job: turn what a caller said into one lowercased copy in which number words are digits
("four one one one" -> "4111", "oh" next to a number -> "0", "double five" -> "55", "twenty
three" -> "23", "eight hundred" -> "800", "twelfth" -> "12th"), every decimal digit is an ASCII
digit, and a redaction marker ("[CARD]") is one `BLOCK` character; and map every position of
that copy back to the original text, so that what is found in it is a span of the original.
`normalise(text)` gives the `Normalised` copy; the detectors (`ivr.privacy.detect`) read it.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

# --- number words --------------------------------------------------------------------------

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_UNIT_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
}  # fmt: skip
_ORDINALS = {
    **_UNIT_ORDINALS,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_ZEROS = frozenset({"oh", "o", "nought"})
"""Zero only next to another number word: "oh" alone is a sigh, "o" a letter."""
_REPEATS = {"double": 2, "triple": 3}
_SMALL = {**_UNITS, **_TEENS, **_TENS}
NUMBER_WORDS = frozenset({*_SMALL, *_ORDINALS, *_REPEATS, "hundred", "thousand"})
"""The words that are a number or part of one ("oh" aside: it is zero only next to one)."""
_COUNT_BEFORE = frozenset({"last"})
_COUNT_AFTER = frozenset({"digit", "digits"})
_COUNT_NAMES = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 9: "nine"}

_TOKEN = re.compile(r"\[(?:card|cvv|ssn|email|phone|dob)\]|[a-z]+(?:['’][a-z]+)*|[0-9]+")
BLOCK = "\x01"
"""A marker from an earlier redaction, in the normalised text: never data, never context."""


# --- normalisation -------------------------------------------------------------------------


class Normalised:
    """The lowercased text with number words as digits, and the way back to the original."""

    __slots__ = ("n_ends", "n_starts", "o_ends", "o_starts", "text")

    def __init__(self, folded: str, pieces: list[tuple[int, int, str]]) -> None:
        parts: list[str] = []
        self.n_starts: list[int] = []
        self.n_ends: list[int] = []
        self.o_starts: list[int] = []
        self.o_ends: list[int] = []
        position = length = 0
        for start, end, replacement in pieces:
            parts.append(folded[position:start])
            length += start - position
            self.n_starts.append(length)
            self.o_starts.append(start)
            self.o_ends.append(end)
            parts.append(replacement)
            length += len(replacement)
            self.n_ends.append(length)
            position = end
        parts.append(folded[position:])
        self.text = "".join(parts)

    def start(self, index: int) -> int:
        """Original position of normalised position `index` (as a span start)."""
        piece = bisect_right(self.n_starts, index) - 1
        if piece < 0:
            return index
        if index < self.n_ends[piece]:
            return self.o_starts[piece]
        return self.o_ends[piece] + index - self.n_ends[piece]

    def end(self, index: int) -> int:
        """Original position of normalised position `index` (as a span end, exclusive)."""
        piece = bisect_right(self.n_starts, index - 1) - 1
        if piece < 0:
            return index
        if index - 1 < self.n_ends[piece]:
            return self.o_ends[piece]
        return self.o_ends[piece] + index - self.n_ends[piece]


def _fold(text: str) -> str:
    """Lowercase, one character for one, with every decimal digit as an ASCII digit."""
    folded = text.lower()
    if text.isascii():
        return folded
    if len(folded) != len(text):
        folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return "".join(
        str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in folded
    )


_SUFFIXES = {1: "st", 2: "nd", 3: "rd"}


def _ordinal(value: int) -> str:
    """ "12th", "21st": ordinals keep a suffix, so they never join a run of digits."""
    suffix = "th" if value % 100 in (11, 12, 13) else _SUFFIXES.get(value % 10, "th")
    return f"{value}{suffix}"


class _Words:
    """The word and digit tokens of the folded text, for turning number words into digits."""

    def __init__(self, folded: str) -> None:
        self.folded = folded
        matches = list(_TOKEN.finditer(folded))
        self.words = [m.group() for m in matches]
        self.starts = [m.start() for m in matches]
        self.ends = [m.end() for m in matches]

    def joined(self, index: int) -> bool:
        """Whether token `index` and the next one are one number ("twenty-three", "double five")."""
        if index + 1 >= len(self.words):
            return False
        gap = self.folded[self.ends[index] : self.starts[index + 1]]
        return len(gap) <= 3 and not gap.strip(" -\t")

    def next_word(self, index: int) -> str:
        return self.words[index + 1] if self.joined(index) else ""

    def is_count(self, index: int) -> bool:
        """ "last four", "three digits", "a 3 digit code": how many digits, not a digit."""
        if index > 0 and self.words[index - 1] in _COUNT_BEFORE and self.joined(index - 1):
            return True
        return self.next_word(index) in _COUNT_AFTER

    def numberish(self, index: int) -> bool:
        return 0 <= index < len(self.words) and (
            self.words[index].isdigit() or self.words[index] in NUMBER_WORDS
        )

    def zero(self, index: int) -> bool:
        """Whether an "oh" run through `index` touches a real number on either side."""
        for step in (-1, 1):
            neighbour = index + step
            while 0 <= neighbour < len(self.words) and self.words[neighbour] in _ZEROS:
                neighbour += step
            if self.numberish(neighbour):
                return True
        return False

    def small(self, index: int, units: bool) -> tuple[int, int]:
        """A number below 100 at `index`, "and" first allowed: (value, next index) or (0, index)."""
        start = index
        if index < len(self.words) and self.words[index] == "and" and self.joined(index):
            index += 1
        if index >= len(self.words):
            return 0, start
        word = self.words[index]
        if word in _TENS:
            value = _TENS[word]
            following = self.next_word(index)
            if _UNITS.get(following, 0) > 0:
                return value + _UNITS[following], index + 2
            return value, index + 1
        if word in _TEENS or (word in _UNITS and _UNITS[word] > 0 and (units or index > start)):
            return _SMALL[word], index + 1
        return 0, start

    def number_at(self, index: int) -> tuple[str, int] | None:
        """The digits the number words from `index` stand for, and the next index; or None."""
        word = self.words[index]
        if word[0] == "[":
            return BLOCK, index + 1
        if word.isdigit():
            if len(word) == 1 and self.is_count(index):
                return _COUNT_NAMES.get(int(word), "n"), index + 1
            return None
        if word in _ZEROS:
            return ("0", index + 1) if self.zero(index) else None
        if word in _REPEATS:
            repeated = self.next_word(index)
            if repeated in _UNITS or repeated in _ZEROS:
                digit = str(_UNITS.get(repeated, 0))
                return digit * _REPEATS[word], index + 2
            if len(repeated) == 1 and repeated.isdigit():
                return repeated * _REPEATS[word], index + 2
            return None
        if word == "plus":
            return ("+", index + 1) if self.joined(index) and self.numberish(index + 1) else None
        if word in _ORDINALS:
            return _ordinal(_ORDINALS[word]), index + 1
        if word not in _SMALL or (word not in _TENS and self.is_count(index)):
            return None
        value = _SMALL[word]
        following = index + 1
        if word in _TENS:
            unit = self.next_word(index)
            if _UNITS.get(unit, 0) > 0:
                value += _UNITS[unit]
                following += 1
            elif unit in _UNIT_ORDINALS:
                return _ordinal(value + _UNIT_ORDINALS[unit]), index + 2
        if value and self.next_word(following - 1) == "hundred":
            # "eight hundred five five five": digits after "hundred" stay digits
            value *= 100
            rest, following = self.small(following + 1, units=False)
            value += rest
        if value and value < 1000 and self.next_word(following - 1) == "thousand":
            value *= 1000
            following += 1
            hundreds, after = self.small(following, units=True)
            if hundreds and self.next_word(after - 1) == "hundred":
                hundreds *= 100
                rest, after = self.small(after + 1, units=False)
                hundreds += rest
            value += hundreds
            following = after
        return str(value), following


def normalise(text: str) -> Normalised:
    """`text` folded, with its number words as digits, and the way back to `text`."""
    folded = _fold(text)
    words = _Words(folded)
    pieces: list[tuple[int, int, str]] = []
    index = 0
    count = len(words.words)
    while index < count:
        word = words.words[index]
        if word in NUMBER_WORDS or word in _ZEROS or word == "plus" or word[0] in "[0123456789":
            found = words.number_at(index)
            if found is not None:
                replacement, following = found
                pieces.append((words.starts[index], words.ends[following - 1], replacement))
                index = following
                continue
        index += 1
    return Normalised(folded, pieces)

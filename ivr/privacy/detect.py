"""Detection: the personal data in a caller's text, as spans of that text.

Its one job: read the normalised copy of the text (`ivr.privacy.normalise`) and say where the
card numbers, security codes, SSNs, emails, phone numbers and dates of birth are. Digit runs
are judged by their length, checksum (Luhn) and shape (SSN, NANP, card prefixes) and by the
context words near them; emails written or spoken, and dates in birth context, are found by
their patterns. When findings overlap, `PRIORITY` (then length) decides which one stays.
`find_once(text)` is one pass of this; `ivr.privacy.redaction` repeats it on redacted text,
and its docstring lists the decisions on ambiguous numbers.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import phonenumbers

from ivr.privacy.normalise import BLOCK, NUMBER_WORDS, Normalised, normalise

PRIORITY = {"EMAIL": 6, "CARD": 5, "SSN": 4, "PHONE": 3, "DOB": 2, "CVV": 1}
"""Which finding wins when two overlap (then the longer one)."""

CONTEXT_WORDS = 12
"""Context counts this many words before a number at most..."""
CONTEXT_CHARS = 90
"""...and this many characters."""
FOLLOWING_WORDS = 5
"""Context after the number ("415 555 0123 is my cell") counts this close only."""


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind (a key of PRIORITY) and span in the original text."""

    kind: str
    start: int
    end: int


_FAST = re.compile(
    r"[\d@]|\bat\b|\b(?:" + "|".join(sorted(NUMBER_WORDS, key=len)[::-1]) + r")\b",
    re.IGNORECASE,
)
"""Digits, "@", "at" or a number word: text with none of them holds no personal data."""


# --- context -------------------------------------------------------------------------------

_BACK = r"on\ the\ back(?:\ of\ (?:the|my|your)\ card)?"
_CONTEXT = re.compile(
    rf"""\b(?:
    (?P<CVV>security\ (?:code|number)|cvv2?|cvc2?|cv2|csc|csv|cid|c\ v\ [vc]
      |card\ verification(?:\ (?:code|value|number))?|verification\ (?:code|value)
      |(?:(?:three|four)\ digits?\ )?(?:security\ )?code\ {_BACK}|(?:number|digits)\ {_BACK}
      |(?:three|four)\ digit\ (?:security\ )?code|back\ of\ (?:the|my|your)\ card)
    |(?P<SSN>social\ security|social(?!\ (?:media|worker|services|club|life|network))
      |ssn|s\ s\ n|ss\ number|soc\ sec|tax\ id|taxpayer\ id)
    |(?P<DOB>date\ of\ birth|birth\ ?date|birthday|born|dob|d\ o\ b|d\.o\.b)
    |(?P<CARD>card|credit|debit|visa|master\ ?card|amex|american\ express|discover|maestro
      |jcb|diners|union\ ?pay)
    |(?P<PHONE>phone|cell|mobile|telephone|landline|fax|callback|call(?:\ me)?(?:\ back)?
      |reach\ me|text\ me|area\ code|my\ number|contact\ number|home\ number|work\ number)
    |(?P<ACCOUNT>account|member(?:ship)?|customer\ (?:id|number)|policy)
    |(?P<VETO>orders?|tracking|track|shipment|parcel|package|reference|ref|confirmation
      |ticket|case|claim|invoice|receipt|serial|model|room|suite|apartment|apt|zip|postal
      |postcode|extension|ext|pin|flight|item|sku|product)
    |(?P<VALUE>shipped|delivered|arrived|arriving|ordered|placed|purchased|bought|expires?
      |expiry|expiring|expiration|exp|valid|due|appointment|scheduled|since|price|version
      |total|amount|balance|cost|refund(?:ed)?|charged|charge)
    )\b""",
    re.VERBOSE,
)
_POSITIVE = frozenset({"CVV", "SSN", "DOB", "CARD", "PHONE"})

# --- digit runs, dates, emails -------------------------------------------------------------

_FILLERS = r"(?:uh|um|er|erm|ah|hmm|dash|hyphen|space|then)"
_SEP = rf"(?:[ \t]*-[ \t]*|[.,](?=[0-9])|,?[ \t]+(?:{_FILLERS}[ \t]+)*|\)[ \t]*)"
_GROUP = r"\(?[0-9]++(?!:[0-9])"  # "12:34" is a time: neither number joins a run
_RUN = re.compile(
    rf"(?<![a-z0-9+])(?<![0-9]:)(?P<plus>\+[ \t]?)?{_GROUP}(?:{_SEP}{_GROUP})*(?![a-z0-9])"
)
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_ISO_DATE = re.compile(r"(?:19|20)[0-9]{2}([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12][0-9]|3[01])")
_DIGITS = re.compile(r"[0-9]+")
_AMOUNT_AFTER = re.compile(r"[ \t]*(?:dollars?|bucks|cents?|euros?|pounds?|quid|percent|%)")

_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november"
    r"|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_DAY = r"[0-9]{1,2}(?:st|nd|rd|th)?"
_YEAR = r"'?(?:[0-9](?:\ ?[0-9]){3}|[0-9]{2})"
_DD = r"[0-9](?:\ ?[0-9])?"
_DATE = re.compile(
    rf"""(?<![a-z0-9])(?:
    {_MONTH},?[ \t]+(?:the[ \t]+)?{_DAY}(?:,?[ \t]+(?:of[ \t]+)?{_YEAR})?
    |(?:the[ \t]+)?{_DAY}[ \t]+(?:of[ \t]+)?{_MONTH}(?:,?[ \t]+{_YEAR})?
    |{_MONTH},?[ \t]+(?:of[ \t]+)?[0-9](?:\ ?[0-9]){{3}}
    |[0-9]{{1,2}}[ \t]*(?P<s1>[/.-])[ \t]*[0-9]{{1,2}}[ \t]*(?P=s1)[ \t]*(?:[0-9]{{4}}|[0-9]{{2}})
    |[0-9]{{4}}(?P<s2>[/.-])[0-9]{{1,2}}(?P=s2)[0-9]{{1,2}}
    |{_DD}[ \t]+(?:slash|dash)[ \t]+{_DD}[ \t]+(?:slash|dash)[ \t]+{_YEAR}
    )(?![a-z0-9])""",
    re.VERBOSE,
)

_TLDS = (
    "com|net|org|edu|gov|mil|info|biz|io|co|uk|us|ca|de|fr|es|it|nl|au|in|me|ai|app|dev|tv"
    "|ly|xyz|email|online|ie|nz|jp|ch|se|no|dk|be|mx|br|eu|pl|ru|za|sg|hk"
)
_PROVIDERS = r"g\ ?mail|googlemail|yahoo|hot\ ?mail|out\ ?look|i\ ?cloud|aol|proton\ ?mail|comcast"
"""Mail providers: "at gmail" is an address even without "dot com"; "g mail" as heard."""
_WRITTEN_EMAIL = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9._%+-]{1,64}[ \t]?@[ \t]?[a-z0-9-]{1,63}"
    r"(?:\.[a-z0-9-]{1,63}){0,8}\.[a-z]{2,24}(?![a-z0-9-])"
)
_SPOKEN_AT = re.compile(r"\bat(?:[ \t]+(?:sign|symbol))?[ \t]+")
_LABEL = rf"(?:{_PROVIDERS}|[a-z0-9]+(?:(?:-|[ \t]+(?:dash|hyphen)[ \t]+)[a-z0-9]+)*)"
_DOMAIN = re.compile(
    rf"(?:{_LABEL}(?:\.|[ \t]+(?:dot|period)[ \t]+)){{1,6}}(?:{_TLDS})(?![a-z0-9])"
    rf"|(?:{_PROVIDERS})(?![a-z0-9@]|\.[a-z0-9])"
)
_LOCAL_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[._+-]")
_JOINERS = frozenset({"dot", "underscore", "dash", "hyphen", "period", "plus", ".", "_", "-", "+"})
_STOPWORD_TEXT = """
    a about account address also am an and are as at be been but by can cc contact could did
    do does e email emailed for from had has have he her here hers his how i i'm if im in
    is it it's its just like login mail me my name new no not now of oh ok okay old on or our
    please reach registered send sent she should signed so still sure that that's thats the
    their then there these they this those thanks thank to try uh um under up us use user
    username via was we well were what what's whats when where who will with would write yeah
    yes you your"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_MAX_LOCAL_TOKENS = 6


# --- checks --------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum of card numbers."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _ssn_shaped(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (
        len(digits) == 9
        and area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
    )


def _nanp(digits: str) -> bool:
    """A ten-digit North American number: area code and exchange do not start with 0 or 1."""
    return len(digits) == 10 and digits[0] not in "01" and digits[3] not in "01"


def _card_shaped(digits: str) -> bool:
    if len(digits) == 15:
        return digits[:2] in ("34", "37")
    return len(digits) == 16 and digits[0] in "23456"


def _international(digits: str) -> bool:
    if not 8 <= len(digits) <= 15:
        return False
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(number)


# --- detection -----------------------------------------------------------------------------


class _Detector:
    def __init__(self, normalised: Normalised) -> None:
        self.text = normalised.text
        self.found: list[tuple[int, int, str]] = []
        self.emails = self._emails()
        self.email_starts = [start for start, _, _ in self.emails]
        self.contexts = [
            (m.start(), m.end(), m.lastgroup or "")
            for m in _CONTEXT.finditer(self.text)
            if not self._in_email(m.start(), m.end())
        ]
        self.context_starts = [start for start, _, _ in self.contexts]
        self.context_ends = [end for _, end, _ in self.contexts]
        self.runs = [
            (m.start(), m.end(), m.group("plus") is not None)
            for m in _RUN.finditer(self.text)
            if not self._in_email(m.start(), m.end())
        ]
        blockers = [(s, e) for s, e, _ in self.runs] + [(s, e) for s, e, _ in self.emails]
        position = self.text.find(BLOCK)
        while position >= 0:
            blockers.append((position, position + 1))
            position = self.text.find(BLOCK, position + 1)
        blockers.sort()
        self.block_starts = [start for start, _ in blockers]
        self.block_ends = [end for _, end in blockers]

    # emails

    def _in_email(self, start: int, end: int) -> bool:
        index = bisect_right(self.email_starts, start) - 1
        if index >= 0 and self.emails[index][1] > start:
            return True
        return index + 1 < len(self.emails) and self.emails[index + 1][0] < end

    def _emails(self) -> list[tuple[int, int, str]]:
        text = self.text
        written: list[tuple[int, int, str]] = []
        if "@" in text:
            written = [(m.start(), m.end(), "EMAIL") for m in _WRITTEN_EMAIL.finditer(text)]
        if "at" not in text:
            return written
        emails = list(written)
        starts = [start for start, _, _ in written]
        taken = 0  # nothing before this is free to be part of a spoken address
        for at in _SPOKEN_AT.finditer(text):
            index = bisect_right(starts, at.start()) - 1
            if at.start() < taken or (index >= 0 and written[index][1] > at.start()):
                continue
            domain = _DOMAIN.match(text, at.end(), min(len(text), at.end() + 120))
            if domain is None:
                continue
            floor = max(taken, written[index][1] if index >= 0 else 0)
            local = self._local_part(at.start(), floor)
            if local is not None and not (
                index + 1 < len(written) and written[index + 1][0] < domain.end()
            ):
                emails.append((local, domain.end(), "EMAIL"))
                taken = domain.end()
        emails.sort()
        return emails

    def _local_part(self, at: int, floor: int) -> int | None:
        """Where the address before a spoken "at" starts, or None when there is none."""
        text = self.text
        window_start = max(floor, at - 80)
        window_start = max(
            window_start,
            text.rfind(BLOCK, window_start, at) + 1,
            text.rfind("\n", window_start, at) + 1,
        )
        tokens = [(m.group(), m.start()) for m in _LOCAL_TOKEN.finditer(text, window_start, at)]
        start: int | None = None
        names = 0
        for position in range(len(tokens) - 1, -1, -1):
            token, token_start = tokens[position]
            if token in _JOINERS:
                if start is None:
                    break
                continue
            plain = token.replace("’", "'")
            if plain in _STOPWORDS and not self._spelled(tokens, position):
                break
            names += 1
            if names > _MAX_LOCAL_TOKENS:
                break
            start = token_start
        return start

    @staticmethod
    def _spelled(tokens: list[tuple[str, int]], position: int) -> bool:
        """ "j a n e": a one-letter stopword between spelled letters is a letter."""
        if len(tokens[position][0]) != 1:
            return False
        before = tokens[position - 1][0] if position > 0 else ""
        after = tokens[position + 1][0] if position + 1 < len(tokens) else ""
        return len(before) == 1 and before.isalpha() and (after == "" or len(after) == 1)

    # context

    def context(self, start: int, end: int, small: bool) -> str | None:
        """The category of the context that decides what the text at [start, end) is."""
        text = self.text
        block = bisect_right(self.block_ends, start) - 1
        previous_end = self.block_ends[block] if block >= 0 else 0
        seen: str | None = None
        index = bisect_right(self.context_ends, start) - 1
        while index >= 0:
            c_start, c_end, category = self.contexts[index]
            if c_end < previous_end or start - c_end > CONTEXT_CHARS:
                break
            if text.count(" ", c_end, start) > CONTEXT_WORDS:
                break
            if seen is None:
                if category == "ACCOUNT" or (category == "CARD" and small):
                    seen = category
                else:
                    return category
            elif seen == "CARD":
                return "CVV" if category == "CVV" else "CARD"
            else:
                return category if category in _POSITIVE else seen
            index -= 1
        if seen is not None:
            return seen
        block = bisect_left(self.block_starts, end)
        next_start = self.block_starts[block] if block < len(self.block_starts) else len(text)
        index = bisect_left(self.context_starts, end)
        if index < len(self.contexts):
            c_start, _, category = self.contexts[index]
            if (
                c_start <= next_start
                and category in _POSITIVE
                and text.count(" ", end, c_start) <= FOLLOWING_WORDS
            ):
                return category
        return None

    # digit runs

    def _amount(self, start: int, end: int) -> bool:
        before = self.text[max(0, start - 3) : start].rstrip()
        return before.endswith(("$", "£", "€")) or _AMOUNT_AFTER.match(self.text, end) is not None

    def runs_found(self) -> None:
        for start, end, plus in self.runs:
            self._run(start, end, plus)

    def _run(self, start: int, end: int, plus: bool, previous: str | None = None) -> None:
        text = self.text
        groups = [(m.start(), m.end()) for m in _DIGITS.finditer(text, start, end)]
        digits = "".join(text[s:e] for s, e in groups)
        count = len(digits)
        if count < 3 or self._amount(start, end) or _IPV4.fullmatch(text, start, end):
            return
        if plus and _international(digits):
            self.found.append((start, end, "PHONE"))
            return
        shape = [e - s for s, e in groups]
        if shape == [3, 2, 4] and _ssn_shaped(digits):
            self.found.append((start, end, "SSN"))
            return
        category = previous or self.context(start, end, count <= 4)
        if category != "DOB" and _ISO_DATE.fullmatch(text, start, end):
            return  # 2024-06-01: a date, and only in birth context personal data
        kind = None
        if category == "CARD" and count >= 13:
            kind = "CARD"
        elif category == "SSN" and count in (4, 9):
            kind = "SSN"
        elif category == "CVV" and count in (3, 4):
            kind = "CVV"
        elif category == "PHONE" and 7 <= count <= 15:
            kind = "PHONE"
        elif category == "DOB" and 3 <= count <= 8 and not _year(digits):
            kind = "DOB"
        elif category == "ACCOUNT" and 13 <= count <= 19 and luhn_valid(digits):
            kind = "CARD"  # "the account number is 4111 ...": a card all the same
        elif category == "VALUE" and 13 <= count <= 19 and luhn_valid(digits) \
                and digits[0] in "23456":
            kind = "CARD"  # "refund 4111 ...": money words say what a short number is, not this
        elif category in ("VETO", "ACCOUNT", "VALUE"):
            return
        if kind is not None:
            self.found.append((start, end, kind))
            return
        self._generic(start, end, groups, digits, category)

    def _generic(
        self,
        start: int,
        end: int,
        groups: list[tuple[int, int]],
        digits: str,
        category: str | None,
    ) -> None:
        count = len(digits)
        if _card_shaped(digits) or (
            13 <= count <= 19 and luhn_valid(digits) and digits[0] in "23456"
        ):
            self.found.append((start, end, "CARD"))
        elif 17 <= count <= 23:
            self._card_inside(start, end, groups, digits, category)
        elif count == 9 and _ssn_shaped(digits):
            self.found.append((start, end, "SSN"))
        elif _nanp(digits) or (count == 11 and digits[0] == "1" and _nanp(digits[1:])):
            self.found.append((start, end, "PHONE"))

    def _card_inside(
        self,
        start: int,
        end: int,
        groups: list[tuple[int, int]],
        digits: str,
        category: str | None,
    ) -> None:
        """A card number at the start or the end of a longer run ("oh 4111 ...", "... 123")."""
        boundaries: dict[int, tuple[int, int]] = {}
        total = 0
        for group_start, group_end in groups:
            total += group_end - group_start
            boundaries[total] = (group_start, group_end)
        count = len(digits)
        for length in (16, 15):
            head, tail = digits[:length], digits[count - length :]
            if length in boundaries and _card_shaped(head) and luhn_valid(head):
                card_end = boundaries[length][1]
                self.found.append((start, card_end, "CARD"))
                rest = next(s for s, _ in groups if s >= card_end)
                self._run(rest, end, False, category)
                return
            if count - length in boundaries and _card_shaped(tail) and luhn_valid(tail):
                card_start = boundaries[count - length][1]
                card_start = next(s for s, _ in groups if s >= card_start)
                self.found.append((card_start, end, "CARD"))
                return

    # dates

    def dates_found(self) -> None:
        if not any(category == "DOB" for _, _, category in self.contexts):
            return
        for match in _DATE.finditer(self.text):
            start, end = match.span()
            if not self._in_email(start, end) and self.context(start, end, False) == "DOB":
                self.found.append((start, end, "DOB"))


def _year(digits: str) -> bool:
    return len(digits) == 4 and digits[:2] in ("19", "20")


def _resolve(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping findings of one kind become one; otherwise the higher priority, longer wins."""
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(found, key=lambda item: (item[2], item[0])):
        if merged and merged[-1][2] == kind and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), kind)
        else:
            merged.append((start, end, kind))
    chosen: list[tuple[int, int, str]] = []  # sorted by start, never overlapping
    for start, end, kind in sorted(
        merged, key=lambda item: (-PRIORITY[item[2]], item[0] - item[1], item[0])
    ):
        index = bisect_left(chosen, (start,))
        if (index > 0 and chosen[index - 1][1] > start) or (
            index < len(chosen) and chosen[index][0] < end
        ):
            continue
        chosen.insert(index, (start, end, kind))
    return chosen


def find_once(text: str) -> list[Finding]:
    """One pass: the personal data in `text`, as non-overlapping spans of it, in order."""
    if not text or _FAST.search(text) is None:
        return []
    normalised = normalise(text)
    detector = _Detector(normalised)
    detector.found.extend(detector.emails)
    detector.runs_found()
    detector.dates_found()
    return [
        Finding(kind, normalised.start(start), normalised.end(end))
        for start, end, kind in _resolve(detector.found)
    ]

"""How the caller sounds in one turn: a sentiment score in [-1, 1], offline, with VADER.

`score(text)` is VADER's compound score (-1 very negative, 0 neutral, 1 very positive), or
None when there are no words to judge. The analyzer is built once per process.

Answers are not feelings. VADER scores the word "no" as negative on its own ("no" -0.30,
"no thanks" -0.34) and "yes" as positive, so a caller who turns down an offer would look
annoyed and one who accepts would look pleased. The rules:

- The whole turn is a yes/no answer ("no", "nope", "nah", "no thanks", "not really", "yes
  please", "okay", "I said no", with fillers such as "um"): 0.0.
- A turn that opens with a yes/no answer is scored on what follows it: "no, this is
  hopeless" is negative, "no I want to check my order" neutral. Unless the answer word runs
  straight into a feeling word, as in "no help at all" or "no good": that is how VADER reads
  it, and it is not an answer.
- "no" anywhere else only negates the word after it ("no luck" stays negative) and is not a
  feeling itself: "I have no idea" is 0.0.
- Digits and keypad symbols ("123456", "#"), spoken digits and redaction markers such as
  `[CARD]` carry no sentiment: 0.0 when nothing else is left.
"""

from __future__ import annotations

import re
import threading
import unicodedata

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ivr.nlu.entities import (
    FILLERS,
    NO_PHRASES,
    WEAK_NO_PHRASES,
    WEAK_YES_PHRASES,
    YES_PHRASES,
)

MAX_PHRASE_WORDS = 4
_SPOKEN_ANSWERS = ("i said yes", "i said no", "uh huh", "mm hmm", "uh uh")
STRONG_ANSWERS = frozenset({*YES_PHRASES, *NO_PHRASES, *_SPOKEN_ANSWERS})
"""Phrases that are an answer wherever they open the turn."""
ANSWERS = STRONG_ANSWERS | frozenset({*WEAK_YES_PHRASES, *WEAK_NO_PHRASES})
"""Phrases that are an answer when they are the whole turn ("okay", "never")."""

_MARKER = re.compile(r"\[[A-Za-z_]{2,12}\]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_LETTER = re.compile(r"[^\W\d_]")

_analyzer: SentimentIntensityAnalyzer | None = None
_building = threading.Lock()


def analyzer() -> SentimentIntensityAnalyzer:
    """The process's VADER analyzer, built on first use (it reads its lexicon files)."""
    global _analyzer
    if _analyzer is None:
        with _building:
            if _analyzer is None:
                built = SentimentIntensityAnalyzer()
                # "no" keeps its job as a negator of the next word, but is not negative itself.
                built.lexicon = {**built.lexicon, "no": 0.0}
                _analyzer = built
    return _analyzer


def score(text: str | None) -> float | None:
    """VADER's compound score of what the caller said, with answers and numbers neutral."""
    if not text or not text.strip():
        return None
    rest = _after_answer(_MARKER.sub(" ", text))
    if rest is None or not _LETTER.search(rest):
        return 0.0
    compound = float(analyzer().polarity_scores(rest)["compound"])
    return min(1.0, max(-1.0, compound))


def _after_answer(text: str) -> str | None:
    """The text after an opening yes/no answer; None when the answer (and fillers) is all."""
    matches = list(_WORD.finditer(text))
    plain = [unicodedata.normalize("NFKC", match[0]).lower().replace("'", "").replace("’", "")
             for match in matches]
    if _is_answer(plain):
        return None
    lexicon = analyzer().lexicon
    index, end = 0, 0
    while True:
        start = _skip_fillers(plain, index)
        taken = _phrase_at(plain[start:], STRONG_ANSWERS)
        after = start + taken
        if not taken or after >= len(plain):
            return text[end:]
        # "no help", "no good": the answer word qualifies the feeling word right after it.
        separated = text[matches[after - 1].end():matches[after].start()].strip()
        if not separated and plain[after] in lexicon:
            return text[end:]
        index, end = after, matches[after - 1].end()


def _is_answer(words: list[str]) -> bool:
    """Whether the words are nothing but answer phrases and fillers."""
    index = _skip_fillers(words, 0)
    while index < len(words):
        taken = _phrase_at(words[index:], ANSWERS)
        if not taken:
            return False
        index = _skip_fillers(words, index + taken)
    return True


def _skip_fillers(words: list[str], index: int) -> int:
    while index < len(words) and words[index] in FILLERS:
        index += 1
    return index


def _phrase_at(words: list[str], phrases: frozenset[str]) -> int:
    """How many leading words form one of `phrases` (the longest that does), or 0."""
    for size in range(min(MAX_PHRASE_WORDS, len(words)), 0, -1):
        if " ".join(words[:size]) in phrases:
            return size
    return 0

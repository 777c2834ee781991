"""PocketSphinx 5 with the English model of its package: the offline default engine.

It listens with a JSGF grammar of the flow's phrases (open vocabulary is useless on the
phone). Each grammar gets a small pronunciation dictionary with only its words, cut once from
the package's CMUdict: a decoder then starts in about 15 ms and holds about 6 MB, instead of
150 ms and 28 MB with the whole dictionary. The model wants 16 kHz audio: upsample Twilio's
8 kHz mu-law first.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pocketsphinx import Decoder, get_model_path

from ivr.speech.asr import SpeechEngineError, Transcript
from ivr.speech.grammar import DIGIT_WORDS, jsgf, keep_known_words, missing_words, words_of

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MAX_GRAMMARS = 64
"""Distinct phrase sets kept ready (a flow has one, or one per question)."""
OFF_GRAMMAR_FACTOR = 0.25
"""Confidence scale for a result that is not a whole phrase of the grammar (PocketSphinx
returns the best partial path when no path reached the end of the grammar)."""
_ALTERNATIVE = re.compile(r"\(\d+\)$")


@dataclass(frozen=True)
class _Grammar:
    """What a decoder for one phrase set needs: its dictionary file and its JSGF text."""

    dictionary: Path
    jsgf: str
    phrases: frozenset[str]

    def accepts(self, text: str) -> bool:
        words = text.split()
        return text in self.phrases or (bool(words) and all(w in DIGIT_WORDS for w in words))


class PocketSphinxEngine:
    """Loads nothing big up front; prepares one grammar per phrase set, on first use."""

    name = "pocketsphinx"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir: str | Path | None = None) -> None:
        model = Path(model_dir) if model_dir else Path(get_model_path("en-us"))
        self._acoustic_model = model / "en-us"
        self._dictionary = model / "cmudict-en-us.dict"
        for needed in (self._acoustic_model / "mdef", self._dictionary):
            if not needed.exists():
                raise SpeechEngineError(f"PocketSphinx model file missing: {needed}")
        self._lock = threading.Lock()
        self._grammars: OrderedDict[tuple[str, ...], _Grammar] = OrderedDict()
        # Not a TemporaryDirectory: its finaliser would run in every forked gunicorn worker
        # that exits and delete the files the other workers still use.
        self._workdir = Path(tempfile.mkdtemp(prefix="ivr-pocketsphinx-"))

    def recognizer(self, phrases: Sequence[str]) -> PocketSphinxRecognizer:
        grammar = self._grammar(tuple(phrases))
        if not grammar.dictionary.exists():  # e.g. a temp-file cleaner removed it
            with self._lock:
                self._grammars.pop(tuple(phrases), None)
            grammar = self._grammar(tuple(phrases))
        decoder = Decoder(
            hmm=str(self._acoustic_model),
            dict=str(grammar.dictionary),
            lm=None,
            samprate=SAMPLE_RATE,
            bestpath=True,  # word posteriors, for the confidence
            loglevel="FATAL",
        )
        decoder.add_jsgf_string("flow", grammar.jsgf)
        decoder.activate_search("flow")
        return PocketSphinxRecognizer(decoder, grammar)

    def _grammar(self, phrases: tuple[str, ...]) -> _Grammar:
        with self._lock:
            grammar = self._grammars.get(phrases)
            if grammar is not None:
                self._grammars.move_to_end(phrases)
                return grammar
            grammar = self._prepare(phrases)
            self._grammars[phrases] = grammar
            while len(self._grammars) > MAX_GRAMMARS:
                self._grammars.popitem(last=False)
            return grammar

    def _prepare(self, phrases: tuple[str, ...]) -> _Grammar:
        needed = words_of(phrases) | set(DIGIT_WORDS)
        entries, known = self._pronunciations(needed)
        missing = missing_words(phrases, known.__contains__)
        if missing:
            log.warning("PocketSphinx cannot say these words; left out: %s", ", ".join(missing))
        digest = hashlib.sha256("\n".join(phrases).encode()).hexdigest()[:16]
        self._workdir.mkdir(parents=True, exist_ok=True)
        dictionary = self._workdir / f"{digest}.dict"
        dictionary.write_text("".join(entries), encoding="utf-8")
        grammar_text = jsgf(phrases, known)
        kept = frozenset(keep_known_words(phrases, known.__contains__))
        return _Grammar(dictionary=dictionary, jsgf=grammar_text, phrases=kept)

    def _pronunciations(self, words: set[str]) -> tuple[list[str], set[str]]:
        """The CMUdict lines (with alternative pronunciations) of these words, and which
        of the words it has."""
        entries: list[str] = []
        known: set[str] = set()
        with self._dictionary.open(encoding="utf-8") as handle:
            for line in handle:
                word = _ALTERNATIVE.sub("", line.split(" ", 1)[0])
                if word in words:
                    entries.append(line if line.endswith("\n") else line + "\n")
                    known.add(word)
        return entries, known


class PocketSphinxRecognizer:
    """One decoder, one utterance at a time. Never ends an utterance by itself: call
    `finish()` when end-of-speech detection says the caller stopped."""

    def __init__(self, decoder: Decoder, grammar: _Grammar) -> None:
        self._decoder = decoder
        self._grammar = grammar
        self._in_utterance = False
        self._partial = ""

    def feed(self, pcm16: bytes) -> Transcript | None:
        if not pcm16:
            return None
        if not self._in_utterance:
            self._decoder.start_utt()
            self._in_utterance = True
        self._decoder.process_raw(pcm16, False, False)
        hypothesis = self._decoder.hyp()
        text = hypothesis.hypstr if hypothesis else ""
        if text == self._partial:
            return None
        self._partial = text
        return Transcript(text, None, final=False) if text else None

    def finish(self) -> Transcript:
        if not self._in_utterance:
            return Transcript("", None, final=True)
        self._decoder.end_utt()
        self._in_utterance = False
        self._partial = ""
        hypothesis = self._decoder.hyp()
        text = hypothesis.hypstr if hypothesis else ""
        if not text:
            return Transcript("", None, final=True)
        confidence = self._confidence()
        if confidence is not None and not self._grammar.accepts(text):
            confidence *= OFF_GRAMMAR_FACTOR
        return Transcript(text, confidence, final=True)

    def reset(self) -> None:
        if self._in_utterance:
            self._decoder.end_utt()
            self._in_utterance = False
        self._partial = ""

    def close(self) -> None:
        self.reset()

    def _confidence(self) -> float | None:
        """Mean posterior probability of the recognised words (fillers and silence left out)."""
        posteriors = [
            min(1.0, max(0.0, segment.prob))
            for segment in self._decoder.seg() or []
            if not segment.word.startswith(("<", "[", "+"))
        ]
        if not posteriors:
            return None
        return sum(posteriors) / len(posteriors)

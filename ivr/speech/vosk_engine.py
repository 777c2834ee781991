"""Vosk (Kaldi): one model per process, one grammar-mode recogniser per listening turn.

The model folder comes from the `vosk_model` setting (`IVR_VOSK_MODEL`); `ivr models
download NAME` fetches one. Words the model does not know are left out of the grammar (Vosk
would ignore them anyway, with a warning per recogniser).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import vosk

from ivr.speech.asr import SpeechEngineError, Transcript
from ivr.speech.grammar import vosk_grammar

SAMPLE_RATE = 16000
MAX_GRAMMARS = 64


def looks_like_vosk_model(folder: Path) -> bool:
    """Whether a folder has the layout of a Vosk model."""
    return (folder / "conf" / "model.conf").is_file() or (folder / "am" / "final.mdl").is_file()


class VoskEngine:
    """A Vosk model, loaded once; recognisers share it."""

    name = "vosk"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: str | Path) -> None:
        folder = Path(model_path)
        if not folder.is_dir():
            raise SpeechEngineError(f"Vosk model folder not found: {folder}")
        if not looks_like_vosk_model(folder):
            raise SpeechEngineError(
                f"{folder} is not a Vosk model (no conf/model.conf or am/final.mdl); point "
                "IVR_VOSK_MODEL at the folder that holds am/, conf/ and graph/"
            )
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(folder))
        except Exception as error:  # vosk raises a bare Exception
            raise SpeechEngineError(f"Vosk could not load the model in {folder}: {error}") from None
        self.model_path = folder
        self._lock = threading.Lock()
        self._grammars: dict[tuple[str, ...], str] = {}

    def knows(self, word: str) -> bool:
        """Whether the model's vocabulary has this word."""
        return self._model.vosk_model_find_word(word) >= 0

    def grammar(self, phrases: Sequence[str]) -> str:
        """The grammar JSON for these phrases, made once per phrase set."""
        key = tuple(phrases)
        with self._lock:
            grammar = self._grammars.get(key)
            if grammar is None:
                grammar = vosk_grammar(key, known=self.knows)
                if len(self._grammars) >= MAX_GRAMMARS:
                    self._grammars.pop(next(iter(self._grammars)))
                self._grammars[key] = grammar
            return grammar

    def recognizer(self, phrases: Sequence[str]) -> VoskRecognizer:
        return VoskRecognizer(self._model, self.grammar(phrases))


class VoskRecognizer:
    """Partial results as they change; a final one when Vosk hears the utterance end."""

    def __init__(self, model: vosk.Model, grammar: str) -> None:
        self._model = model
        self._grammar = grammar
        self._recognizer = self._new_recognizer()
        self._partial = ""

    def _new_recognizer(self) -> vosk.KaldiRecognizer:
        recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, self._grammar)
        recognizer.SetWords(True)
        return recognizer

    def feed(self, pcm16: bytes) -> Transcript | None:
        if not pcm16:
            return None
        if self._recognizer.AcceptWaveform(pcm16):
            self._partial = ""
            result = _final(self._recognizer.Result())
            return result if result.text else None  # an endpoint after noise, nothing said
        partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
        if partial == self._partial:
            return None
        self._partial = partial
        return Transcript(partial, None, final=False) if partial else None

    def finish(self) -> Transcript:
        self._partial = ""
        return _final(self._recognizer.FinalResult())

    def reset(self) -> None:
        # A fresh recogniser (about 1 ms): KaldiRecognizer.Reset() keeps audio it had
        # buffered, which then turns up in the next utterance.
        self._recognizer = self._new_recognizer()
        self._partial = ""

    def close(self) -> None:
        self._partial = ""


def _final(result_json: str) -> Transcript:
    """A final Transcript from Vosk's result; confidence is the mean of the word confidences."""
    result: dict[str, Any] = json.loads(result_json)
    text = result.get("text", "").strip()
    confidences = [float(word["conf"]) for word in result.get("result", []) if "conf" in word]
    confidence = sum(confidences) / len(confidences) if confidences and text else None
    return Transcript(text, confidence, final=True)

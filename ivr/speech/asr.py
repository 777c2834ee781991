"""The speech recognition interface: feed audio, get partial and final text with a confidence.

One `SpeechEngine` per process holds the model (loaded once, shared by every call); it makes
one `Recognizer` per listening turn, for the phrases the flow expects there. Recognizers are
used by one thread at a time, and many of them run in parallel threads. `open_engine` may
instead run them in worker processes (`ivr.speech.pool`), behind the same interface.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

EngineName = Literal["vosk", "pocketsphinx"]


@dataclass(frozen=True)
class Transcript:
    """What a recogniser heard: the words, how sure it is (0..1, None: unknown), and whether
    the utterance is over (`final`) or still going on (a partial result)."""

    text: str
    confidence: float | None
    final: bool


class Recognizer(Protocol):
    """Recognises one utterance after another from a stream of 16-bit mono PCM."""

    def feed(self, pcm16: bytes) -> Transcript | None:
        """Take audio at the engine's `sample_rate`.

        Returns a partial Transcript when the partial text changed, a final one when the
        engine itself found the end of the utterance, else None.
        """
        ...

    def finish(self) -> Transcript:
        """End the utterance now and return the final result; then ready for the next one."""
        ...

    def reset(self) -> None:
        """Forget the utterance in progress."""
        ...

    def close(self) -> None:
        """Free what the recogniser holds; it is not used again."""
        ...


class SpeechEngine(Protocol):
    """A loaded speech model that makes recognisers."""

    @property
    def name(self) -> str:
        """The engine's name ("vosk", "pocketsphinx")."""
        ...

    @property
    def sample_rate(self) -> int:
        """The rate of the audio its recognisers take."""
        ...

    def recognizer(self, phrases: Sequence[str]) -> Recognizer:
        """A new recogniser that listens for these phrases (what the flow expects)."""
        ...


class SpeechEngineError(RuntimeError):
    """The engine cannot be used: its package or model is missing or broken."""


_engines: dict[tuple[str, str | None], SpeechEngine] = {}
_engines_lock = threading.Lock()


def load_engine(name: EngineName, *, vosk_model: str | None = None) -> SpeechEngine:
    """The process's engine of that name, loaded on first use and then shared.

    `vosk_model` is the Vosk model folder (setting `vosk_model`, `IVR_VOSK_MODEL`); Vosk
    needs one, PocketSphinx uses the English model inside its package.
    """
    key_model = str(Path(vosk_model).resolve()) if name == "vosk" and vosk_model else None
    key = (name, key_model)
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(name, key_model)
            _engines[key] = engine
    return engine


def open_engine(name: EngineName, *, vosk_model: str | None = None,
                processes: int | None = None) -> SpeechEngine:
    """The engine streams use: `load_engine`'s, or a `RecognitionPool` of `processes` worker
    processes. `processes=None` picks: one per CPU for PocketSphinx, whose decoding holds
    Python's GIL and would stall the server's other threads; none for Vosk, which releases
    the GIL and whose model would be loaded again in every process."""
    if processes is None:
        processes = (os.cpu_count() or 1) if name == "pocketsphinx" else 0
    if processes <= 0:
        return load_engine(name, vosk_model=vosk_model)
    from ivr.speech.pool import RecognitionPool

    if name == "vosk":
        from ivr.speech.vosk_engine import looks_like_vosk_model

        if not vosk_model or not looks_like_vosk_model(Path(vosk_model)):
            _create(name, vosk_model)  # raises the error that says what is wrong
    return RecognitionPool(name, vosk_model=vosk_model, processes=processes)


def _create(name: str, vosk_model: str | None) -> SpeechEngine:
    if name == "pocketsphinx":
        try:
            from ivr.speech.pocketsphinx_engine import PocketSphinxEngine
        except ImportError as error:
            raise SpeechEngineError(
                f"PocketSphinx is not installed ({error}); pip install 'pocketsphinx>=5,<6'"
            ) from error
        return PocketSphinxEngine()
    if name == "vosk":
        if not vosk_model:
            raise SpeechEngineError(
                "the Vosk engine needs a model folder: set IVR_VOSK_MODEL (or `vosk_model` in "
                "config/*.toml); `ivr models download NAME` fetches one"
            )
        try:
            from ivr.speech.vosk_engine import VoskEngine
        except ImportError as error:
            raise SpeechEngineError(
                f"Vosk is not installed ({error}); pip install 'vosk>=0.3.45,<0.4'"
            ) from error
        return VoskEngine(vosk_model)
    raise SpeechEngineError(f"unknown speech engine {name!r}; use 'vosk' or 'pocketsphinx'")

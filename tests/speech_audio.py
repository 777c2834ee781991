"""Real test speech: espeak-ng sentences as Twilio would send them (8 kHz mu-law, made by
sox), decoded and upsampled to 16 kHz, fed to recognisers in 20 ms chunks."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

from ivr.speech import audio
from ivr.speech.asr import Recognizer, Transcript

RATE = 16000
CHUNK = RATE * 20 // 1000 * 2  # 20 ms of 16-bit PCM


def telephone_audio(workdir: Path, text: str, voice: str = "en-us") -> bytes:
    """What Twilio would send for this sentence, decoded: 8 kHz 16-bit PCM."""
    name = f"{voice}-{abs(hash(text))}"
    spoken, phone = workdir / f"{name}.wav", workdir / f"{name}-8k.wav"
    if not phone.exists():
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(spoken), text], check=True)
        subprocess.run(
            ["sox", str(spoken), "-r", "8000", "-c", "1", "-e", "u-law", str(phone)], check=True
        )
    pcm, rate = audio.read_wav(phone)
    assert rate == 8000
    return pcm


def silence(ms: int, rate: int = 8000) -> bytes:
    return bytes(rate * ms // 1000 * 2)


def upsample(pcm8k: bytes) -> bytes:
    return audio.resample(pcm8k, 8000, RATE)[0]


def chunks(pcm: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]


def stream(recognizer: Recognizer, pcm16: bytes) -> tuple[list[Transcript], Transcript]:
    """Feed 20 ms chunks; what came out on the way, and the final result of `finish()`."""
    heard = [result for chunk in chunks(pcm16) if (result := recognizer.feed(chunk))]
    return heard, recognizer.finish()


def say(workdir: Path, text: str, voice: str = "en-us", trailing_ms: int = 500) -> bytes:
    return upsample(telephone_audio(workdir, text, voice) + silence(trailing_ms))

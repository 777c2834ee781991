"""Audio helpers for telephony: mu-law, resampling, and reading and writing WAV files.

Twilio speaks 8 kHz mono mu-law, both as `<Play>` files and as Media Streams frames of
20 ms. Everything else in the project handles 16-bit signed little-endian PCM ("pcm16").
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TypeAlias

import numpy as np

with warnings.catch_warnings():
    # The std-lib module (3.11, 3.12) warns that it goes away in 3.13, where the
    # `audioop-lts` package provides the same module under the same name.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

TELEPHONE_RATE = 8000
FRAME_MS = 20
ULAW_FRAME_BYTES = TELEPHONE_RATE * FRAME_MS // 1000  # one byte per sample
ULAW_SILENCE = b"\xff"

ResampleState: TypeAlias = tuple[int, tuple[tuple[int, int], ...]] | None
"""`resample`'s state between the chunks of a stream (audioop.ratecv's); None to start."""

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_FLOAT = 3
WAVE_FORMAT_ALAW = 6
WAVE_FORMAT_MULAW = 7
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class AudioFormatError(ValueError):
    """A file that is not audio this module can read."""


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode mu-law bytes to 16-bit PCM (twice as many bytes)."""
    return audioop.ulaw2lin(data, 2)


def pcm16_to_ulaw(data: bytes) -> bytes:
    """Encode 16-bit PCM to mu-law (half as many bytes)."""
    return audioop.lin2ulaw(data, 2)


def resample(
    pcm16: bytes, from_rate: int, to_rate: int, state: ResampleState = None
) -> tuple[bytes, ResampleState]:
    """Resample mono 16-bit PCM. Pass the returned state with the next chunk of a stream.

    This is linear interpolation with no filter: right for upsampling (8 kHz telephone audio
    to 16 kHz for a recogniser); use `downsample` to lower the rate of full-band audio.
    """
    if from_rate == to_rate:
        return pcm16, state
    converted, new_state = audioop.ratecv(pcm16, 2, 1, from_rate, to_rate, state)
    return converted, new_state


def downsample(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    """Lower the rate of a whole clip, low-pass filtered first so that hiss does not alias.

    Synthetic speech has energy up to 11 kHz; without the filter, "s" and "f" fold back into
    the telephone band as a harsh buzz.
    """
    if to_rate >= from_rate:
        return resample(pcm16, from_rate, to_rate)[0]
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    cutoff = 0.45 * to_rate / from_rate  # a little below the new Nyquist frequency
    taps = 101
    offsets = np.arange(taps) - (taps - 1) / 2
    kernel = np.sinc(2 * cutoff * offsets) * np.hamming(taps)
    kernel /= kernel.sum()
    filtered = np.convolve(samples, kernel, mode="same")
    clipped = np.clip(np.rint(filtered), -32768, 32767).astype("<i2").tobytes()
    return resample(clipped, from_rate, to_rate)[0]


def rms(pcm16: bytes) -> int:
    """Root mean square level of 16-bit PCM (0 for silence, up to 32767)."""
    return int(audioop.rms(pcm16, 2)) if pcm16 else 0


def trim_silence(pcm16: bytes, rate: int, *, keep_ms: int = 100, threshold: int = 300) -> bytes:
    """Cut leading and trailing silence down to at most `keep_ms` on each side."""
    window = max(2, rate // 100 * 2)  # 10 ms of 16-bit samples, in bytes
    loud = [
        start
        for start in range(0, len(pcm16), window)
        if rms(pcm16[start : start + window]) >= threshold
    ]
    if not loud:
        return b""
    keep = rate * keep_ms // 1000 * 2
    begin = max(0, loud[0] - keep)
    end = min(len(pcm16), loud[-1] + window + keep)
    return pcm16[begin:end]


def ulaw_frames(ulaw: bytes) -> Iterator[bytes]:
    """Split mu-law audio into Media Streams frames of 20 ms, padding the last with silence."""
    for start in range(0, len(ulaw), ULAW_FRAME_BYTES):
        frame = ulaw[start : start + ULAW_FRAME_BYTES]
        yield frame.ljust(ULAW_FRAME_BYTES, ULAW_SILENCE)


def read_wav(path: Path | str) -> tuple[bytes, int]:
    """Mono 16-bit PCM and its sample rate, from a WAV file of integer PCM (8 to 32 bits),
    32-bit float, mu-law or A-law, mono or stereo."""
    format_tag, channels, rate, width, frames = _read_riff(Path(path))
    if format_tag == WAVE_FORMAT_MULAW:
        pcm, width = audioop.ulaw2lin(frames, 2), 2
    elif format_tag == WAVE_FORMAT_ALAW:
        pcm, width = audioop.alaw2lin(frames, 2), 2
    elif format_tag == WAVE_FORMAT_FLOAT and width == 4:
        floats = np.frombuffer(frames[: len(frames) // 4 * 4], dtype="<f4")
        pcm, width = np.clip(np.rint(floats * 32767), -32768, 32767).astype("<i2").tobytes(), 2
    elif format_tag == WAVE_FORMAT_PCM and 1 <= width <= 4:
        pcm = frames[: len(frames) // width * width]
        if width == 1:
            pcm = audioop.bias(pcm, 1, -128)  # WAV stores 8-bit samples unsigned
    else:
        raise AudioFormatError(
            f"{path}: WAV format {format_tag} with {width * 8}-bit samples is not supported"
        )
    if width != 2:
        pcm = audioop.lin2lin(pcm, width, 2)
    if channels == 2:
        pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
    elif channels != 1:
        raise AudioFormatError(f"{path}: {channels} channels; only mono and stereo are read")
    return pcm, rate


def write_ulaw_wav(path: Path | str, ulaw: bytes) -> None:
    """Write 8 kHz mono mu-law frames as a WAV file (format tag 7), as Twilio `<Play>` takes."""
    Path(path).write_bytes(wav_bytes(ulaw))


def wav_bytes(ulaw: bytes) -> bytes:
    """A whole mu-law WAV file (8 kHz, mono, format tag 7) holding these frames.

    The std-lib `wave` module writes only PCM, so the RIFF header is built here. Non-PCM
    WAV files need the 18-byte `fmt ` chunk (with cbSize) and a `fact` chunk with the
    sample count.
    """
    fmt = struct.pack(
        "<HHIIHHH",
        WAVE_FORMAT_MULAW,
        1,  # channels
        TELEPHONE_RATE,
        TELEPHONE_RATE,  # bytes per second: one byte per sample
        1,  # block align
        8,  # bits per sample
        0,  # cbSize: no extra format bytes
    )
    fact = struct.pack("<I", len(ulaw))
    pad = b"\x00" if len(ulaw) % 2 else b""
    chunks = _chunk(b"fmt ", fmt) + _chunk(b"fact", fact) + _chunk(b"data", ulaw) + pad
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def read_ulaw_wav(path: Path | str) -> bytes:
    """The raw mu-law frames of an 8 kHz mono mu-law WAV file."""
    format_tag, channels, rate, _, frames = _read_riff(Path(path))
    if (format_tag, channels, rate) != (WAVE_FORMAT_MULAW, 1, TELEPHONE_RATE):
        raise AudioFormatError(
            f"{path}: format {format_tag}, {channels} channel(s), {rate} Hz; "
            "expected mu-law (7), 1 channel, 8000 Hz"
        )
    return frames


def _chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body


def _read_riff(path: Path) -> tuple[int, int, int, int, bytes]:
    """(format tag, channels, rate, bytes per sample, data) from a RIFF/WAVE file."""
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{path}: not a WAV file")
    fmt: tuple[int, int, int, int] | None = None
    frames: bytes | None = None
    offset = 12
    while offset + 8 <= len(data):
        name = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if name == b"fmt " and size >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == WAVE_FORMAT_EXTENSIBLE and size >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)  # the sub-format GUID starts so
            fmt = (tag, channels, rate, max(1, (bits + 7) // 8))
        elif name == b"data":
            frames = body
        offset += 8 + size + (size % 2)  # chunks are word-aligned
    if fmt is None or frames is None:
        raise AudioFormatError(f"{path}: a WAV file without a fmt or data chunk")
    return (*fmt, frames)

"""Twilio Media Streams messages: what arrives on the WebSocket and what we send back.

Inbound: connected, start, media, dtmf, mark, stop. Outbound: media, mark, clear.
Audio is 8 kHz mu-law, base64 in JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


class ProtocolError(ValueError):
    """A message that is not Twilio Media Streams JSON."""


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    payload: bytes


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Connected:
    pass


Inbound = Start | Media | Dtmf | Mark | Stop | Connected
MAX_MESSAGE_BYTES = 64 * 1024


def parse(raw: str | bytes) -> Inbound:
    """One inbound message. Raises `ProtocolError` for anything that is not the protocol."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError("message too large")
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError("not JSON") from error
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    event = message.get("event")
    try:
        match event:
            case "media":
                return Media(base64.b64decode(_dict(message, "media")["payload"], validate=True))
            case "start":
                start = _dict(message, "start")
                parameters = start.get("customParameters") or {}
                if not isinstance(parameters, dict):
                    raise ProtocolError("customParameters is not an object")
                return Start(str(start["streamSid"]), str(start["callSid"]),
                             {str(k): str(v) for k, v in parameters.items()})
            case "dtmf":
                return Dtmf(str(_dict(message, "dtmf")["digit"])[:1])
            case "mark":
                return Mark(str(_dict(message, "mark")["name"]))
            case "stop":
                return Stop()
            case "connected":
                return Connected()
    except (KeyError, TypeError, binascii.Error) as error:
        raise ProtocolError(f"malformed {event} message") from error
    raise ProtocolError(f"unknown event {event!r}")


def _dict(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message[key]
    if not isinstance(value, dict):
        raise ProtocolError(f"{key} is not an object")
    return value


def stream_url(public_url: str) -> str:
    """The WebSocket URL Twilio is given: the public URL with ws(s) and `/voice/stream`."""
    parts = urlsplit(public_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/voice/stream"


def media(stream_sid: str, ulaw: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": stream_sid,
                       "media": {"payload": base64.b64encode(ulaw).decode("ascii")}})


def mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})

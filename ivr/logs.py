"""Logging for the server and the CLI: one JSON object a line, with personal data redacted.

The `RedactingFilter` sits on every handler we install (and on gunicorn's), so whatever a
module or a library logs — a message, its arguments, a traceback — passes through
`ivr.privacy.redaction.redact` before it is written anywhere.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

from ivr.privacy.redaction import redact

LogFormat = Literal["json", "text"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LIBRARIES = {
    # Twilio's HTTP client logs whole request bodies (phone numbers, SMS text) at INFO.
    "twilio.http_client": logging.WARNING,
    "urllib3": logging.WARNING,
    # Every command that touches the database runs the migrations; `ivr db upgrade` reports.
    "alembic.runtime.migration": logging.WARNING,
}


class RedactingFilter(logging.Filter):
    """Replaces the message (with its arguments) and any traceback by their redacted text."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_ivr_redacted", False):
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._ivr_redacted = True
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ["exception"]}`, one object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def make_formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def protect(handler: logging.Handler, log_format: LogFormat) -> logging.Handler:
    """Give a handler the redacting filter and our format."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    handler.setFormatter(make_formatter(log_format))
    return handler


def configure_logging(level: int = logging.INFO, log_format: LogFormat = "json") -> None:
    """Route the root logger to stderr through the redacting filter."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(protect(logging.StreamHandler(), log_format))
    root.setLevel(level)
    for name, quiet_level in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(quiet_level, level))

"""Nothing personal leaks: a caller reads out a card number, an SSN, an email and another
phone number on a real server; then the server's logs and the raw database are searched for
them, and for the caller's own number."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from pathlib import Path

import pytest
from servers import PUBLIC_URL, TOKEN, start_servers

from ivr.app.data_rights import DataRights
from ivr.config import load_settings
from ivr.logs import JsonFormatter, RedactingFilter, configure_logging, protect
from ivr.testing.simulated_call import SimulatedCall, http_post

CALLER = "+14155550123"
SAID = [  # the flow transfers after the second misunderstanding: everything fits in two turns
    "my card number is 4111 1111 1111 1111 and the security code is 737, it was charged twice",
    "my social security number is 123-45-6789, email me at jane.doe@example.com or call my "
    "husband on 617 555 0199, or try my other card four one one one one one one one one one "
    "one one one one one one",
]
KEYED_CARD = "5555555555554444"
FORBIDDEN = [
    "4111111111111111", "4111 1111 1111 1111", "123-45-6789", "123456789",
    "jane.doe@example.com", "jane.doe", "617 555 0199", "6175550199", KEYED_CARD,
    CALLER, CALLER[1:], "415 555 0123", "4155550123", "(415) 555-0123",
]


def leaks(blob: str) -> list[str]:
    """Forbidden values found in `blob`, also with separators removed between digits."""
    squeezed = re.sub(r"(?<=\d)[\s-]+(?=\d)", "", blob)
    return [value for value in FORBIDDEN
            if value in blob or re.sub(r"[\s()-]", "", value) in squeezed]


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite_url", "fresh_postgres_url"])
def test_a_full_call_leaves_no_personal_data_in_logs_or_database(database, request,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    url = request.getfixturevalue(database)
    processes, urls = start_servers(url, 1, tmp_path, IVR_LOG_FORMAT="json")
    try:
        call = SimulatedCall(http_post(urls[0]), auth_token=TOKEN, public_url=PUBLIC_URL,
                             caller=CALLER)
        assert call.start().listening
        for sentence in SAID:
            assert not call.say(sentence).dial_target
        call.press(KEYED_CARD)
        if not (call.last and call.last.dial_target):
            call.say("let me talk to a real person")
        assert call.last and call.last.dial_target, "the caller should reach a person"
        whisper = call.agent_hears()
        assert "Transferred because" in whisper.text
        assert not leaks(whisper.text), "the agent's whisper carries personal data"
        call.hang_up()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
    log_text = (tmp_path / "server-0.log").read_text(errors="replace")
    assert '"level"' in log_text, "the server should have logged something (JSON lines)"
    assert not leaks(log_text), f"personal data in the logs: {leaks(log_text)}"
    assert not leaks(dump_database(url)), "personal data in the database"
    # Encryption hides everything above; decrypted, what was kept must be redacted too.
    settings = load_settings(environ={**os.environ, "IVR_DATABASE_URL": url})
    exported = json.dumps(DataRights(settings).export(CALLER, "test"))
    for marker in ("[CARD]", "[CVV]", "[SSN]", "[EMAIL]", "[PHONE]"):
        assert marker in exported
    assert not leaks(exported), f"stored unredacted: {leaks(exported)}"


def dump_database(url: str) -> str:
    """The database as an attacker with a copy of it would see it."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return b"".join(p.read_bytes() for p in files if p.exists()).decode("latin-1")
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    chunks = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(" ".join(str(value) for value in row))
    engine.dispose()
    return "\n".join(chunks)


def test_the_log_filter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = protect(logging.StreamHandler(stream), "json")
    logger = logging.getLogger("ivr.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("caller said %s", "my card is 4111 1111 1111 1111")
        try:
            raise ValueError("bad ssn 123-45-6789 for jane.doe@example.com")
        except ValueError:
            logger.exception("lookup failed for %s", "+1 617 555 0199")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    assert "[CARD]" in lines[0]["message"] and "caller said" in lines[0]["message"]
    assert "[PHONE]" in lines[1]["message"]
    assert "ValueError" in lines[1]["exception"] and "[SSN]" in lines[1]["exception"]
    assert not leaks(stream.getvalue())


def test_configure_logging_puts_the_filter_on_the_root_handler() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(logging.INFO, "text")
        (handler,) = root.handlers
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)
        assert not isinstance(handler.formatter, JsonFormatter)
        assert logging.getLogger("twilio.http_client").level == logging.WARNING
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

"""Privacy by default: encryption at rest, key rotation, retention, forget/export, repeat
callers by pseudonym, recordings, all against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner
from conftest import AUTH_TOKEN, make_settings
from helpers.stored import latest_transfer, stored_call
from sqlalchemy import create_engine, text, update
from sqlalchemy.pool import NullPool

from ivr.app.data_rights import DataRights, NotAPhoneNumber
from ivr.cli import main
from ivr.privacy.pseudonyms import pseudonymise
from ivr.storage import audit, crypto, repository
from ivr.storage.db import session_scope
from ivr.storage.migrate import alembic_config, upgrade
from ivr.storage.models import AuditEntry, Call, Turn, Voicemail

CALLER = "+14155550123"
OTHER_CALLER = "+442079460958"
PHRASE = "my parcel with the purple elephant lamp never came"
RECORDING_SID = "RE" + "ab" * 16
TWILIO_RECORDING = (f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}"
                    f"/Recordings/{RECORDING_SID}")


@pytest.fixture(autouse=True)
def development_keys_afterwards() -> Iterator[None]:
    """Keys are process-wide: put the default back for the next test."""
    yield
    crypto.configure([])


def raw_bytes(sqlite_url: str) -> bytes:
    """Every byte SQLite has on disk for the database: the file and its write-ahead log."""
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def escalated_call(new_call, caller: str = CALLER):  # type: ignore[no-untyped-def]
    call = new_call(caller=caller)
    call.start()
    call.say(PHRASE)
    call.say("I want to speak to a person")
    return call


# Encryption at rest ---------------------------------------------------------------------------

def test_a_raw_database_file_holds_no_transcript_summary_or_number(new_call, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    call = escalated_call(new_call)
    assert call.last.dial_target  # type: ignore[union-attr]
    _, turns, transfer = stored_call(sqlite_url, call.call_sid)
    heard = [turn.heard for turn in turns]
    assert PHRASE in heard  # the application reads it back
    assert transfer is not None and PHRASE in transfer.summary["last_utterances"]
    dump = raw_bytes(sqlite_url)
    for secret in (b"purple elephant", b"lamp never came", b"connecting you",
                   b"Transferred because", CALLER.encode(), CALLER[2:].encode()):
        assert secret not in dump
    assert b"gAAAAA" in dump  # Fernet tokens are what is there instead


@pytest.mark.postgres
def test_postgres_stores_fernet_tokens(fresh_postgres_url) -> None:  # type: ignore[no-untyped-def]
    from ivr.testing.simulated_call import SimulatedCall, flask_post
    from ivr.web import create_app

    settings = make_settings(fresh_postgres_url)
    app = create_app(settings, migrate=True)
    call = SimulatedCall(flask_post(app.test_client()), auth_token=AUTH_TOKEN,
                         public_url=settings.public_url)
    call.start()
    call.say(PHRASE)
    call.say("agent")
    engine = create_engine(fresh_postgres_url, poolclass=NullPool)
    with engine.connect() as connection:
        heard = connection.execute(text("SELECT heard FROM turns WHERE heard IS NOT NULL"))
        values = [row[0] for row in heard]
        summary = connection.execute(text("SELECT summary, spoken_summary FROM transfers")).one()
        state = connection.execute(text("SELECT state FROM calls")).scalar_one()
    engine.dispose()
    assert values and all(value.startswith("gAAAAA") for value in values)
    assert all(PHRASE not in value for value in [*values, *summary, state])
    assert crypto.keyring().decrypt(values[0]) == PHRASE


def test_rotation_moves_every_value_to_the_new_key(new_call, sqlite_url, settings) -> None:  # type: ignore[no-untyped-def]
    old, new = crypto.generate_key(), crypto.generate_key()
    crypto.configure([old])
    call = escalated_call(new_call)
    crypto.configure([new, old])
    counts = DataRights(settings).rotate_keys("test")
    assert counts["turns.heard"] >= 2 and counts["calls.state"] == 1
    crypto.configure([new])  # the old key is gone: everything must still read
    with session_scope(sqlite_url) as session:
        stored = repository.get_call(session, call.call_sid)
        assert stored is not None
        assert PHRASE in [turn.heard for turn in repository.turns_of(session, stored)]
        assert audit.entries(session, action=audit.ROTATE_KEYS)
    crypto.configure([old])
    with pytest.raises(crypto.DataKeyError), session_scope(sqlite_url) as session:
        repository.turns_of(session, repository.get_call(session, call.call_sid))  # type: ignore[arg-type]


def test_rotation_with_a_missing_old_key_changes_nothing(new_call, sqlite_url,  # type: ignore[no-untyped-def]
                                                         settings) -> None:
    old = crypto.generate_key()
    crypto.configure([old])
    escalated_call(new_call)

    def stored_tokens() -> list[str]:
        engine = create_engine(sqlite_url, poolclass=NullPool)
        with engine.connect() as connection:
            tokens = [row[0] for row in connection.execute(
                text("SELECT heard FROM turns WHERE heard IS NOT NULL ORDER BY id"))]
        engine.dispose()
        return tokens

    before = stored_tokens()
    crypto.configure([crypto.generate_key()])
    with pytest.raises(crypto.DataKeyError):
        DataRights(settings).rotate_keys("test")
    assert stored_tokens() == before
    crypto.configure([old])
    with session_scope(sqlite_url) as session:
        assert PHRASE in [turn.heard for turn in session.query(Turn)]
        assert not audit.entries(session, action=audit.ROTATE_KEYS)


def test_keys_cli_generates_and_rotates(new_call, sqlite_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    first = runner.invoke(main, ["keys", "generate"]).output.strip()
    second = runner.invoke(main, ["keys", "generate"]).output.strip()
    assert first != second and len(first) == 44
    crypto.configure([first])
    escalated_call(new_call)
    monkeypatch.setenv("IVR_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("IVR_ENCRYPTION_KEYS", f"{second},{first}")
    result = runner.invoke(main, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted" in result.output
    monkeypatch.setenv("IVR_ENCRYPTION_KEYS", "not-a-key")
    refused = runner.invoke(main, ["keys", "rotate"])
    assert refused.exit_code != 0
    crypto.configure([second])
    with session_scope(sqlite_url) as session:
        assert PHRASE in [turn.heard for turn in session.query(Turn)]


@pytest.mark.parametrize("database", ["sqlite_url", "fresh_postgres_url"])
def test_the_migration_encrypts_existing_rows_and_back(database, request) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    url = request.getfixturevalue(database)
    upgrade(url, "0001")
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        now = datetime.now(UTC)
        connection.execute(text(
            "INSERT INTO calls (id, call_sid, flow, state, status, started_at, updated_at, "
            "turn_count) VALUES (1, 'CAold', 'support', :state, 'completed', :now, :now, 1)"),
            {"state": json.dumps({"node": "main_menu", "slots": {"order_number": "123456"}}),
             "now": now})
        connection.execute(text(
            "INSERT INTO turns (call_id, seq, kind, node, heard, digits, reply, created_at) "
            "VALUES (1, 1, 'speech', 'main_menu', :heard, '42', 'Sure.', :now)"),
            {"heard": PHRASE, "now": now})
    upgrade(url)
    with engine.connect() as connection:
        raw_heard = connection.execute(text("SELECT heard FROM turns")).scalar_one()
        raw_state = connection.execute(text("SELECT state FROM calls")).scalar_one()
    assert raw_heard.startswith("gAAAAA") and PHRASE not in raw_heard
    with session_scope(url) as session:
        call = session.query(Call).one()
        assert call.state["slots"] == {"order_number": "123456"}
        turn = session.query(Turn).one()
        assert (turn.heard, turn.digits, turn.reply) == (PHRASE, "42", "Sure.")
    assert "123456" not in str(raw_state)
    command.downgrade(alembic_config(url), "0001")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT heard FROM turns")).scalar_one() == PHRASE
    engine.dispose()


# Retention and rights -------------------------------------------------------------------------

def test_purge_deletes_calls_past_retention_with_their_turns(new_call, sqlite_url,  # type: ignore[no-untyped-def]
                                                             settings) -> None:
    old_call = escalated_call(new_call)
    recent = escalated_call(new_call, caller=OTHER_CALLER)
    with session_scope(sqlite_url) as session:
        session.execute(update(Call).where(Call.call_sid == old_call.call_sid)
                        .values(started_at=datetime.now(UTC) - timedelta(days=31)))
        audit.record(session, "someone", audit.VIEW_CALL, "CAancient")
        session.execute(update(AuditEntry).where(AuditEntry.target == "CAancient")
                        .values(at=datetime.now(UTC) - timedelta(days=800)))
    rights = DataRights(settings)
    preview = rights.purge("test", dry_run=True)
    assert (preview.calls, preview.audit_entries) == (1, 1)
    result = rights.purge("test")
    assert (result.calls, result.audit_entries) == (1, 1)
    with session_scope(sqlite_url) as session:
        assert repository.get_call(session, old_call.call_sid) is None
        assert repository.get_call(session, recent.call_sid) is not None
        orphans = session.query(Turn).filter(~Turn.call_id.in_(session.query(Call.id))).count()
        assert orphans == 0
        purges = audit.entries(session, action=audit.PURGE)
        assert purges and purges[0].detail["calls"] == 1
        assert not audit.entries(session, target="CAancient")


def test_forget_and_export_by_number_in_any_format(new_call, sqlite_url, monkeypatch,  # type: ignore[no-untyped-def]
                                                   tmp_path) -> None:
    mine = escalated_call(new_call)
    second = new_call(caller=CALLER)
    second.start()
    second.say("where is my order")
    theirs = escalated_call(new_call, caller=OTHER_CALLER)
    monkeypatch.setenv("IVR_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("IVR_SECRET_KEY", "pseudonym-key-for-tests")
    runner = CliRunner()
    out = tmp_path / "export.json"
    exported = runner.invoke(main, ["export", "(415) 555-0123", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    data = json.loads(out.read_text())
    assert {call["call_sid"] for call in data["calls"]} == {mine.call_sid, second.call_sid}
    assert PHRASE in json.dumps(data)
    assert "4155550123" not in out.read_text()
    assert runner.invoke(main, ["forget", "not a number", "--yes"]).exit_code == 2
    forgotten = runner.invoke(main, ["forget", "+1 415-555-0123", "--yes"])
    assert forgotten.exit_code == 0, forgotten.output
    assert "deleted 2 call(s)" in forgotten.output
    pseudonym = pseudonymise(CALLER, b"pseudonym-key-for-tests")
    with session_scope(sqlite_url) as session:
        assert repository.get_call(session, mine.call_sid) is None
        assert repository.get_call(session, second.call_sid) is None
        assert repository.get_call(session, theirs.call_sid) is not None
        trail = {entry.action: entry for entry in audit.entries(session, target=pseudonym)}
        assert set(trail) == {audit.EXPORT_CALLER, audit.FORGET_CALLER}
        assert trail[audit.FORGET_CALLER].actor.startswith("cli:")
        assert all("415" not in (entry.target or "") for entry in audit.entries(session))


def test_rights_refuse_what_is_not_a_phone_number(settings) -> None:  # type: ignore[no-untyped-def]
    rights = DataRights(settings)
    for bad in ("", "hello", "client:alice", "12"):
        with pytest.raises(NotAPhoneNumber):
            rights.forget(bad, "test")


def test_repeat_callers_are_recognised_by_pseudonym(new_call, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    first = escalated_call(new_call)
    again = escalated_call(new_call, caller="+1 (415) 555-0123")
    stranger = escalated_call(new_call, caller=OTHER_CALLER)
    summaries = {call.call_sid: latest_transfer(sqlite_url, call.call_sid).summary  # type: ignore[union-attr]
                 for call in (first, again, stranger)}
    assert summaries[first.call_sid]["earlier_calls_30_days"] == 0
    assert summaries[again.call_sid]["earlier_calls_30_days"] == 1
    assert "Repeat caller: 1 earlier call" in summaries[again.call_sid]["spoken"]
    assert summaries[stranger.call_sid]["earlier_calls_30_days"] == 0


# Recordings -----------------------------------------------------------------------------------

def nobody_answers(call):  # type: ignore[no-untyped-def]
    """Every agent of the queue lets it ring; returns what the caller hears then."""
    heard = call.dial_ends("no-answer")
    while heard.dial_target:
        heard = call.dial_ends("no-answer")
    return heard


def voicemail_call(new_call):  # type: ignore[no-untyped-def]
    call = escalated_call(new_call)
    nobody_answers(call)
    return call


def test_recordings_are_off_by_default(new_call) -> None:  # type: ignore[no-untyped-def]
    heard = voicemail_call(new_call).last
    assert heard is not None
    assert not heard.recording and heard.hangup
    assert "call us again" in heard.text


@pytest.fixture
def recording_call(sqlite_url):  # type: ignore[no-untyped-def]
    """A caller on a server with recordings on, transferred; and that server's settings."""
    from ivr.testing.simulated_call import SimulatedCall, flask_post
    from ivr.web import create_app

    settings = make_settings(sqlite_url, privacy={"recordings": True})
    call = SimulatedCall(flask_post(create_app(settings).test_client()), auth_token=AUTH_TOKEN,
                         public_url=settings.public_url)
    call.start()
    call.say("agent")
    return call, settings


@responses.activate
def test_a_voicemail_is_copied_encrypted_then_deleted_from_twilio(recording_call,  # type: ignore[no-untyped-def]
                                                                  sqlite_url) -> None:
    call, _ = recording_call
    heard = nobody_answers(call)
    assert heard.recording and f"/voice/recording/{call.call_sid}" in heard.twiml
    audio = b"RIFF" + b"voicemail-audio-bytes-" * 50
    responses.get(TWILIO_RECORDING + ".wav", body=audio, status=200)
    responses.delete(TWILIO_RECORDING + ".json", status=204)
    done = call.send(f"/voice/recording/{call.call_sid}",
                     {"RecordingSid": RECORDING_SID, "RecordingStatus": "completed",
                      "RecordingDuration": "7"})
    assert done.status == 200
    assert [c.request.method for c in responses.calls] == ["GET", "DELETE"]
    with session_scope(sqlite_url) as session:
        voicemail = session.query(Voicemail).one()
        assert voicemail.audio == audio and voicemail.duration_seconds == 7
        assert voicemail.deleted_from_twilio
    assert b"voicemail-audio-bytes" not in raw_bytes(sqlite_url)
    # Twilio retries the callback: nothing is fetched twice.
    call.send(f"/voice/recording/{call.call_sid}",
              {"RecordingSid": RECORDING_SID, "RecordingStatus": "completed"})
    assert len(responses.calls) == 2


@responses.activate
def test_a_failed_delete_keeps_the_copy_and_says_so(recording_call, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    call, _ = recording_call
    nobody_answers(call)
    responses.get(TWILIO_RECORDING + ".wav", body=b"RIFFaudio", status=200)
    responses.delete(TWILIO_RECORDING + ".json", status=500,
                     json={"code": 20500, "message": "Internal Server Error"})
    done = call.send(f"/voice/recording/{call.call_sid}",
                     {"RecordingSid": RECORDING_SID, "RecordingStatus": "completed"})
    assert done.status == 200 and "<Response" in done.twiml
    with session_scope(sqlite_url) as session:
        voicemail = session.query(Voicemail).one()
        assert voicemail.audio == b"RIFFaudio" and not voicemail.deleted_from_twilio


@responses.activate
def test_with_recordings_off_an_unasked_recording_is_deleted_not_kept(new_call,  # type: ignore[no-untyped-def]
                                                                      sqlite_url) -> None:
    call = escalated_call(new_call)
    responses.delete(TWILIO_RECORDING + ".json", status=204)
    call.send(f"/voice/recording/{call.call_sid}",
              {"RecordingSid": RECORDING_SID, "RecordingStatus": "completed"})
    assert [c.request.method for c in responses.calls] == ["DELETE"]
    with session_scope(sqlite_url) as session:
        assert session.query(Voicemail).count() == 0


def test_the_recording_callback_checks_the_signature(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/voice/recording/CA123", data={"RecordingSid": RECORDING_SID,
                                                           "RecordingStatus": "completed"})
    assert response.status_code == 403


@responses.activate
def test_forget_deletes_voicemails_too(recording_call, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    call, settings = recording_call
    nobody_answers(call)
    responses.get(TWILIO_RECORDING + ".wav", body=b"RIFFaudio", status=200)
    responses.delete(TWILIO_RECORDING + ".json", status=204)
    call.send(f"/voice/recording/{call.call_sid}",
              {"RecordingSid": RECORDING_SID, "RecordingStatus": "completed"})
    rights = DataRights(settings)
    exported = rights.export(CALLER, "test")
    assert exported["calls"][0]["voicemails"][0]["duration_seconds"] is None
    assert rights.forget(CALLER, "test") == 1
    with session_scope(sqlite_url) as session:
        assert session.query(Voicemail).count() == 0


def test_first_contact_resolution_counts_repeat_calls_by_pseudonym(new_call, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from ivr.storage.figures import call_figures

    first = escalated_call(new_call)
    escalated_call(new_call, caller="+1 415 555 0123")  # the same caller, within 7 days
    escalated_call(new_call, caller=OTHER_CALLER)
    with session_scope(sqlite_url) as session:
        before = call_figures(session)
        session.execute(update(Call).where(Call.call_sid == first.call_sid)
                        .values(started_at=datetime.now(UTC) - timedelta(days=9)))
    with session_scope(sqlite_url) as session:
        after = call_figures(session)
    assert (before["calls_with_caller_id"], before["called_again_within_7_days"]) == (3, 1)
    assert before["first_contact_resolution"] == pytest.approx(2 / 3)
    assert after["called_again_within_7_days"] == 0 and after["first_contact_resolution"] == 1
    assert before["transferred"] == 3 and before["by_bot"] == 0

"""The hand-over service on its own: a call the bot transferred, then the agent's side
(whisper, keys, dial results, status callbacks) fed straight to `HandoffService`, with the
transfer's stored state checked after each step. No web layer in between."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from conftest import make_settings

from ivr.app.calls import CallService
from ivr.app.contract import AgentLeg, Fallback, Inbound
from ivr.app.handoff import HandoffService
from ivr.config import Queue, Settings
from ivr.dialog import Flow, lines
from ivr.storage import repository
from ivr.storage.db import session_scope
from ivr.storage.migrate import upgrade

FIRST, SECOND = "+15005550001", "+15005550002"
CALLER = "+14155550123"


@dataclass
class Desk:
    settings: Settings
    calls: CallService
    handoff: HandoffService


@pytest.fixture
def desk(sqlite_url: str, support_flow: Flow) -> Iterator[Desk]:
    """Two configured targets for the support queue, no routed agents."""
    settings = make_settings(sqlite_url)
    settings = settings.model_copy(update={"transfer": settings.transfer.model_copy(
        update={"queues": {"support": Queue(targets=[FIRST, SECOND], ring_seconds=15)}})})
    upgrade(sqlite_url)
    calls = CallService(settings, {support_flow.name: support_flow})
    yield Desk(settings, calls, calls.handoff)


def transferred(desk: Desk, sid: str = "CA" + "7" * 32) -> str:
    """A call that asked about an order, then for a person."""
    desk.calls.start(Inbound(sid, CALLER))
    desk.calls.turn(Inbound(sid, CALLER, text="where is my order"))
    reply = desk.calls.turn(Inbound(sid, CALLER, text="I want to talk to an agent"))
    assert reply.leg == AgentLeg(FIRST, 15, lines.HANDOVER_INTRO)
    return sid


def stored(desk: Desk, sid: str):  # type: ignore[no-untyped-def]
    with session_scope(desk.settings.database_url) as session:
        call = repository.get_call(session, sid)
        assert call is not None
        return call, repository.latest_transfer(session, call)


def test_the_whisper_is_the_stored_spoken_summary_and_keeps_the_agent_leg(desk: Desk) -> None:
    sid = transferred(desk)
    spoken = desk.handoff.whisper_text(sid, "CA" + "a" * 32)
    _, transfer = stored(desk, sid)
    assert spoken == transfer.spoken_summary
    assert "asked for a person" in spoken and "order" in spoken
    assert transfer.agent_call_sid == "CA" + "a" * 32


def test_a_call_without_a_transfer_has_no_summary(desk: Desk) -> None:
    desk.calls.start(Inbound("CA" + "8" * 32, CALLER))
    assert desk.handoff.whisper_text("CA" + "8" * 32) == lines.NO_SUMMARY
    assert desk.handoff.whisper_text("CA" + "9" * 32) == lines.NO_SUMMARY


def test_key_1_accepts_and_the_end_of_the_agent_leg_completes_the_call(desk: Desk) -> None:
    sid = transferred(desk)
    assert desk.handoff.agent_pressed(sid, "9") == "replay"
    assert stored(desk, sid)[1].outcome == "ringing"
    assert desk.handoff.agent_pressed(sid, "1") == "accept"
    _, transfer = stored(desk, sid)
    assert transfer.outcome == "accepted" and transfer.accepted_by == FIRST
    assert transfer.attempts[-1]["outcome"] == "answered"
    desk.handoff.dial_finished(sid, "completed")
    call, transfer = stored(desk, sid)
    assert transfer.outcome == "completed" and call.status == "completed-by-agent"


def test_a_decline_rings_the_next_target_then_the_fallback(desk: Desk) -> None:
    sid = transferred(desk)
    assert desk.handoff.agent_pressed(sid, "2") == "decline"
    following = desk.handoff.dial_finished(sid, "completed")
    assert following.leg == AgentLeg(SECOND, 15, lines.NEXT_AGENT_INTRO)
    last = desk.handoff.dial_finished(sid, "no-answer")
    assert last.leg == desk.calls.policy.fallback()
    assert isinstance(last.leg, Fallback) and last.leg.kind == "busy"  # recordings are off
    _, transfer = stored(desk, sid)
    assert [attempt["outcome"] for attempt in transfer.attempts] == ["declined", "no-answer"]
    assert [attempt["target"] for attempt in transfer.attempts] == [FIRST, SECOND]
    assert transfer.outcome == "fallback-busy"


def test_the_caller_hanging_up_while_it_rings_is_abandoned_and_reported_once(
        desk: Desk) -> None:
    sid = transferred(desk)
    assert desk.handoff.call_ended(sid, "completed", "42") is True
    call, transfer = stored(desk, sid)
    assert transfer.outcome == "caller-abandoned" and call.duration_seconds == 42
    assert call.status == "completed"
    assert desk.handoff.call_ended("CA" + "0" * 32, "completed", "1") is False


def test_holding_callers_hear_the_first_update_then_the_later_one(desk: Desk) -> None:
    sid = transferred(desk)
    assert desk.handoff.hold_update(sid) == lines.HOLD_FIRST
    with session_scope(desk.settings.database_url) as session:
        call = repository.get_call(session, sid)
        assert call is not None
        transfer = repository.latest_transfer(session, call)
        assert transfer is not None
        transfer.created_at = transfer.created_at - timedelta(minutes=5)
    assert desk.handoff.hold_update(sid) == lines.HOLD_LATER


def test_status_reports_repeated_or_out_of_order_leave_the_first_end(desk: Desk) -> None:
    sid = transferred(desk)
    assert desk.handoff.agent_pressed(sid, "1") == "accept"
    assert desk.handoff.call_ended(sid, "completed", "42") is True
    first_end = stored(desk, sid)[0].ended_at
    assert desk.handoff.call_ended(sid, "completed", "42") is True  # Twilio's retry
    assert desk.handoff.call_ended(sid, "in-progress", None) is True  # late, out of order
    call, transfer = stored(desk, sid)
    assert call.ended_at == first_end and call.duration_seconds == 42
    assert call.status == "completed"
    assert transfer.outcome == "accepted"


def test_a_late_turn_after_the_hand_over_rings_the_same_agent_and_adds_no_transfer(
        desk: Desk) -> None:
    sid = transferred(desk)
    late = desk.calls.turn(Inbound(sid, CALLER))  # a <Gather> that timed out after all
    assert late.leg == AgentLeg(FIRST, 15, lines.HANDOVER_INTRO)
    with session_scope(desk.settings.database_url) as session:
        call = repository.get_call(session, sid)
        assert call is not None
        assert len(call.transfers) == 1
        assert [turn.kind for turn in repository.turns_of(session, call)] == [
            "start", "speech", "speech"]

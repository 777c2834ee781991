"""Agents' reservations are leases: a transfer nobody reports on gives its agent back, and an
agent whose call ended without a word from Twilio goes to wrap-up once the REST API says so.
Time is moved with a test clock, never waited for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import responses
from conftest import make_settings

from ivr.app.calls import CallService
from ivr.app.contract import AgentLeg, Fallback, Inbound
from ivr.app.leases import CHECK_AFTER, MAX_CALL, Leases, ringing_allowance
from ivr.app.routing import AgentDirectory
from ivr.config import Settings
from ivr.dialog import Flow
from ivr.storage import repository
from ivr.storage.db import session_scope
from ivr.storage.migrate import upgrade

ANN = "+15005550101"
CALLER = "+14155550123"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Desk:
    settings: Settings
    clock: Clock
    calls: CallService
    directory: AgentDirectory

    def escalate(self, number: int) -> tuple[str, AgentLeg | Fallback | None]:
        sid = f"CA{number:032d}"
        self.calls.start(Inbound(sid, CALLER))
        return sid, self.calls.turn(Inbound(sid, CALLER, text="agent")).leg

    def transfer(self, sid: str):  # type: ignore[no-untyped-def]
        with session_scope(self.settings.database_url) as session:
            call = repository.get_call(session, sid)
            assert call is not None
            return call, repository.latest_transfer(session, call)

    def status_of_ann(self) -> str:
        (ann,) = self.directory.list_agents()
        return ann.status


@pytest.fixture
def desk(sqlite_url: str, support_flow: Flow) -> Iterator[Desk]:
    """One available agent, Ann, serving the support queue."""
    settings = make_settings(sqlite_url)
    upgrade(sqlite_url)
    clock = Clock()
    directory = AgentDirectory(settings, clock=clock)
    directory.add("ann", ANN, ["support"], status="available", actor="test")
    yield Desk(settings, clock, CallService(settings, {support_flow.name: support_flow},
                                            clock=clock), directory)


def test_a_ringing_transfer_with_no_report_gives_its_agent_back(desk: Desk) -> None:
    first, leg = desk.escalate(1)
    assert isinstance(leg, AgentLeg) and leg.target == ANN
    allowance = ringing_allowance(desk.settings.transfer, "support")
    desk.clock.advance(allowance - 5)
    _, leg = desk.escalate(2)
    assert isinstance(leg, Fallback)  # Ann is still (rightly) reserved for the first call
    desk.clock.advance(10)
    _, leg = desk.escalate(3)
    assert isinstance(leg, AgentLeg) and leg.target == ANN  # the lease ran out
    _, lost = desk.transfer(first)
    assert lost.outcome == "lost"
    assert lost.attempts[-1]["outcome"] == "no-report" and lost.attempts[-1]["target"] == ANN


def test_the_directory_shows_an_agent_free_once_the_lease_ran_out(desk: Desk) -> None:
    desk.escalate(1)
    assert desk.status_of_ann() == "busy"
    desk.clock.advance(ringing_allowance(desk.settings.transfer, "support") + 1)
    assert desk.status_of_ann() == "available"


def _twilio_call(settings: Settings, sid: str, **reply: object) -> None:
    responses.get(f"https://api.twilio.com/2010-04-01/Accounts/{settings.twilio_account_sid}"
                  f"/Calls/{sid}.json", **reply)


@responses.activate
def test_an_accepted_call_that_twilio_reports_ended_sends_the_agent_to_wrap_up(
        desk: Desk) -> None:
    sid, _ = desk.escalate(1)
    assert desk.calls.handoff.agent_pressed(sid, "1") == "accept"
    leases = Leases(desk.settings, desk.calls.policy)
    desk.clock.advance(CHECK_AFTER.total_seconds() - 10)
    assert leases.sweep().calls_ended == 0 and len(responses.calls) == 0  # too early to ask
    desk.clock.advance(20)
    _twilio_call(desk.settings, sid, json={"sid": sid, "status": "in-progress"})
    report = leases.sweep()
    assert (report.calls_ended, report.calls_still_live) == (0, 1)
    assert desk.status_of_ann() == "busy"

    desk.clock.advance(10 * 60)
    responses.replace(responses.GET, responses.calls[0].request.url,
                      json={"sid": sid, "status": "completed"})
    assert leases.sweep().calls_ended == 1
    call, transfer = desk.transfer(sid)
    assert transfer.outcome == "completed" and call.status == "completed-by-agent"
    assert desk.status_of_ann() == "wrap-up"
    desk.clock.advance(desk.settings.transfer.wrap_up_seconds + 1)
    assert desk.status_of_ann() == "available"


@responses.activate
def test_when_twilio_cannot_say_only_a_very_old_call_is_closed(desk: Desk) -> None:
    sid, _ = desk.escalate(1)
    desk.calls.handoff.agent_pressed(sid, "1")
    _twilio_call(desk.settings, sid, status=500, json={"code": 20500, "status": 500})
    leases = Leases(desk.settings, desk.calls.policy)
    desk.clock.advance(CHECK_AFTER.total_seconds() + 1)
    assert leases.sweep().unchecked == 1
    assert desk.status_of_ann() == "busy"
    desk.clock.advance(MAX_CALL.total_seconds())
    assert leases.sweep().calls_ended == 1
    assert desk.status_of_ann() == "wrap-up"

"""Routing transfers to agents: longest idle first, queues, decline and release, wrap-up,
fallback, the configured targets when no agent serves a queue, concurrency (threads and two
server processes on one PostgreSQL database), the `ivr agents` commands and the console pages.

Everything runs against real databases through the real webhooks (signed as Twilio signs);
time moves by an injected clock, never by sleeping."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests
from click.testing import CliRunner
from conftest import AUTH_TOKEN, BUNDLED_FLOW, ROOT, make_settings
from helpers.console import PASSWORD, csrf_token, signed_in, text_of
from helpers.stored import audit_entries, latest_transfer
from servers import PUBLIC_URL, TOKEN, start_servers

from ivr.app.routing import AgentDirectory, AgentInfo, Router
from ivr.cli import main
from ivr.cli.common import cli_actor
from ivr.config import Settings
from ivr.dialog.parse import parse_flow
from ivr.dialog.schema import Flow
from ivr.storage import agents as agent_rows
from ivr.storage import audit
from ivr.storage.db import session_scope, transaction
from ivr.storage.migrate import upgrade
from ivr.testing.simulated_call import SimulatedCall, flask_post, http_post

ANN, BOB, CY, DAN = "+15005550101", "+15005550102", "client:cy", "sip:dan@pbx.example.com"
CONFIGURED = ["+15005550006", "client:support-desk"]  # config/ivr.toml, queue support


class Clock:
    """The time routing sees; tests move it instead of waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Line:
    """A server app on one database, its clock, its agents and a way to place calls."""

    app: object
    settings: Settings
    clock: Clock
    directory: AgentDirectory
    new_call: Callable[..., SimulatedCall]

    def agent(self, name: str) -> AgentInfo:
        """The stored row as it is, without applying wrap-ups."""
        with session_scope(self.settings.database_url) as session:
            row = agent_rows.by_name(session, name)
            assert row is not None
            return AgentInfo.of(row)

    def available(self, name: str, target: str, *queues: str, wait: float = 10) -> None:
        """Add an agent who becomes available now; then time moves on by `wait` seconds, so
        agents added earlier have been idle longer."""
        self.directory.add(name, target, queues or ("support",), status="available",
                           actor="test")
        self.clock.advance(wait)

    def transfer(self, call_sid: str):  # type: ignore[no-untyped-def]
        return latest_transfer(self.settings, call_sid)


@pytest.fixture(scope="module")
def flows(support_flow: Flow) -> dict[str, Flow]:
    """The bundled flow, and a copy named billing that transfers to the billing queue."""
    text = BUNDLED_FLOW.read_text()
    billing = text.replace("name: support", "name: billing", 1) \
        .replace("transfer:\n  queue: support", "transfer:\n  queue: billing", 1)
    assert billing.count("queue: billing") == 1
    return {"support": support_flow, "billing": parse_flow(billing, "billing.yaml")}


def make_line(database_url: str, flows: dict[str, Flow], **transfer: object) -> Line:
    from ivr.web import create_app

    settings = make_settings(database_url)
    if transfer:
        settings = settings.model_copy(
            update={"transfer": settings.transfer.model_copy(update=transfer)})
    clock = Clock()
    app = create_app(settings, flows, migrate=True, clock=clock)
    client = app.test_client()

    def new_call(**kwargs: object) -> SimulatedCall:
        return SimulatedCall(flask_post(client), auth_token=AUTH_TOKEN,
                             public_url=settings.public_url, **kwargs)  # type: ignore[arg-type]

    return Line(app, settings, clock, AgentDirectory(settings, clock=clock), new_call)


@pytest.fixture(params=["sqlite_url", "fresh_postgres_url"])
def database_url(request) -> str:  # type: ignore[no-untyped-def]
    return str(request.getfixturevalue(request.param))


@pytest.fixture
def line(database_url: str, flows: dict[str, Flow]) -> Line:
    return make_line(database_url, flows)


@pytest.fixture
def sqlite_line(sqlite_url: str, flows: dict[str, Flow]) -> Line:
    return make_line(sqlite_url, flows)


def transferred(line: Line, flow: str | None = None) -> SimulatedCall:
    """A call that asks for a person (key 0) right after the greeting."""
    call = line.new_call()
    call.start(flow)
    call.press("0")
    return call


# Who is rung ------------------------------------------------------------------------------


def test_the_longest_idle_available_agent_of_the_queue_is_rung_first(line: Line) -> None:
    line.available("dan", DAN, "billing")  # idle longest, but another queue
    line.directory.add("eve", "+15005550105", ["support"], status="offline", actor="test")
    line.available("ann", ANN)
    line.available("bob", BOB)
    line.available("cy", CY, "support", "billing")

    first, second = transferred(line), transferred(line)
    assert (first.last.dial_target, second.last.dial_target) == (ANN, BOB)  # type: ignore[union-attr]
    assert "won't need to repeat yourself" in first.last.text  # type: ignore[union-attr]
    ann = line.agent("ann")
    assert (ann.status, ann.current_call_sid) == ("busy", first.call_sid)
    assert line.transfer(first.call_sid).targets == [ANN]

    billing = transferred(line, "billing")
    assert billing.last.dial_target == DAN  # type: ignore[union-attr]
    assert transferred(line).last.dial_target == CY  # type: ignore[union-attr]
    assert line.transfer(billing.call_sid).queue == "billing"

    # Everyone serving support is busy now (eve is offline): the fallback, at once.
    nobody = transferred(line)
    assert nobody.last.dial_target is None and nobody.last.hangup  # type: ignore[union-attr]
    assert "call us again" in nobody.last.text  # type: ignore[union-attr]
    transfer = line.transfer(nobody.call_sid)
    assert transfer.targets == [] and transfer.outcome == "fallback-busy"
    assert line.agent("eve").status == "offline"


def test_twilio_asking_again_rings_the_reserved_agent_not_the_queues_first(
        sqlite_line: Line) -> None:
    """A media stream closes for a transfer and Twilio fetches the call's TwiML again
    (`/voice/continue`, or a retried `/voice/incoming`): the agent routing reserved rings."""
    sqlite_line.available("ann", ANN)
    sqlite_line.available("bob", BOB)
    first, second = transferred(sqlite_line), transferred(sqlite_line)
    assert second.last.dial_target == BOB  # type: ignore[union-attr]
    again = second.send("/voice/continue")
    assert again.dial_target == BOB and again.whisper_url
    assert second.start().dial_target == BOB
    assert sqlite_line.agent("ann").current_call_sid == first.call_sid


def test_a_decline_rings_the_next_agent_and_the_decliner_keeps_their_place(line: Line) -> None:
    line.available("ann", ANN)
    line.available("bob", BOB)
    ann_idle = line.agent("ann").idle_since

    call = transferred(line)
    assert call.last.dial_target == ANN  # type: ignore[union-attr]
    assert "Press 1 to take the call" in call.agent_hears().text
    assert call.agent_presses("2").hangup
    ann = line.agent("ann")
    assert (ann.status, ann.current_call_sid, ann.idle_since) == ("available", None, ann_idle)

    next_agent = call.dial_ends("completed")
    assert next_agent.dial_target == BOB and "trying someone else" in next_agent.text
    assert line.agent("bob").current_call_sid == call.call_sid
    transfer = line.transfer(call.call_sid)
    assert transfer.targets == [ANN, BOB]
    assert [(a["target"], a["outcome"]) for a in transfer.attempts] == [(ANN, "declined")]

    # Ann kept her place: the next call goes to her, not to anyone who waited less.
    line.available("cy", CY)
    other = transferred(line)
    assert other.last.dial_target == ANN  # type: ignore[union-attr]

    # Bob does not answer; ann is taken, cy has not been tried on this transfer.
    assert call.dial_ends("no-answer").dial_target == CY
    assert line.agent("bob").status == "available"
    # Cy's line is busy: nobody is left who was not tried, so the fallback.
    ended = call.dial_ends("busy")
    assert ended.dial_target is None and "call us again" in ended.text
    transfer = line.transfer(call.call_sid)
    assert [a["outcome"] for a in transfer.attempts] == ["declined", "no-answer", "busy"]
    assert transfer.targets == [ANN, BOB, CY] and transfer.outcome == "fallback-busy"
    assert {line.agent(name).status for name in ("bob", "cy")} == {"available"}


@pytest.mark.parametrize("dial_status", ["busy", "no-answer", "failed", "canceled"])
def test_an_agent_who_does_not_answer_is_released(sqlite_line: Line, dial_status: str) -> None:
    line = sqlite_line
    line.available("ann", ANN)
    line.available("bob", BOB)
    call = transferred(line)
    assert call.dial_ends(dial_status).dial_target == BOB
    ann = line.agent("ann")
    assert ann.status == "available" and ann.current_call_sid is None
    assert line.transfer(call.call_sid).attempts[0]["outcome"] == dial_status


def test_an_accepted_call_keeps_the_agent_busy_then_wrap_up_then_available(line: Line) -> None:
    line.available("ann", ANN)
    call = transferred(line)
    assert "Connecting you now" in call.agent_presses("1").text
    assert line.agent("ann").status == "busy"
    line.clock.advance(240)
    assert line.agent("ann").status == "busy", "talking takes as long as it takes"

    ended_at = line.clock.now
    assert call.dial_ends("completed").hangup
    ann = line.agent("ann")
    assert (ann.status, ann.status_since, ann.current_call_sid) == ("wrap-up", ended_at, None)
    transfer = line.transfer(call.call_sid)
    assert transfer.outcome == "completed" and transfer.accepted_by == ANN

    line.clock.advance(29)
    early = transferred(line)
    assert early.last.dial_target is None, "still wrapping up: nobody to ring"  # type: ignore[union-attr]
    assert line.agent("ann").status == "wrap-up"

    line.clock.advance(5)
    later = transferred(line)
    assert later.last.dial_target == ANN  # type: ignore[union-attr]
    ann = line.agent("ann")
    assert ann.idle_since == ended_at + timedelta(seconds=30), "idle from the end of wrap-up"
    assert ann.current_call_sid == later.call_sid


def test_the_status_callback_ends_an_accepted_call_into_wrap_up(sqlite_line: Line) -> None:
    line = sqlite_line
    line.available("ann", ANN)
    call = transferred(line)
    call.agent_presses("1")
    assert call.hang_up(duration=95).status == 204
    assert line.agent("ann").status == "wrap-up"
    line.clock.advance(31)
    assert [agent.status for agent in line.directory.list_agents()] == ["available"]


def test_wrap_up_time_comes_from_the_configuration(sqlite_url: str, flows) -> None:  # type: ignore[no-untyped-def]
    line = make_line(sqlite_url, flows, wrap_up_seconds=0)
    line.available("ann", ANN)
    call = transferred(line)
    call.agent_presses("1")
    call.dial_ends("completed")
    assert transferred(line).last.dial_target == ANN  # type: ignore[union-attr]


def test_a_caller_hanging_up_while_ringing_releases_the_agent(line: Line) -> None:
    line.available("ann", ANN)
    ann_idle = line.agent("ann").idle_since
    call = transferred(line)
    assert line.agent("ann").status == "busy"
    assert call.hang_up(duration=12).status == 204
    ann = line.agent("ann")
    assert (ann.status, ann.current_call_sid, ann.idle_since) == ("available", None, ann_idle)
    assert line.transfer(call.call_sid).outcome == "caller-abandoned"
    # Twilio's <Dial action> for the dead call must not reserve anyone else.
    line.available("bob", BOB)
    assert call.dial_ends("no-answer").dial_target is None
    assert {line.agent(name).status for name in ("ann", "bob")} == {"available"}


def test_agents_registered_but_none_available_means_the_fallback_at_once(
        sqlite_url: str, flows) -> None:  # type: ignore[no-untyped-def]
    line = make_line(sqlite_url, flows, fallback="number", fallback_number="+15005550009")
    line.directory.add("ann", ANN, ["support"], actor="test")  # offline
    line.directory.add("bob", BOB, ["support"], status="wrap-up", actor="test")
    call = transferred(line)
    assert call.last.dial_target == "+15005550009" and "backup line" in call.last.text  # type: ignore[union-attr]
    assert line.transfer(call.call_sid).outcome == "fallback-number"
    # The backup call ends: goodbye, not another round.
    assert call.dial_ends("completed").hangup
    assert line.transfer(call.call_sid).outcome == "fallback-number-ended"


def test_without_agents_for_the_queue_the_configured_targets_ring_in_order(line: Line) -> None:
    line.available("dan", DAN, "billing")  # serves another queue only
    call = transferred(line)
    assert call.last.dial_target == CONFIGURED[0]  # type: ignore[union-attr]
    call.agent_presses("2")
    assert call.dial_ends("completed").dial_target == CONFIGURED[1]
    assert line.transfer(call.call_sid).targets == CONFIGURED
    assert line.agent("dan").status == "available"


def test_the_summary_api_and_the_console_see_the_routed_agent(sqlite_line: Line) -> None:
    line = sqlite_line
    line.available("ann", ANN)
    accounts = line.app.extensions["ivr"].accounts  # type: ignore[attr-defined]
    accounts.add("ann", PASSWORD, "agent", agent_target=ANN, actor="test")
    call = transferred(line)
    call.agent_presses("1")
    client = line.app.test_client()  # type: ignore[attr-defined]
    summary = client.get(f"/api/calls/{call.call_sid}/summary",
                         headers={"Authorization": "Bearer api-token-for-tests"})
    assert summary.status_code == 200
    assert call.call_sid in text_of(signed_in(line.app, "ann").get("/console"))  # type: ignore[arg-type]


# Concurrency -------------------------------------------------------------------------------


def test_many_concurrent_claims_never_give_one_agent_twice(database_url: str) -> None:
    upgrade(database_url)
    settings = make_settings(database_url)
    directory = AgentDirectory(settings)
    for number in range(8):
        directory.add(f"agent{number}", f"client:agent{number}", ["support"],
                      status="available", actor="test")
    router = Router(settings.transfer)
    start = threading.Barrier(20)

    def claim(number: int) -> str | None:
        start.wait()
        with transaction(database_url) as connection:
            target = router.reserve(connection, "support", f"CA{number:032d}").target
            time.sleep(0.05)  # hold the row lock while the others look for agents
            return target

    with ThreadPoolExecutor(20) as pool:
        targets = list(pool.map(claim, range(20)))
    taken = [target for target in targets if target is not None]
    assert len(taken) == 8 and len(set(taken)) == 8
    rows = directory.list_agents()
    assert {row.status for row in rows} == {"busy"}
    assert {(row.target, row.current_call_sid) for row in rows} == {
        (target, f"CA{number:032d}") for number, target in enumerate(targets) if target}


@pytest.fixture
def two_servers(fresh_postgres_url: str, tmp_path) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    processes, urls = start_servers(fresh_postgres_url, 2, tmp_path)
    try:
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


@pytest.mark.slow
def test_two_servers_escalating_at_once_never_ring_one_agent_twice(
        two_servers: list[str], fresh_postgres_url: str) -> None:
    directory = AgentDirectory(make_settings(fresh_postgres_url))
    for number in range(5):
        directory.add(f"agent{number}", f"client:agent{number}", ["support"],
                      status="available", actor="test")
    calls = [SimulatedCall(http_post(two_servers[number % 2], requests.Session()),
                           auth_token=TOKEN, public_url=PUBLIC_URL) for number in range(8)]
    for call in calls:
        assert call.start().listening
    at_once = threading.Barrier(len(calls))

    def escalate(call: SimulatedCall) -> str | None:
        at_once.wait()
        return call.press("0").dial_target

    with ThreadPoolExecutor(len(calls)) as pool:
        first = list(pool.map(escalate, calls))
    rung = [target for target in first if target]
    assert len(rung) == 5 and len(set(rung)) == 5, first
    ringing = [call for call, target in zip(calls, first, strict=True) if target]

    def decline(call: SimulatedCall) -> str | None:
        at_once.wait()
        call.agent_presses("2")
        return call.dial_ends("completed").dial_target

    at_once = threading.Barrier(len(ringing))
    with ThreadPoolExecutor(len(ringing)) as pool:
        second = list(pool.map(decline, ringing))
    now_ringing = [target for target in second if target]
    assert len(now_ringing) == len(set(now_ringing)), second
    for before, after in zip(rung, second, strict=True):
        assert after != before, "an agent is not rung twice for one transfer"
    held = {row.target: row.current_call_sid for row in directory.list_agents()
            if row.current_call_sid}
    expected = {target: call.call_sid for call, target in zip(ringing, second, strict=True)
                if target}
    assert held == expected


# The command line --------------------------------------------------------------------------


@pytest.fixture
def cli(sqlite_url: str) -> Callable[..., object]:
    runner = CliRunner()
    env = {"IVR_DATABASE_URL": sqlite_url, "IVR_CONFIG_DIR": str(ROOT / "config"),
           "IVR_DIALOGS": str(ROOT / "dialogs"), "IVR_SECRET_KEY": "pseudonym-key-for-tests",
           "IVR_LOG_FORMAT": "text"}

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, ["agents", *args], env=env, catch_exceptions=False)

    return run


def test_the_agents_commands(cli, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    assert "no agents yet" in cli("list").stdout
    added = cli("add", "Ann", ANN, "--queue", "support", "--queue", "billing")
    assert added.exit_code == 0, added.output
    assert f"added ann ({ANN}) for billing, support: offline" in added.stdout
    assert "ivr agents status ann available" in added.stdout
    assert cli("add", "bob", CY, "--queue", "support,returns", "--status", "available") \
        .exit_code == 0

    listed = cli("list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "TARGET", "QUEUES", "STATUS", "SINCE", "IDLE", "SINCE",
                                 "CALL"]
    assert listed[1].split()[:4] == ["ann", ANN, "billing,support", "offline"]
    assert listed[2].split()[:4] == ["bob", CY, "returns,support", "available"]

    assert cli("status", "ann", "available").stdout.strip() == "ann is available"
    assert cli("queues", "ann", "--queue", "billing").stdout.strip() == "ann serves billing"
    assert cli("remove", "bob").stdout.strip() == "removed bob"
    assert [line.split()[0] for line in cli("list").stdout.splitlines()[1:]] == ["ann"]

    trail = [(entry.actor, entry.action, entry.target, entry.detail)
             for entry in reversed(audit_entries(sqlite_url)) if entry.action.startswith("agent")]
    actor = cli_actor()
    assert trail == [
        (actor, audit.AGENT_ADDED, "ann", {"queues": ["support", "billing"], "status": "offline"}),
        (actor, audit.AGENT_ADDED, "bob", {"queues": ["support", "returns"],
                                           "status": "available"}),
        (actor, audit.AGENT_STATUS, "ann", {"status": "available", "before": "offline"}),
        (actor, audit.AGENT_QUEUES, "ann", {"queues": ["billing"]}),
        (actor, audit.AGENT_REMOVED, "bob", {}),
    ]


@pytest.mark.parametrize("args, message", [
    (["add", "ann", ANN, "--queue", "support"], "an agent named 'ann' already exists"),
    (["add", "bob", ANN, "--queue", "support"], f"another agent is already rung on {ANN}"),
    (["add", "bob", "555-0102", "--queue", "support"], "is not a phone number in E.164"),
    (["add", "bob", BOB, "--queue", "sup port!"], "queue 'port!' is not allowed"),
    (["add", "9bob", BOB, "--queue", "support"], "agent name '9bob' is not allowed"),
    (["add", "bob", BOB], "Missing option '--queue'"),
    (["add", "bob", BOB, "--queue", "support", "--status", "asleep"], "'asleep' is not one of"),
    (["status", "zed", "available"], "there is no agent named 'zed'"),
    (["status", "ann", "asleep"], "'asleep' is not one of"),
    (["queues", "zed", "--queue", "support"], "there is no agent named 'zed'"),
    (["queues", "ann", "--queue", ","], "an agent needs at least one queue"),
    (["remove", "zed"], "there is no agent named 'zed'"),
])
def test_bad_agents_commands_say_why_and_exit_2(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    assert cli("add", "ann", ANN, "--queue", "support").exit_code == 0
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


# The console -------------------------------------------------------------------------------


@pytest.fixture
def people(sqlite_line: Line) -> Line:
    accounts = sqlite_line.app.extensions["ivr"].accounts  # type: ignore[attr-defined]
    accounts.add("ann", PASSWORD, "agent", agent_target=ANN, actor="test")
    accounts.add("sue", PASSWORD, "supervisor", agent_target=BOB, actor="test")
    accounts.add("ada", PASSWORD, "admin", actor="test")
    sqlite_line.directory.add("ann", ANN, ["support"], actor="test")
    return sqlite_line


def client_of(line: Line, username: str):  # type: ignore[no-untyped-def]
    return signed_in(line.app, username)  # type: ignore[arg-type]


def test_an_agent_sees_and_sets_their_presence(people: Line) -> None:
    ann = client_of(people, "ann")
    page = ann.get("/console/presence")
    assert page.status_code == 200
    assert re.search(r'id="agent-status">offline<', text_of(page))
    assert 'href="/console/presence"' in text_of(ann.get("/console"))

    refused = ann.post("/console/presence", data={"status": "available"})
    assert refused.status_code == 400 and people.agent("ann").status == "offline"

    token = csrf_token(ann, "/console/presence")
    done = ann.post("/console/presence", data={"status": "available", "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == "/console/presence"
    assert "You are available." in text_of(ann.get("/console/presence"))
    assert people.agent("ann").status == "available"
    assert transferred(people).last.dial_target == ANN  # type: ignore[union-attr]

    bad = ann.post("/console/presence", data={"status": "asleep", "csrf_token": token})
    assert bad.status_code == 400 and "unknown status 'asleep'" in text_of(bad)
    entries = audit_entries(people.settings, action=audit.AGENT_STATUS)
    assert [(entry.actor, entry.target, entry.detail["status"]) for entry in entries] == [
        ("ann", "ann", "available")]


def test_someone_who_is_not_an_agent_has_no_presence(people: Line) -> None:
    sue = client_of(people, "sue")  # answers on BOB, but no agent is rung there
    page = sue.get("/console/presence")
    assert page.status_code == 200 and "You are not set up as an agent" in text_of(page)
    token = csrf_token(sue, "/console/presence")
    refused = sue.post("/console/presence", data={"status": "available", "csrf_token": token})
    assert refused.status_code == 403
    ada = client_of(people, "ada")  # no agent target at all
    assert "You are not set up as an agent" in text_of(ada.get("/console/presence"))
    assert 'href="/console/presence"' not in text_of(ada.get("/console"))
    anonymous = people.app.test_client()  # type: ignore[attr-defined]
    assert anonymous.get("/console/presence").headers["Location"] == "/login"


def test_admins_add_change_and_remove_agents(people: Line) -> None:
    ada = client_of(people, "ada")
    page = ada.get("/admin/agents")
    assert page.status_code == 200 and ANN in text_of(page)
    assert 'href="/admin/agents"' in text_of(ada.get("/console"))
    token = csrf_token(ada, "/admin/agents")

    added = ada.post("/admin/agents", data={"name": "bob", "target": BOB, "queues":
                                            "support, billing", "status": "available",
                                            "csrf_token": token})
    assert added.status_code == 303
    assert "Added agent bob for billing, support (available)." in text_of(ada.get("/admin/agents"))
    assert people.agent("bob").queues == ("billing", "support")

    taken = ada.post("/admin/agents", data={"name": "bob2", "target": BOB, "queues": "support",
                                            "csrf_token": token})
    assert taken.status_code == 400 and f"another agent is already rung on {BOB}" in \
        text_of(taken)
    assert 'value="bob2"' in text_of(taken), "the form keeps what was typed"

    assert ada.post("/admin/agents/queues", data={"name": "bob", "queues": "returns",
                                                  "csrf_token": token}).status_code == 303
    assert people.agent("bob").queues == ("returns",)
    assert ada.post("/admin/agents/status", data={"name": "ann", "status": "available",
                                                  "csrf_token": token}).status_code == 303
    assert people.agent("ann").status == "available"
    missing = ada.post("/admin/agents/status", data={"name": "zed", "status": "available",
                                                     "csrf_token": token})
    assert missing.status_code == 400 and "there is no agent named 'zed'" in text_of(missing)
    assert ada.post("/admin/agents/remove", data={"name": "bob",
                                                  "csrf_token": token}).status_code == 303
    assert [agent.name for agent in people.directory.list_agents()] == ["ann"]
    assert ada.post("/admin/agents/remove", data={"name": "ann"}).status_code == 400, "CSRF"

    actions = [(entry.actor, entry.action, entry.target)
               for entry in reversed(audit_entries(people.settings)) if entry.actor == "ada"
               and entry.action.startswith("agent")]
    assert actions == [("ada", audit.AGENT_ADDED, "bob"), ("ada", audit.AGENT_QUEUES, "bob"),
                       ("ada", audit.AGENT_STATUS, "ann"), ("ada", audit.AGENT_REMOVED, "bob")]


def test_only_admins_manage_agents(people: Line) -> None:
    for username in ("ann", "sue"):
        client = client_of(people, username)
        assert client.get("/admin/agents").status_code == 403
        token = csrf_token(client, "/console")
        assert client.post("/admin/agents/remove", data={"name": "ann", "csrf_token": token}) \
            .status_code == 403
    assert [agent.name for agent in people.directory.list_agents()] == ["ann"]


def test_setting_available_again_keeps_the_agents_place(sqlite_line: Line) -> None:
    line = sqlite_line
    line.available("ann", ANN)
    idle = line.agent("ann").idle_since
    line.directory.set_status("ann", "available", actor="test")
    assert line.agent("ann").idle_since == idle
    line.directory.set_status("ann", "offline", actor="test")
    back = line.clock.advance(60)
    line.directory.set_status("ann", "available", actor="test")
    assert line.agent("ann").idle_since == back

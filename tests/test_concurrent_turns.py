"""Many callers at once on a threaded server (gunicorn gthread, as the Procfile runs it).

Every caller asks for an order status at the same moment, so every turn runs the bundled
action that reads the database. All of them must be answered by the bot, none handed to a
person for a fault: no turn may hold the database's write lock (or a row lock) while its
action waits for a connection of its own. The tests count outcomes, never time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import gated_actions
import pytest
import requests
from conftest import make_settings
from helpers.stored import stored_call
from servers import PUBLIC_URL, TOKEN, start_servers

from ivr.app.calls import CallService
from ivr.app.contract import Inbound
from ivr.dialog.schema import ActionsSpec, Flow
from ivr.storage import repository
from ivr.storage.db import session_scope
from ivr.storage.migrate import upgrade
from ivr.testing.simulated_call import SimulatedCall, http_post

CALLERS = 40  # more than the server's 32 threads, more than a default connection pool


def _call_waiting_for_order_number(base_url: str) -> SimulatedCall:
    call = SimulatedCall(http_post(base_url, requests.Session()), auth_token=TOKEN,
                         public_url=PUBLIC_URL)
    assert call.start().listening
    assert "order number" in call.say("where is my order").text
    return call


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite_url", "fresh_postgres_url"])
def test_concurrent_order_lookups_are_all_answered_by_the_bot(database, request,
                                                              tmp_path) -> None:
    database_url = request.getfixturevalue(database)
    processes, (base_url,) = start_servers(database_url, 1, tmp_path)
    try:
        calls = [_call_waiting_for_order_number(base_url) for _ in range(CALLERS)]
        all_ready = threading.Barrier(CALLERS)

        def key_order_number(call: SimulatedCall) -> str:
            all_ready.wait()
            try:
                return call.press("123456").text
            except requests.Timeout:  # Twilio would have given up too
                return "(no answer within 10 s)"

        with ThreadPoolExecutor(CALLERS) as pool:
            answers = list(pool.map(key_order_number, calls))
    finally:
        processes[0].kill()
        processes[0].wait(timeout=30)

    answered_by_bot = [answer for answer in answers if "shipped" in answer]
    assert len(answered_by_bot) == CALLERS, [a for a in answers if "shipped" not in a][:3]
    for call in calls:
        _, turns, transfer = stored_call(database_url, call.call_sid)
        assert transfer is None
        assert [turn.kind for turn in turns] == ["start", "speech", "digits", "action"]
        assert turns[-1].action_ok is True


def test_a_turn_stored_while_an_action_runs_is_neither_lost_nor_doubled(
        sqlite_url: str, support_flow: Flow) -> None:
    """Request A's action is held at a gate; meanwhile request B (silence) for the same call is
    stored, which needs the write lock A would have held before. A then finds the call moved
    on, decides again on what B left, and both turns are stored once, in order."""
    settings = make_settings(sqlite_url)
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as session:
        repository.seed_demo_orders(session)
    flow = support_flow.model_copy(update={"actions": ActionsSpec(module="gated_actions")})
    service = CallService(settings, {flow.name: flow})
    sid = "CA" + "1" * 32
    service.start(Inbound(sid, caller="+14155550123"))
    assert "order number" in _said(service.turn(Inbound(sid, text="where is my order")))
    gated_actions.entered.clear()
    gated_actions.release.clear()
    gated_actions.runs.clear()

    with ThreadPoolExecutor(1) as pool:
        keyed = pool.submit(service.turn, Inbound(sid, digits="123456"))
        assert gated_actions.entered.wait(timeout=10)
        silence = service.turn(Inbound(sid))  # would wait for A's write lock before the fix
        gated_actions.release.set()
        answer = keyed.result(timeout=20)

    assert "didn't hear" in _said(silence).lower()
    assert "shipped" in _said(answer)
    assert gated_actions.runs == ["123456", "123456"]  # decided again on the new state
    call, turns, _ = stored_call(sqlite_url, sid)
    assert [turn.kind for turn in turns] == ["start", "speech", "no_input", "digits", "action"]
    assert [turn.seq for turn in turns] == [1, 2, 3, 4, 5]
    assert call.turn_count == 5


def _said(reply) -> str:  # type: ignore[no-untyped-def]
    return " ".join(getattr(directive, "text", "") for directive in reply.directives)

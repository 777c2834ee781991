"""The business-action layer: the runner (in-process and remote) and the bundled demo actions."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import rasa_sdk
import requests
import responses
from pydantic import SecretStr

from ivr.actions import ActionContext, ActionRunner, current, use
from ivr.actions.demo import (
    RESET_NOT_SENT,
    RESET_SENT,
    describe_opening_hours,
    reset_link,
    spoken_digits,
)
from ivr.config import BusinessSettings, Settings
from ivr.dialog.events import ActionDone
from ivr.dialog.schema import ActionsSpec
from ivr.privacy.pseudonyms import textable_number
from ivr.storage.db import session_scope
from ivr.storage.migrate import upgrade
from ivr.storage.repository import seed_demo_orders

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"  # not a real secret
SMS_FROM = "+15005550006"
CALLER = "+14155552671"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
REMOTE_URL = "http://actions.test:5055/webhook"


def seeded_database(folder: Path) -> str:
    url = f"sqlite:///{folder / 'ivr.sqlite3'}"
    upgrade(url)
    with session_scope(url) as session:
        seed_demo_orders(session)
    return url


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return seeded_database(tmp_path)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        sms_from=SMS_FROM,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
    )


@pytest.fixture
def demo(settings: Settings) -> ActionRunner:
    return ActionRunner(
        ActionsSpec(module="ivr.actions.demo"), ActionContext.from_settings(settings)
    )


@pytest.fixture
def helper_actions(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> ActionRunner:
    monkeypatch.syspath_prepend(str(TESTS))
    spec = ActionsSpec(module="actions_for_tests", timeout_seconds=0.3)
    return ActionRunner(spec, ActionContext.from_settings(settings))


def run(runner: ActionRunner, name: str, **overrides: Any) -> ActionDone:
    arguments: dict[str, Any] = {
        "call_id": "call-7f3a",
        "slots": {},
        "latest_text": "",
        "metadata": {"caller": CALLER},
    }
    arguments.update(overrides)
    return runner.run(name, **arguments)


# Order status ---------------------------------------------------------------------------------


def test_order_found_is_spoken_digit_by_digit(demo: ActionRunner) -> None:
    done = run(demo, "action_order_status", slots={"order_number": "123456"})

    assert done == ActionDone(
        "action_order_status",
        ok=True,
        messages=("Order 1 2 3 4 5 6 shipped on Monday and should arrive by Thursday.",),
        slots={"order_found": True, "order_status": "shipped"},
    )


def test_order_not_found_says_nothing_and_lets_the_flow_ask_again(demo: ActionRunner) -> None:
    done = run(demo, "action_order_status", slots={"order_number": "999999"})

    assert done.ok
    assert done.messages == ()
    assert done.slots == {"order_found": False, "order_status": None}


def test_order_number_missing_is_not_found(demo: ActionRunner) -> None:
    done = run(demo, "action_order_status", slots={})

    assert done.ok
    assert done.slots == {"order_found": False, "order_status": None}


def test_database_outage_fails_the_action(settings: Settings, tmp_path: Path) -> None:
    broken = ActionContext(
        database_url=f"sqlite:///{tmp_path / 'no-tables.sqlite3'}", settings=settings
    )
    runner = ActionRunner(ActionsSpec(module="ivr.actions.demo"), broken)

    done = run(runner, "action_order_status", slots={"order_number": "123456"})

    assert not done.ok
    assert done.error == "the action raised OperationalError"


def test_spoken_digits() -> None:
    assert spoken_digits("234567") == "2 3 4 5 6 7"


# Password reset by text message ------------------------------------------------------------


def twilio_message(body: str, to: str) -> dict[str, Any]:
    sid = "SM" + "a" * 32
    return {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": None,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": SMS_FROM,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"
        },
        "to": to,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }


def sent_form(call: Any) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(call.request.body).items()}


@responses.activate
def test_password_reset_texts_a_one_time_link(
    demo: ActionRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses.add(responses.POST, MESSAGES_URL, json=twilio_message("...", CALLER), status=201)
    responses.add(responses.POST, MESSAGES_URL, json=twilio_message("...", CALLER), status=201)

    first = run(demo, "action_send_password_reset")
    second = run(demo, "action_send_password_reset")

    assert first == ActionDone(
        "action_send_password_reset", ok=True, messages=(RESET_SENT,), slots={"reset_sent": True}
    )
    assert second.slots == {"reset_sent": True}
    assert len(responses.calls) == 2
    form = sent_form(responses.calls[0])
    assert form["To"] == CALLER
    assert form["From"] == SMS_FROM
    assert "https://example.com/reset?token=" in form["Body"]
    assert "30 minutes" in form["Body"]
    token = form["Body"].split("token=")[1].split()[0]
    assert len(token) >= 32
    assert token not in sent_form(responses.calls[1])["Body"], "each link is one-time"
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert CALLER not in caplog.text
    assert all(CALLER not in message for message in first.messages)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 21211, f"The 'To' number {CALLER} is not a valid phone number."),
        (500, 20500, "Internal Server Error"),
    ],
)
@responses.activate
def test_twilio_error_apologises_and_the_call_goes_on(
    demo: ActionRunner, caplog: pytest.LogCaptureFixture, status: int, code: int, message: str
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {
        "code": code,
        "message": message,
        "more_info": "https://www.twilio.com/docs/errors",
        "status": status,
    }
    responses.add(responses.POST, MESSAGES_URL, json=body, status=status)

    done = run(demo, "action_send_password_reset")

    assert done == ActionDone(
        "action_send_password_reset",
        ok=True,
        messages=(RESET_NOT_SENT,),
        slots={"reset_sent": False},
    )
    assert f"Twilio error {code}" in caplog.text
    assert CALLER not in caplog.text


@responses.activate
def test_twilio_unreachable_apologises(demo: ActionRunner) -> None:
    responses.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ConnectionError())

    done = run(demo, "action_send_password_reset")

    assert done.ok
    assert done.slots == {"reset_sent": False}
    assert done.messages == (RESET_NOT_SENT,)


@pytest.mark.parametrize("caller", [None, "", "anonymous", "+266696687", "+7378742833", "12"])
@responses.activate
def test_no_text_to_a_missing_or_withheld_number(demo: ActionRunner, caller: str | None) -> None:
    metadata = {} if caller is None else {"caller": caller}

    done = run(demo, "action_send_password_reset", metadata=metadata)

    assert done.ok
    assert done.slots == {"reset_sent": False}
    assert done.messages == (RESET_NOT_SENT,)
    assert len(responses.calls) == 0


@responses.activate
def test_no_text_without_a_sender_number(settings: Settings) -> None:
    context = ActionContext.from_settings(settings.model_copy(update={"sms_from": None}))
    runner = ActionRunner(ActionsSpec(module="ivr.actions.demo"), context)

    done = run(runner, "action_send_password_reset")

    assert done.slots == {"reset_sent": False}
    assert len(responses.calls) == 0


def test_textable_number_normalises_to_e164() -> None:
    assert textable_number("+1 (415) 555-2671") == CALLER
    assert textable_number("Restricted") is None


def test_reset_link_keeps_an_existing_query() -> None:
    assert reset_link("https://example.com/reset?lang=en", "abc") == (
        "https://example.com/reset?lang=en&token=abc"
    )


# Opening hours ------------------------------------------------------------------------------

WEEK = (
    "We're open Monday to Friday from 8 AM to 8 PM, and Saturday from 9 AM to 5 PM. "
    "We're closed on Sunday."
)


@pytest.mark.parametrize(
    ("local_time", "status", "open_now"),
    [
        ("2025-06-02 10:00", "We're open right now, until 8 PM.", True),  # Monday
        ("2025-06-02 20:00", "We're closed right now. We open again tomorrow at 8 AM.", False),
        ("2025-06-07 08:59", "We're closed right now. We open again later today at 9 AM.", False),
        ("2025-06-07 17:30", "We're closed right now. We open again on Monday at 8 AM.", False),
        ("2025-06-08 12:00", "We're closed right now. We open again tomorrow at 8 AM.", False),
    ],
)
def test_opening_hours_sentence(local_time: str, status: str, open_now: bool) -> None:
    text, is_open = describe_opening_hours(BusinessSettings(), datetime.fromisoformat(local_time))

    assert text == f"{WEEK} {status}"
    assert is_open is open_now


def test_opening_hours_use_the_business_time_zone() -> None:
    # 13:30 UTC on a Monday in June is 09:30 in New York, but 22:30 in Tokyo.
    utc = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)

    assert describe_opening_hours(BusinessSettings(), utc)[1] is True
    assert describe_opening_hours(BusinessSettings(timezone="Asia/Tokyo"), utc)[1] is False


def test_opening_hours_odd_schedules() -> None:
    every_day = BusinessSettings(
        hours={day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    )
    late = BusinessSettings(
        hours={"monday": "22:00-02:00", "wednesday": "12:00-13:30", "thursday": "12:00-13:30"}
    )
    tuesday_1am = datetime(2025, 6, 3, 1, 0)

    assert describe_opening_hours(every_day, tuesday_1am) == (
        "We're open every day around the clock. We're open right now.",
        True,
    )
    assert describe_opening_hours(late, tuesday_1am) == (
        "We're open Monday from 10 PM to 2 AM, and Wednesday and Thursday from noon to 1:30 PM. "
        "We're closed on Tuesday, Friday, Saturday, and Sunday. We're open right now, until 2 AM.",
        True,
    )
    assert describe_opening_hours(BusinessSettings(hours={}), tuesday_1am) == (
        "We don't have regular opening hours at the moment.",
        False,
    )


def test_opening_hours_action_uses_the_real_clock(demo: ActionRunner) -> None:
    done = run(demo, "action_opening_hours")

    assert done.ok
    assert done.messages[0].startswith(WEEK)
    assert isinstance(done.slots["open_now"], bool)


def test_bad_opening_hours_fail_the_action(settings: Settings) -> None:
    business = BusinessSettings(hours={"monday": "8 till late"})
    context = ActionContext.from_settings(settings.model_copy(update={"business": business}))
    runner = ActionRunner(ActionsSpec(module="ivr.actions.demo"), context)

    done = run(runner, "action_opening_hours")

    assert done == ActionDone(
        "action_opening_hours", ok=False, error="the action raised ValueError"
    )


# The in-process runner ---------------------------------------------------------------------


def test_sync_action_gets_tracker_domain_and_context(
    helper_actions: ActionRunner, database_url: str
) -> None:
    done = run(helper_actions, "action_echo_sync", slots={"colour": "blue"}, latest_text="hello")

    assert done.ok
    assert done.messages == ("you said hello",)
    assert done.slots == {
        "database_url": database_url,
        "sender_id": "call-7f3a",
        "seen_slot": "blue",
        "metadata": {"caller": CALLER},
        "domain_actions": ["action_echo_sync"],
    }


def test_async_action_runs_too(helper_actions: ActionRunner, database_url: str) -> None:
    done = run(helper_actions, "action_echo_async")

    assert done == ActionDone(
        "action_echo_async",
        ok=True,
        messages=("async hello",),
        slots={"database_url": database_url},
    )


def test_context_is_per_runner_even_concurrently(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.syspath_prepend(str(TESTS))
    spec = ActionsSpec(module="actions_for_tests")
    runners = [
        ActionRunner(spec, ActionContext(database_url=f"sqlite:///db{index}", settings=settings))
        for index in range(8)
    ]
    names = ["action_echo_sync", "action_echo_async"] * 4

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda pair: run(pair[0], pair[1]), zip(runners, names, strict=True))
        )

    assert [done.slots["database_url"] for done in results] == [
        f"sqlite:///db{index}" for index in range(8)
    ]


def test_context_falls_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Settings
) -> None:
    monkeypatch.setenv("IVR_CONFIG_DIR", str(tmp_path / "no-config"))
    monkeypatch.setenv("IVR_DATABASE_URL", "sqlite:///from-env.sqlite3")

    assert current().database_url == "sqlite:///from-env.sqlite3"
    with use(ActionContext.from_settings(settings)):
        assert current().settings is settings
    assert current().database_url == "sqlite:///from-env.sqlite3"


def test_unknown_action(helper_actions: ActionRunner) -> None:
    assert run(helper_actions, "action_nobody_wrote") == ActionDone(
        "action_nobody_wrote", ok=False, error="unknown action 'action_nobody_wrote'"
    )


def test_action_that_raises_fails_without_leaking_its_message(
    helper_actions: ActionRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    done = run(helper_actions, "action_boom")

    assert done == ActionDone("action_boom", ok=False, error="the action raised RuntimeError")
    assert CALLER not in caplog.text
    assert "actions_for_tests.py" in caplog.text, "the log shows where it failed"


def test_action_that_exits_does_not_stop_the_runner(helper_actions: ActionRunner) -> None:
    assert run(helper_actions, "action_exit").error == "the action raised SystemExit"
    assert run(helper_actions, "action_echo_async").ok


@pytest.mark.parametrize("name", ["action_slow_sync", "action_slow_async"])
def test_slow_action_times_out(helper_actions: ActionRunner, name: str) -> None:
    import actions_for_tests

    started = time.monotonic()

    done = run(helper_actions, name)

    assert done == ActionDone(name, ok=False, error="timed out after 0.3 s")
    assert time.monotonic() - started < actions_for_tests.SLOW_SECONDS, "cut short"
    assert run(helper_actions, "action_echo_async").ok, "the runner still works afterwards"


def test_timed_out_coroutine_is_cancelled(helper_actions: ActionRunner) -> None:
    import actions_for_tests

    actions_for_tests.ActionSlowAsync.cancelled = False
    run(helper_actions, "action_slow_async")

    deadline = time.monotonic() + 1
    while not actions_for_tests.ActionSlowAsync.cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert actions_for_tests.ActionSlowAsync.cancelled


def test_action_returning_garbage_fails(helper_actions: ActionRunner) -> None:
    done = run(helper_actions, "action_returns_garbage")

    assert not done.ok
    assert done.error == "the action returned something other than a list of events"


def test_action_returning_none_is_fine(helper_actions: ActionRunner) -> None:
    assert run(helper_actions, "action_returns_none") == ActionDone(
        "action_returns_none", ok=True, messages=("done",)
    )


def test_missing_module_fails(settings: Settings) -> None:
    runner = ActionRunner(
        ActionsSpec(module="no_such_actions_module"), ActionContext.from_settings(settings)
    )

    done = run(runner, "action_order_status")

    assert done == ActionDone(
        "action_order_status", ok=False, error="the actions module could not be imported"
    )


def test_no_actions_configured(settings: Settings) -> None:
    runner = ActionRunner(ActionsSpec(), ActionContext.from_settings(settings))

    assert run(runner, "action_order_status").error == "this flow has no actions configured"


# The remote runner, against a stand-in server ------------------------------------------------


@pytest.fixture
def remote(settings: Settings) -> ActionRunner:
    spec = ActionsSpec(url=REMOTE_URL, timeout_seconds=2)
    return ActionRunner(spec, ActionContext.from_settings(settings))


@responses.activate
def test_remote_action_sends_the_webhook_payload(remote: ActionRunner) -> None:
    received: list[dict[str, Any]] = []

    def action_server(request: Any) -> tuple[int, dict[str, str], str]:
        received.append(json.loads(request.body))
        answer = {
            "events": [
                {"event": "slot", "timestamp": None, "name": "order_found", "value": True},
                {"event": "bot", "text": "not a slot"},
            ],
            "responses": [{"text": "Order 1 2 3"}, {"text": None, "response": "utter_x"}],
        }
        return 200, {}, json.dumps(answer)

    responses.add_callback(responses.POST, REMOTE_URL, callback=action_server)

    done = run(remote, "action_order_status", slots={"order_number": "123"}, latest_text="1 2 3")

    assert done == ActionDone(
        "action_order_status", ok=True, messages=("Order 1 2 3",), slots={"order_found": True}
    )
    payload = received[0]
    assert payload["next_action"] == "action_order_status"
    assert payload["sender_id"] == "call-7f3a"
    assert payload["version"] == rasa_sdk.__version__
    assert payload["tracker"]["sender_id"] == "call-7f3a"
    assert payload["tracker"]["slots"] == {"order_number": "123"}
    assert payload["tracker"]["latest_message"] == {"text": "1 2 3", "metadata": {"caller": CALLER}}
    assert payload["tracker"]["events"] == []
    assert payload["domain"]["actions"] == ["action_order_status"]
    assert "order_number" in payload["domain"]["slots"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"status": 500, "json": {"error": "boom"}}, "the action server answered HTTP 500"),
        ({"status": 503, "body": "Service Unavailable"}, "the action server answered HTTP 503"),
        (
            {"status": 404, "json": {"action_name": "action_order_status", "error": "No action"}},
            "the action server does not know action 'action_order_status'",
        ),
        ({"status": 404, "body": "<h1>Not Found</h1>"}, "the action server answered HTTP 404"),
        (
            {"status": 400, "json": {"action_name": "action_order_status", "error": "rejected"}},
            "the action server rejected the action",
        ),
        (
            {"status": 200, "body": "<html>not json</html>"},
            "the action server sent an invalid answer",
        ),
        ({"status": 200, "json": None}, "the action server sent an invalid answer"),
        (
            {"status": 200, "json": {"events": "nope", "responses": []}},
            "the action returned something other than a list of events",
        ),
        (
            {"status": 200, "json": {"events": [], "responses": "nope"}},
            "the action server sent an invalid answer",
        ),
        ({"body": requests.exceptions.ConnectTimeout()}, "the action server timed out"),
        ({"body": requests.exceptions.ReadTimeout()}, "the action server timed out"),
        (
            {"body": requests.exceptions.ConnectionError()},
            "the action server is unreachable (ConnectionError)",
        ),
    ],
)
@responses.activate
def test_remote_failures(remote: ActionRunner, reply: dict[str, Any], error: str) -> None:
    responses.add(responses.POST, REMOTE_URL, **reply)

    done = run(remote, "action_order_status", slots={"order_number": "123456"})

    assert done == ActionDone("action_order_status", ok=False, error=error)


# The remote runner, against a real rasa-sdk action server ---------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A `python -m rasa_sdk --actions ivr.actions.demo` on loopback; yields (url, db url)."""
    folder = tmp_path_factory.mktemp("action-server")
    database_url = seeded_database(folder)
    port = free_port()
    env = {
        **os.environ,
        "IVR_DATABASE_URL": database_url,
        "IVR_CONFIG_DIR": str(folder / "no-config"),
        "SANIC_HOST": "127.0.0.1",
        "ACTION_SERVER_SANIC_WORKERS": "1",
    }
    log_file = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "ivr.actions.demo", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"the action server exited:\n{(folder / 'server.log').read_text()}")
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or accepted but not ready
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no action server after 60 s:\n{(folder / 'server.log').read_text()}")
            time.sleep(0.2)
        yield f"{base}/webhook", database_url
    finally:
        server.terminate()  # Sanic's main process stops its worker process itself
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with contextlib.suppress(ProcessLookupError):  # a worker left behind, if any
            os.killpg(server.pid, signal.SIGKILL)
        log_file.close()


@pytest.fixture
def real_remote(action_server: tuple[str, str], settings: Settings) -> ActionRunner:
    url, _ = action_server
    return ActionRunner(
        ActionsSpec(url=url, timeout_seconds=10), ActionContext.from_settings(settings)
    )


@pytest.mark.slow
def test_real_action_server_order_status(real_remote: ActionRunner) -> None:
    found = run(real_remote, "action_order_status", slots={"order_number": "345678"})
    missing = run(real_remote, "action_order_status", slots={"order_number": "111111"})

    assert found == ActionDone(
        "action_order_status",
        ok=True,
        messages=("Order 3 4 5 6 7 8 was delivered yesterday and signed for at the front door.",),
        slots={"order_found": True, "order_status": "delivered"},
    )
    assert missing == ActionDone(
        "action_order_status", ok=True, slots={"order_found": False, "order_status": None}
    )


@pytest.mark.slow
def test_real_action_server_opening_hours(real_remote: ActionRunner) -> None:
    done = run(real_remote, "action_opening_hours")

    assert done.ok, done.error
    assert done.messages[0].startswith(WEEK)
    assert isinstance(done.slots["open_now"], bool)


@pytest.mark.slow
def test_real_action_server_unknown_action(real_remote: ActionRunner) -> None:
    done = run(real_remote, "action_nobody_wrote")

    assert done == ActionDone(
        "action_nobody_wrote",
        ok=False,
        error="the action server does not know action 'action_nobody_wrote'",
    )

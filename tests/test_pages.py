"""What a newcomer meets in the browser: the landing page at `/`, and console pages that say
codes in words and times in the business time zone (named on the page)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT, make_settings
from helpers.console import PASSWORD, signed_in, text_of
from helpers.stored import stored_call

from ivr.app.accounts import Accounts
from ivr.app.routing import AgentDirectory
from ivr.storage.models import as_utc

ANN_TARGET = "+15005550006"  # the first agent of the support queue (config/ivr.toml)
CALLER = "+14155550123"
ZONE = "Asia/Kolkata"  # far from UTC all year, so a UTC time cannot pass for it
WEBHOOKS = {"A call comes in": "https://ivr.example.com/voice/incoming",
            "Primary handler fails": "https://ivr.example.com/voice/fallback",
            "Call status changes": "https://ivr.example.com/voice/status"}


@pytest.fixture
def settings(sqlite_url: str):  # type: ignore[no-untyped-def]
    return make_settings(sqlite_url, business={"name": "Acme Outfitters", "timezone": ZONE})


@pytest.fixture
def accounts(app) -> Accounts:  # type: ignore[no-untyped-def]
    service: Accounts = app.extensions["ivr"].accounts
    service.add("ann", PASSWORD, "agent", agent_target=ANN_TARGET, actor="test")
    service.add("sue", PASSWORD, "supervisor", actor="test")
    service.add("ada", PASSWORD, "admin", actor="test")
    return service


@pytest.fixture
def taken(new_call, settings) -> str:  # type: ignore[no-untyped-def]
    """The SID of a call that asked for a person and that ann (an available agent) took."""
    AgentDirectory(settings).add("ann", ANN_TARGET, ["support"], status="available",
                                 actor="test")
    call = new_call(caller=CALLER)
    call.start()
    call.say("where is my order")
    assert call.say("agent").dial_target == ANN_TARGET
    call.agent_hears()
    assert "Connecting you now" in call.agent_presses("1").text
    return call.call_sid


# The landing page -------------------------------------------------------------------------


def test_the_landing_page_says_what_this_is_and_where_to_go(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = text_of(response)
    assert "Acme Outfitters support line" in page
    for label, url in WEBHOOKS.items():
        assert re.search(rf"<td>{label}</td><td>POST</td><td><code[^>]*>{re.escape(url)}</code>",
                         page), label
    links = re.findall(r'href="([^"]*)"', page)
    assert "/softphone" in links and "/login" in links
    assert "/about" not in links, "this server has no /about page"
    assert client.get("/about").status_code == 404
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in page
    assert 'id="not-public"' not in page, "an https public URL is fine"


def test_the_landing_page_leaves_out_the_softphone_when_it_is_off(sqlite_url: str) -> None:
    from ivr.web import create_app

    client = create_app(make_settings(sqlite_url, softphone=False,
                                      public_url="http://localhost:5000")).test_client()
    page = text_of(client.get("/"))
    assert "/softphone" not in page and 'href="/login"' in page
    assert "http://localhost:5000/voice/incoming" in page
    assert 'id="not-public"' in page, "Twilio cannot call a plain-HTTP localhost"
    assert client.get("/softphone").status_code == 404


# Codes in words ---------------------------------------------------------------------------


def test_trigger_and_outcome_codes_are_said_in_words() -> None:
    from ivr.web.labels import in_words

    assert in_words("caller_request") == "asked for a person"
    assert in_words("low_confidence") == "could not understand clearly"
    assert in_words("no_input") == "silence"
    assert in_words("frustration") == "sounded frustrated"
    assert in_words("fault") == "a fault on our side"
    assert in_words("ringing") == "still ringing"
    assert in_words("caller-abandoned") == "caller hung up while waiting"
    assert in_words("lost") == "no report from Twilio (agent released)"
    assert in_words("fallback-voicemail") == "no agent free: sent to voicemail"
    assert in_words("fallback-number-ended") == \
        "no agent free: sent to the backup number, call ended"
    for unknown in ("some_new_trigger", "fallback-carrier-pigeon", "FAULT"):
        assert in_words(unknown) == unknown
    assert in_words(None) == "-"


def test_every_trigger_the_code_sets_has_words() -> None:
    from ivr.web.labels import OUTCOMES, TRIGGERS

    sources = [ROOT / "ivr" / "dialog" / "engine.py", ROOT / "ivr" / "app" / "calls.py"]
    set_in_code = {code for path in sources
                   for code in re.findall(r'trigger="(\w+)"', Path(path).read_text())}
    assert set_in_code and set_in_code <= set(TRIGGERS), set_in_code - set(TRIGGERS)
    assert not set(TRIGGERS) & set(OUTCOMES)


def test_figures_say_why_calls_went_to_a_person_in_words(app, accounts, taken) -> None:  # type: ignore[no-untyped-def]
    page = text_of(signed_in(app, "sue").get("/console/figures"))
    assert re.search(r"<td>asked for a person</td><td>1</td>", page)
    assert re.search(r"<td>taken by an agent</td><td>1</td>", page)
    assert "caller_request" not in page and "<td>accepted</td>" not in page
    fcr = re.search(r'id="fcr">(.*?)</dd>', page, re.S)
    assert fcr is not None
    assert re.fullmatch(r"100 % of calls were not followed by another call from the same "
                        r"caller within 7 days\s*<span[^>]*>\(1 of 1 calls with a caller ID; "
                        r"0 were followed by another\..*\)</span>", fcr.group(1), re.S)


# Times ------------------------------------------------------------------------------------


def test_times_on_the_call_page_are_in_the_business_time_zone(app, accounts, taken,  # type: ignore[no-untyped-def]
                                                              settings) -> None:
    page = text_of(signed_in(app, "ann").get(f"/console/calls/{taken}"))
    assert f"Times in {ZONE}" in page
    started = as_utc(stored_call(settings, taken).call.started_at)
    local = started.astimezone(ZoneInfo(ZONE))
    assert (f'<dt>Started</dt><dd><time datetime="{started:%Y-%m-%dT%H:%M:%SZ}">'
            f"{local:%Y-%m-%d %H:%M:%S} IST</time></dd>") in page
    assert re.search(r"accepted by you\s+at <time [^>]+>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d IST<", page)
    assert "UTC" not in page
    assert "caller_request" not in page and "(asked for a person)" not in page, \
        "the reason already says it"


def test_the_live_card_says_when_in_the_business_time_zone(app, accounts, new_call) -> None:  # type: ignore[no-untyped-def]
    call = new_call(caller=CALLER)
    call.start()
    assert call.say("agent").dial_target == ANN_TARGET
    look = app.extensions["ivr"].live.look("ann", ANN_TARGET, set())
    [card] = look.incoming
    ringing_since = datetime.fromisoformat(card.ringing_since).astimezone(ZoneInfo(ZONE))
    assert card.ringing_since_local == f"{ringing_since:%H:%M:%S} IST"


def test_an_admin_opens_an_agents_current_call_from_the_agents_page(app, accounts,  # type: ignore[no-untyped-def]
                                                                    taken) -> None:
    page = text_of(signed_in(app, "ada").get("/admin/agents"))
    assert f'href="/console/calls/{taken}"' in page
    assert f"Times in {ZONE}" in page and " IST</time></td>" in page


def test_the_agent_sees_what_the_assistant_already_answered(app, accounts, new_call,  # type: ignore[no-untyped-def]
                                                            settings) -> None:
    AgentDirectory(settings).add("ann", ANN_TARGET, ["support"], status="available",
                                 actor="test")
    call = new_call(caller=CALLER)
    call.start()
    assert "We're open" in call.say("what are your opening hours").text
    assert call.say("agent").dial_target == ANN_TARGET
    [card] = app.extensions["ivr"].live.look("ann", ANN_TARGET, set()).incoming
    assert card.summary.wants is None and card.summary.answered == ["know the opening hours"]
    call.agent_hears()
    call.agent_presses("1")
    page = text_of(signed_in(app, "ann").get(f"/console/calls/{call.call_sid}"))
    assert ("<dt>Already answered by the assistant</dt><dd>know the opening hours</dd>"
            in page)
    assert "<dt>Status</dt><dd>handed to a person</dd>" in page
    assert "<td>spoke</td>" in page and "<td>speech</td>" not in page

"""The agent console through the Flask test client: sign-in, CSRF, cookie flags, who may see
what, the admin forms, the audit trail and the sign-in rate limit. Calls are real: signed
Twilio webhooks, transferred, and accepted by an agent through the whisper."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import pytest
from conftest import make_settings
from helpers.console import CSRF, PASSWORD, csrf_token, sign_in, signed_in, text_of
from helpers.stored import audit_entries
from sqlalchemy import select

from ivr.app.accounts import Accounts
from ivr.storage import audit
from ivr.storage.db import session_scope
from ivr.storage.models import User

ANN_TARGET = "+15005550006"  # the first agent of the support queue (config/ivr.toml)
BOB_TARGET = "client:support-desk"  # the second
CALLER = "+14155550123"
LINK = re.compile(r'(?:href|action|src)="([^"]*)"')


@dataclass
class Calls:
    ann: str  # accepted by ann's target
    bob: str  # declined by ann's target, accepted by bob's
    bot: str  # handled by the bot, never transferred


@pytest.fixture
def accounts(app) -> Accounts:  # type: ignore[no-untyped-def]
    service: Accounts = app.extensions["ivr"].accounts
    service.add("ann", PASSWORD, "agent", agent_target=ANN_TARGET, actor="test")
    service.add("bob", PASSWORD, "agent", agent_target=BOB_TARGET, actor="test")
    service.add("sue", PASSWORD, "supervisor", actor="test")
    service.add("ada", PASSWORD, "admin", actor="test")
    return service


@pytest.fixture
def calls(new_call) -> Calls:  # type: ignore[no-untyped-def]
    ann = new_call(caller=CALLER)
    ann.start()
    assert "order number" in ann.say("where is my order").text
    assert ann.say("agent").dial_target == ANN_TARGET
    assert "Press 1 to take the call" in ann.agent_hears().text
    assert "Connecting you now" in ann.agent_presses("1").text

    bob = new_call(caller=CALLER)
    bob.start()
    bob.say("I forgot my password")
    assert bob.press("0").dial_target == ANN_TARGET
    bob.agent_hears()
    bob.agent_presses("2")  # ann's phone declines
    assert bob.dial_ends("completed").dial_target == BOB_TARGET
    bob.agent_hears()
    bob.agent_presses("1")

    bot = new_call(caller=CALLER)
    bot.start()
    bot.say("what are your opening hours")
    assert bot.say("no thanks").hangup
    return Calls(ann.call_sid, bob.call_sid, bot.call_sid)


def audit_trail(settings, **filters: str) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    return [(entry.actor, entry.action, entry.target)
            for entry in audit_entries(settings, **filters)]  # type: ignore[arg-type]


# Signing in and out ---------------------------------------------------------------------


def test_sign_in_rotates_the_session_and_sign_out_ends_it(app, client, accounts,  # type: ignore[no-untyped-def]
                                                          settings) -> None:
    page = client.get("/console")
    assert page.status_code == 302 and page.headers["Location"] == "/login"
    login_page = client.get("/login")
    assert login_page.status_code == 200
    assert 'name="password" type="password"' in text_of(login_page)
    anonymous_token = csrf_token(client)
    anonymous_cookie = client.get_cookie("session").value

    wrong = sign_in(client, "ann", "not the right password")
    assert wrong.status_code == 200 and "Wrong username or password." in text_of(wrong)
    assert client.get("/console").status_code == 302

    response = sign_in(client, "ANN ")
    assert response.status_code == 302 and response.headers["Location"] == "/console"
    assert client.get_cookie("session").value != anonymous_cookie
    home = client.get("/console")
    assert home.status_code == 200 and "ann (agent)" in text_of(home)
    assert csrf_token(client, "/console") != anonymous_token, "a new CSRF secret at sign-in"
    assert client.get("/login").headers["Location"] == "/console"

    # The cookie the browser had before signing in grants nothing.
    other = app.test_client()
    other.set_cookie("session", anonymous_cookie)
    assert other.get("/console").status_code == 302

    out = client.post("/logout", data={"csrf_token": csrf_token(client, "/console")})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert client.get("/console").status_code == 302
    assert audit_trail(settings, target="ann")[:3] == [
        ("ann", audit.SIGN_OUT, "ann"), ("ann", audit.SIGN_IN, "ann"),
        ("ann", audit.SIGN_IN_FAILED, "ann")]


def test_posts_without_the_csrf_token_are_refused(app, client, accounts, settings) -> None:  # type: ignore[no-untyped-def]
    refused = client.post("/login", data={"username": "ann", "password": PASSWORD})
    assert refused.status_code == 400 and "Form expired" in text_of(refused)
    assert client.get("/console").status_code == 302, "not signed in"

    admin = signed_in(app, "ada")
    for form in ({"username": "mallory", "role": "admin", "password": PASSWORD},
                 {"username": "mallory", "role": "admin", "password": PASSWORD,
                  "csrf_token": "forged.token"}):
        assert admin.post("/admin/users", data=form).status_code == 400
    assert admin.post("/admin/users/disable", data={"username": "ann"}).status_code == 400
    assert admin.post("/logout").status_code == 400
    assert admin.get("/console").status_code == 200, "still signed in"
    names = [user.username for user in accounts.list_users()]
    assert "mallory" not in names and not any(user.disabled for user in accounts.list_users())


def test_over_https_forms_also_need_a_same_origin_referer(app, accounts) -> None:  # type: ignore[no-untyped-def]
    """WTF_CSRF_SSL_STRICT is on: browsers send the Referer (the pages ask for same-origin)."""
    client, base = app.test_client(), "https://ivr.example.com"
    login_page = client.get("/login", base_url=base)
    assert login_page.headers["Referrer-Policy"] == "same-origin"
    form = {"username": "ann", "password": PASSWORD,
            "csrf_token": unescape(CSRF.search(login_page.get_data(as_text=True)).group(1))}
    assert client.post("/login", base_url=base, data=form).status_code == 400
    foreign = client.post("/login", base_url=base, data=form,
                          headers={"Referer": "https://evil.example.net/login"})
    assert foreign.status_code == 400
    signed = client.post("/login", base_url=base, data=form, headers={"Referer": base + "/login"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/console"


def test_twilio_webhooks_and_token_apis_need_no_csrf_token(new_call, client) -> None:  # type: ignore[no-untyped-def]
    call = new_call()
    assert call.start().status == 200 and call.say("agent").dial_target
    assert client.post("/softphone/session").status_code == 200


def test_session_cookie_flags(app, client, accounts, settings, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    response = sign_in(client, "ann")
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie, "the public URL is https"
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 8 * 3600
    assert "Expires=" in cookie
    assert app.secret_key not in (settings.secret.decode(), settings.secret)

    from ivr.web import create_app

    plain = create_app(make_settings(sqlite_url, public_url="http://localhost:5000"))
    plain_cookie = plain.test_client().get("/login").headers["Set-Cookie"]
    assert "; HttpOnly" in plain_cookie and "; SameSite=Lax" in plain_cookie
    assert "Secure" not in plain_cookie, "over plain HTTP a Secure cookie would never come back"


# Who sees what ---------------------------------------------------------------------------


def test_an_agent_sees_their_own_transfers_and_nothing_else(app, accounts, calls) -> None:  # type: ignore[no-untyped-def]
    ann = signed_in(app, "ann")
    home = text_of(ann.get("/console"))
    assert f"/console/calls/{calls.ann}" in home
    assert calls.bob not in home and calls.bot not in home
    assert "the caller asked for a person" in home
    assert "check the status of an order" in home

    view = ann.get(f"/console/calls/{calls.ann}")
    assert view.status_code == 200
    page = text_of(view)
    assert "where is my order" in page, "the transcript"
    assert "automated assistant" in page, "the bot's replies"
    assert "order_status" in page and "Transferred because" in page
    assert CALLER not in page and CALLER[1:] not in page

    missing = ann.get("/console/calls/CA" + "0" * 32)
    others = ann.get(f"/console/calls/{calls.bob}")
    bots = ann.get(f"/console/calls/{calls.bot}")
    assert missing.status_code == others.status_code == bots.status_code == 404
    assert "I forgot my password" not in text_of(others)
    strip = re.compile(r'value="[^"]*"|nonce[-=]"?[^"\s;]*')  # per-request tokens
    assert strip.sub("", text_of(others)) == strip.sub("", text_of(missing)), \
        "another agent's call looks exactly like no call at all"

    bob_page = text_of(signed_in(app, "bob").get(f"/console/calls/{calls.bob}"))
    assert "I forgot my password" in bob_page
    assert "accepted by you" in bob_page
    assert "<td>1</td><td>another agent</td><td>declined</td>" in bob_page, "not their number"
    assert ANN_TARGET not in bob_page

    for path in ("/console/figures", "/admin/users", "/admin/flows", "/admin/audit"):
        forbidden = ann.get(path)
        assert forbidden.status_code == 403, path
        assert "Not allowed" in text_of(forbidden)


def test_supervisors_see_figures_but_not_users(app, accounts, calls) -> None:  # type: ignore[no-untyped-def]
    sue = signed_in(app, "sue")
    figures = sue.get("/console/figures")
    assert figures.status_code == 200
    page = text_of(figures)
    assert re.search(r'id="calls">3<', page) and re.search(r'id="by-bot">1<', page)
    assert re.search(r'id="transferred">2<', page)
    assert re.search(r"<td>asked for a person</td><td>2</td>", page)
    assert re.search(r"<td>taken by an agent</td><td>2</td>", page)
    assert re.search(r'id="median-answer">\d+\.\d s \(over 2 answered transfers\)', page)
    for private in ("where is my order", "I forgot my password", calls.ann, calls.bob, CALLER):
        assert private not in page
    assert "no transferred calls are yours" in text_of(sue.get("/console"))
    assert sue.get(f"/console/calls/{calls.ann}").status_code == 404
    for path in ("/admin/users", "/admin/flows", "/admin/audit"):
        assert sue.get(path).status_code == 403, path


def test_admin_adds_and_disables_users_with_the_forms(app, accounts, settings) -> None:  # type: ignore[no-untyped-def]
    admin = signed_in(app, "ada")
    token = csrf_token(admin, "/admin/users")
    short = admin.post("/admin/users", data={"username": "carl", "role": "agent",
                                             "password": "too short", "csrf_token": token})
    assert short.status_code == 400 and "too short" in text_of(short)
    added = admin.post("/admin/users", data={
        "username": "carl", "role": "agent", "agent_target": "+15005550007",
        "password": PASSWORD, "csrf_token": token})
    assert added.status_code == 303 and added.headers["Location"] == "/admin/users"
    listing = text_of(admin.get("/admin/users"))
    assert "Added agent carl." in listing and "+15005550007" in listing
    assert "$argon2" not in listing

    carl = signed_in(app, "carl")
    assert carl.get("/console").status_code == 200

    self_disable = admin.post("/admin/users/disable",
                              data={"username": "ada", "csrf_token": token})
    assert self_disable.status_code == 400
    disabled = admin.post("/admin/users/disable", data={"username": "carl", "csrf_token": token})
    assert disabled.status_code == 303
    assert carl.get("/console").headers["Location"] == "/login", "the open session ended"
    assert sign_in(app.test_client(), "carl").status_code == 200, "and no new sign-in"
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(User.disabled).where(User.username == "carl")).one()
    trail = audit_trail(settings, target="carl")
    assert ("ada", audit.USER_ADDED, "carl") in trail
    assert ("ada", audit.USER_DISABLED, "carl") in trail


def test_admin_sees_flows_and_the_audit_trail(app, accounts, calls, support_flow) -> None:  # type: ignore[no-untyped-def]
    signed_in(app, "ann").get(f"/console/calls/{calls.ann}")
    admin = signed_in(app, "ada")
    flows = text_of(admin.get("/admin/flows"))
    assert "support" in flows and "support.yaml" in flows
    assert f"<td>{len(support_flow.intents)}</td>" in flows
    assert f"{len(support_flow.states)}: main_menu" in flows
    trail = text_of(admin.get("/admin/audit"))
    assert re.search(rf"<td>ann</td><td>{audit.VIEW_CALL}</td>\s*<td>{calls.ann}</td>", trail)
    assert admin.get(f"/console/calls/{calls.ann}").status_code == 404, \
        "admins see their own calls only, like everyone"


# Audit and limits ------------------------------------------------------------------------


def test_every_call_view_is_audited(app, accounts, calls, settings) -> None:  # type: ignore[no-untyped-def]
    ann = signed_in(app, "ann")
    assert audit_trail(settings, action=audit.VIEW_CALL) == []
    ann.get("/console")
    assert audit_trail(settings, action=audit.VIEW_CALL) == [], "the list is not a call view"
    for _ in range(2):
        assert ann.get(f"/console/calls/{calls.ann}").status_code == 200
    assert ann.get(f"/console/calls/{calls.bob}").status_code == 404
    assert audit_trail(settings, action=audit.VIEW_CALL) == [
        ("ann", audit.VIEW_CALL, calls.ann)] * 2


def test_the_sixth_failed_sign_in_gets_429(app, client, accounts, settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.privacy.sign_in_attempts == 5
    for attempt in range(5):
        response = sign_in(client, "ann", f"wrong password number {attempt}")
        assert response.status_code == 200, attempt
    limited = sign_in(client, "ann", PASSWORD)
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in text_of(limited)
    assert client.get("/console").status_code == 302
    assert sign_in(app.test_client(), "ann", PASSWORD).status_code == 429, "every client"
    assert sign_in(app.test_client(), "bob", PASSWORD).status_code == 429, \
        "and this address is limited for other accounts too"


def test_pages_are_not_cached_and_run_no_scripts(app, accounts, calls) -> None:  # type: ignore[no-untyped-def]
    ann = signed_in(app, "ann")
    for path in ("/login", "/console", f"/console/calls/{calls.ann}"):
        response = ann.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy, path
        assert "frame-ancestors 'none'" in policy
        assert "<script" not in text_of(response)


def test_no_personal_data_in_any_url_the_pages_link_to(app, accounts, calls) -> None:  # type: ignore[no-untyped-def]
    allowed = re.compile(r"^/(login|logout|static/console\.js|"
                         r"console(/figures|/presence|/live|/calls/CA[0-9a-f]{32}(/feedback)?)?|"
                         r"admin/(users|users/disable|flows|audit|agents(/queues|/status|/remove)?))$")
    private = [CALLER, CALLER[1:], "where is my order", "where", "password", ANN_TARGET,
               BOB_TARGET, "support-desk"]
    seen: set[str] = set()
    for username in ("ann", "bob", "sue", "ada"):
        client = signed_in(app, username)
        queue = ["/console"]
        visited: set[str] = set()
        while queue:
            path = queue.pop()
            if path in visited or path == "/logout":
                continue
            visited.add(path)
            response = client.get(path)
            links = LINK.findall(response.get_data(as_text=True))
            if "Location" in response.headers:
                links.append(response.headers["Location"])
            for link in links:
                seen.add(link)
                assert allowed.match(link), (path, link)
                if "/disable" not in link:
                    queue.append(link)
    assert f"/console/calls/{calls.ann}" in seen and f"/console/calls/{calls.bob}" in seen
    for link in seen:
        for secret in private:
            assert secret not in link, (link, secret)

"""Console sign-in: `/login`, `/logout`, the signed-in user (`me()`), `require(permission)`,
and what every console page shares (`page`, `secure_headers`).

The session cookie only holds the user's id and when they signed in; the user is read from
the database on every request, so disabling someone (or changing their role) takes effect on
their next click. Sessions end 8 hours after sign-in however active they are.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from ivr.app.accounts import Account, TooManyAttempts
from ivr.web.context import accounts

auth = Blueprint("auth", __name__)

P = ParamSpec("P")
MAX_USERNAME_FIELD = 200
MAX_PASSWORD_FIELD = 4096


def current_account() -> Account | None:
    """The signed-in, enabled user of this request, or None (and the session is dropped)."""
    if "account" in g:
        return g.account
    account = None
    user_id, since = session.get("uid"), session.get("since")
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if isinstance(user_id, int) and isinstance(since, int) and 0 <= time.time() - since < lifetime:
        account = accounts().active(user_id)
    if account is None and "uid" in session:
        session.clear()
    g.account = account
    return account


def me() -> Account:
    """The signed-in user, in a view behind `require()`."""
    account = current_account()
    assert account is not None, "only called behind require()"
    return account


def require(permission: str) -> Callable[[Callable[P, Any]], Callable[P, Any]]:
    """Only for signed-in users with `permission`: others go to /login, or get a 403 page."""

    def decorator(view: Callable[P, Any]) -> Callable[P, Any]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> Any:
            account = current_account()
            if account is None:
                return redirect(url_for("staff.auth.login"))
            if not account.can(permission):
                return page("console_error.html", 403, title="Not allowed",
                            message="Your role does not give you access to this page.")
            return view(*args, **kwargs)

        return guarded

    return decorator


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A console page with the signed-in user and the style nonce in its context."""
    html = render_template(template, account=current_account(), csp_nonce=_csp_nonce(),
                           **context)
    return Response(html, status=status, mimetype="text/html")


def _csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def secure_headers(response: Response) -> Response:
    """No framing, nothing cached: console pages show what callers said. No scripts either,
    except on pages that set `g.csp_scripts` (the live console): there only the script tags
    carrying this request's nonce run, and they may talk to this origin only."""
    style = f"'nonce-{g.csp_nonce}'" if "csp_nonce" in g else "'none'"
    scripts = (f"script-src 'nonce-{g.csp_nonce}'; connect-src 'self'; "
               if "csp_nonce" in g and g.get("csp_scripts") else "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; {scripts}style-src {style}; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Same-origin form posts keep their Referer: Flask-WTF checks it on HTTPS.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@auth.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        if current_account() is not None:
            return redirect(url_for("staff.console.home"))
        return page("login.html")
    username = request.form.get("username", "")[:MAX_USERNAME_FIELD]
    password = request.form.get("password", "")[:MAX_PASSWORD_FIELD]
    service = accounts()
    try:
        account = service.authenticate(username, password,
                                       service.client_key(request.remote_addr or ""))
    except TooManyAttempts as error:
        minutes = max(1, round(error.retry_after / 60))
        response = page("console_error.html", 429, title="Too many attempts",
                        message=f"Too many failed sign-ins. Try again in about {minutes} "
                                f"minute{'s' if minutes != 1 else ''}.")
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if account is None:
        return page("login.html", error="Wrong username or password.", username=username)
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    session.permanent = True
    session["uid"] = account.id
    session["since"] = int(time.time())
    g.account = account
    return redirect(url_for("staff.console.home"))


@auth.post("/logout")
def logout() -> ResponseReturnValue:
    account = current_account()
    if account is not None:
        accounts().signed_out(account)
    session.clear()
    return redirect(url_for("staff.auth.login"))


@auth.app_errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> Response:
    response = page("console_error.html", 400, title="Form expired",
                    message="This form was not sent from a current console page. Go back, "
                            "reload the page and try again.")
    return secure_headers(response)

"""`GET /`: what this server is, where people go next (the softphone, the console's sign-in),
and the webhook URLs to paste into Twilio's console for the phone number. Public: it shows
settings only, never call data, and runs no script (the console's security headers)."""

from __future__ import annotations

from flask import Blueprint, current_app, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from ivr.web.auth import page
from ivr.web.context import settings

landing = Blueprint("landing", __name__)

WEBHOOKS = (
    ("A call comes in", "/voice/incoming"),
    ("Primary handler fails", "/voice/fallback"),
    ("Call status changes", "/voice/status"),
)
"""The number's voice settings in Twilio's console, and the path each one calls (POST)."""


@landing.get("/")
def home() -> ResponseReturnValue:
    config = settings()
    links = []
    if config.softphone:
        links.append((url_for("softphone.page"), "Talk to the assistant in your browser",
                      "the softphone: your microphone instead of a phone, no Twilio needed"))
    links.append((url_for("staff.auth.login"), "Sign in to the agent console",
                  "for agents, supervisors and admins"))
    if _served("/about"):
        links.append(("/about", "About this server", ""))
    return page("landing.html", business=config.business.name, links=links,
                public_url=config.public_url,
                webhooks=[(label, config.public_url + path) for label, path in WEBHOOKS],
                reachable=config.public_url.startswith("https://"))


def _served(path: str) -> bool:
    """Whether this app answers GET `path` (a page another part of the app may add)."""
    try:
        current_app.url_map.bind_to_environ(request.environ).match(path, "GET")
    except RequestRedirect:
        return True
    except HTTPException:
        return False
    return True

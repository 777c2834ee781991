"""The pages for people (the landing page `/`, sign-in, calls, admin, agents, live console)
under one parent blueprint: every response of theirs carries the console's security headers.

Nesting prefixes endpoint names, not URLs: `/console` is `staff.console.home`.
"""

from __future__ import annotations

from flask import Blueprint

from ivr.web.agents import agent_pages
from ivr.web.auth import auth, secure_headers
from ivr.web.console import console
from ivr.web.landing import landing
from ivr.web.live import live

staff = Blueprint("staff", __name__)
staff.after_request(secure_headers)
for child in (landing, auth, console, agent_pages, live):
    staff.register_blueprint(child)

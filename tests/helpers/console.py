"""The agent console through Flask's test client: CSRF tokens, signing in, page text."""

from __future__ import annotations

import re
from html import unescape

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "a long enough password"
"""The password the tests give every console account."""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the form on the page at `path` (which must answer 200)."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return unescape(match.group(1))


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    """Post the sign-in form as a browser would (with the login page's CSRF token); the
    response is the caller's to check."""
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})


def signed_in(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    """A new test client of `app`, signed in as `username`; fails the test unless the sign-in
    leads to the console."""
    client = app.test_client()
    response = sign_in(client, username, password)
    assert response.status_code == 302 and response.headers["Location"] == "/console"
    return client


def text_of(response: TestResponse) -> str:
    """The response's body as text, HTML entities decoded."""
    return unescape(response.get_data(as_text=True))

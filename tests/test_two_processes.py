"""Call state lives in the database: two server processes serve alternate turns of one call."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import requests
from helpers.stored import stored_call
from servers import PUBLIC_URL, TOKEN, start_servers

from ivr.testing.simulated_call import Post, SimulatedCall


@pytest.fixture
def two_servers(request) -> Iterator[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    database_url = request.getfixturevalue(request.param)
    processes, urls = start_servers(database_url, 2, request.getfixturevalue("tmp_path"))
    try:
        yield database_url, urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def alternating(urls: list[str], served: list[str]) -> Post:
    http = requests.Session()
    turn = itertools.cycle(urls)

    def post(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        url = next(turn)
        served.append(url)
        response = http.post(url + path, data=form, headers=headers, timeout=10)
        return response.status_code, response.text

    return post


@pytest.mark.slow
@pytest.mark.parametrize("two_servers", ["sqlite_url", "fresh_postgres_url"], indirect=True)
def test_alternate_turns_on_two_processes(two_servers) -> None:  # type: ignore[no-untyped-def]
    database_url, urls = two_servers
    served: list[str] = []
    call = SimulatedCall(alternating(urls, served), auth_token=TOKEN, public_url=PUBLIC_URL)
    assert call.start().listening
    assert "order number" in call.say("I want to track my package").text
    assert "shipped" in call.press("123456").text
    assert "anything else" in call.last.text  # type: ignore[union-attr]
    assert "text a password reset link" in call.say("yes I forgot my password").text.lower() or \
        call.last.listening  # type: ignore[union-attr]
    heard = call.say("agent")
    assert heard.dial_target
    assert set(served) == set(urls)
    _, turns, transfer = stored_call(database_url, call.call_sid)
    assert [turn.seq for turn in turns] == list(range(1, len(turns) + 1))
    assert transfer is not None and transfer.summary["slots"]["order_number"] == "123456"

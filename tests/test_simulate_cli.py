"""`ivr simulate`: a person holds a call in the terminal through the signed webhooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def run_simulation(lines: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'sim.sqlite3'}",
           "IVR_CONFIG_DIR": str(ROOT / "config"), "IVR_DIALOGS": str(ROOT / "dialogs")}
    env.pop("TWILIO_AUTH_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "ivr.cli", "simulate"], input=lines, env=env,
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def test_simulated_call_shows_decisions_and_the_transfer_summary(tmp_path: Path) -> None:
    result = run_simulation("where is my order\n#123456\n\nI want a real person\n", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "automated assistant" in out
    assert "intent order_status" in out
    assert "action action_order_status: ok" in out
    assert "shipped" in out
    assert "-> ringing +15005550006" in out
    assert "agent hears> Incoming call from the automated assistant" in out
    assert '"trigger": "caller_request"' in out
    assert '"order_number": "123456"' in out


def test_simulated_call_can_end_with_goodbye(tmp_path: Path) -> None:
    result = run_simulation("opening hours\nno\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "We're open" in result.stdout and "call ended" in result.stdout


def test_each_turn_shows_only_its_own_decisions(tmp_path: Path) -> None:
    result = run_simulation("where is my order\n#123456\nopening hours\nno\n", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("[action action_order_status: ok]") == 1
    assert out.count("[action action_opening_hours: ok]") == 1
    assert out.index("[action action_order_status: ok]") < out.index("We're open")


def test_the_agent_takes_the_call_then_the_caller_answers_the_survey(tmp_path: Path) -> None:
    result = run_simulation("agent\n1\n\n5\n", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "agent hears> Connecting you now" in out
    assert "-- the caller and the agent talk --" in out
    assert "how satisfied were you" in out
    assert out.index("how satisfied") < out.index("Thank you, goodbye.")
    assert "-- call ended --" in out


def test_a_declined_then_unanswered_transfer_reaches_the_fallback(tmp_path: Path) -> None:
    result = run_simulation("agent\n2\n\n", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "agent hears> Okay, passing the call on." in out
    assert out.count("-> ringing ") == 2  # the configured targets in turn
    assert "-- no answer --" in out
    assert "everyone on the team is busy" in out and "-- call ended --" in out

"""Broken flows are refused with the file, the line and a fix; the bundled ones pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.app.flows import SCHEMA_FILE, flow_json_schema, load_flows
from ivr.dialog.parse import FlowError, parse_flow

ROOT = Path(__file__).resolve().parent.parent
GOOD = """\
name: mini
disclosure: You're talking to an automated assistant. Say agent to reach a person.
start: menu
intents:
  hours:
    examples: [when are you open, opening hours, what time do you close]
states:
  menu:
    ask: How can I help?
    on:
      hours: bye
  bye:
    say: Goodbye.
    hangup: true
"""


def issues_of(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(FlowError) as caught:
        parse_flow(text, "flows/mini.yaml")
    return [(issue.line, issue.message, issue.fix) for issue in caught.value.issues]


def test_the_minimal_flow_is_valid() -> None:
    assert parse_flow(GOOD, "mini.yaml").start == "menu"


def test_bundled_flows_are_valid() -> None:
    flows = load_flows(ROOT / "dialogs")
    assert "support" in flows


@pytest.mark.parametrize(
    ("broken", "line", "words"),
    [
        (GOOD.replace("  hours: bye", "  hours: by"), 11, "no state called `by`"),
        (GOOD.replace("      hours: bye", "      hourz: bye"), 11, "no intent `hourz`"),
        (GOOD.replace("start: menu", "start: mneu"), 3, "no state called `mneu`"),
        (GOOD.replace("    ask: How", "    aks: How"), 9, "`aks` is not a setting"),
        (GOOD.replace("disclosure: You're talking to an automated assistant.",
                      "disclosure: Welcome to Acme."), 2, "automated assistant"),
        (GOOD.replace(" Say agent to reach a person.", ""), 2, "how to reach a person"),
        (GOOD.replace("disclosure: You're talking to an automated assistant. Say agent to "
                      "reach a person.\n", ""), 1, "`disclosure` is missing"),
        (GOOD.replace("    say: Goodbye.\n    hangup: true", "    say: Goodbye.\n    next: bye"),
         14, "loop of statements"),
        (GOOD.replace("examples: [when are you open, opening hours, what time do you close]",
                      "examples: [hours]"), 6, "1 example phrases"),
        (GOOD + "  orphan:\n    say: hi\n    next: bye\n", 15, "can never be reached"),
        (GOOD.replace("    ask: How can I help?\n",
                      "    ask: How can I help?\n    keys: {'0': hours}\n"),
         10, "key 0 always reaches a person"),
        (GOOD.replace("  bye:\n    say: Goodbye.\n    hangup: true",
                      "  bye:\n    ask: Card?\n    slot: {name: card_number, type: digits}\n"
                      "    next: menu"), 14, "card numbers"),
        (GOOD.replace("  menu:\n", "  menu:\n    action: do_it\n"), 8, "a state does one thing"),
        (GOOD.replace("name: mini", "name: mini\n  oops: [unclosed"), 2, "not valid YAML"),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ],
)
def test_broken_flows_name_the_line_and_the_fix(broken: str, line: int, words: str) -> None:
    found = issues_of(broken)
    messages = " | ".join(f"{n}: {m} ({f})" for n, m, f in found)
    assert any(words in message and n == line for n, message, _ in found), messages
    assert all(str(issue) for issue in found)


def test_every_issue_has_a_fix_where_one_is_known() -> None:
    found = issues_of(GOOD.replace("  hours: bye", "  hours: by"))
    assert found[0][2] == "did you mean `bye`?"


def test_actions_need_a_home() -> None:
    broken = GOOD.replace("      hours: bye", "      hours: look").replace(
        "  bye:", "  look:\n    action: action_hours\n    next: bye\n  bye:")
    found = issues_of(broken)
    assert any("where they live" in message for _, message, _ in found)


def test_published_json_schema_is_current() -> None:
    published = (ROOT / "dialogs" / SCHEMA_FILE).read_text()
    assert json.loads(published) == json.loads(flow_json_schema()), (
        "run: ivr dialogs schema --write dialogs/flow.schema.json")


@pytest.mark.slow
def test_dialogs_check_command_reports_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(GOOD.replace("  hours: bye", "  hours: by"))
    result = subprocess.run([sys.executable, "-m", "ivr.cli", "dialogs", "check", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert f"{tmp_path / 'mini.yaml'}:11: there is no state called `by`" in result.stderr
    ok = subprocess.run([sys.executable, "-m", "ivr.cli", "dialogs", "check",
                         str(ROOT / "dialogs")], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "ok: flow 'support'" in ok.stdout


@pytest.mark.slow
def test_serve_refuses_an_invalid_flow_with_the_same_message(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(GOOD.replace("start: menu", "start: mneu"))
    env = {"PATH": "/usr/bin:/bin", "IVR_DIALOGS": str(tmp_path), "IVR_FLOW": "mini",
           "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "IVR_CONFIG_DIR": str(ROOT / "config")}
    result = subprocess.run([sys.executable, "-m", "ivr.cli", "serve", "--port", "0"],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 2
    assert f"{tmp_path / 'mini.yaml'}:3: there is no state called `mneu`" in result.stderr

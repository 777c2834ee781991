"""The agent console: server-rendered pages for agents, supervisors and admins.

Agents see only calls they took (`ivr.app.accounts.may_see_call`); any other call is a 404, so the
page does not even confirm it exists. Each call view is written to the audit trail in the same
transaction that reads the call. Figures are aggregates only. URLs carry call SIDs, never
phone numbers or words callers said.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ivr.app.accounts import AUDIT, FIGURES, FLOWS, OWN_CALLS, ROLES, USERS, AccountError
from ivr.app.queries import CallView
from ivr.web.auth import me, page, require
from ivr.web.context import accounts, services, settings

console = Blueprint("console", __name__)

AUDIT_PAGE_SIZE = 200
MAX_CORRECTION = 1000
VERDICTS = {"right": True, "wrong": False, "": None}
NOT_FOUND = "There is no call here that you can see."


# Agents ----------------------------------------------------------------------------------


@console.get("/console")
@require(OWN_CALLS)
def home() -> ResponseReturnValue:
    """The signed-in agent's transfers, newest first."""
    return page("console_calls.html", transfers=services().queries.own_transfers(me()))


@console.get("/console/calls/<call_sid>")
@require(OWN_CALLS)
def call_view(call_sid: str) -> ResponseReturnValue:
    """One call the agent took: summary, transcript and transfer attempts (audited)."""
    account = me()
    call = services().queries.call_for_agent(call_sid, account)
    if call is None:
        return page("console_error.html", 404, title="Not found", message=NOT_FOUND)
    return page("console_call.html", call=_call_page(call, account.agent_target))


def _call_page(call: CallView, agent_target: str | None) -> dict[str, Any]:
    """The call as its page shows it: other agents are "another agent", never a number."""
    def who(target: str | None) -> str:
        if target is None:
            return "-"
        return "you" if target == agent_target else "another agent"

    transfers = []
    for transfer in call.transfers:
        summary = transfer.summary
        mine = bool(agent_target) and transfer.accepted_by == agent_target
        transfers.append({
            "id": transfer.id, "mine": mine, "feedback": call.feedback.get(transfer.id),
            "at": transfer.created_at, "reason": transfer.reason, "trigger": transfer.trigger,
            "queue": transfer.queue, "outcome": transfer.outcome,
            "accepted_by": who(transfer.accepted_by), "answered_at": transfer.answered_at,
            "spoken": transfer.spoken_summary, "wants": summary.get("caller_wants"),
            "requests": summary.get("all_requests") or [], "slots": summary.get("slots") or {},
            "answered": summary.get("answered_requests") or [],
            "actions": summary.get("actions") or [],
            "attempts": [{"number": attempt.number, "who": who(attempt.target),
                          "outcome": attempt.outcome, "at": attempt.at}
                         for attempt in transfer.attempts],
        })
    turns = [{"seq": turn.seq, "kind": turn.kind, "heard": turn.heard, "digits": turn.digits,
              "intent": turn.intent, "confidence": turn.intent_confidence,
              "action": turn.action, "action_ok": turn.action_ok, "reply": turn.reply,
              "at": turn.created_at}
             for turn in call.turns]
    return {"sid": call.call_sid, "flow": call.flow, "status": call.status,
            "started_at": call.started_at, "ended_at": call.ended_at,
            "duration": call.duration_seconds, "turns": turns, "transfers": transfers,
            "intents": services().feedback.intent_choices(call.flow)}


@console.post("/console/calls/<call_sid>/feedback")
@require(OWN_CALLS)
def give_feedback(call_sid: str) -> ResponseReturnValue:
    """The agent who took a transfer says whether the bot's intent and summary were right,
    and what was right instead. One per agent per transfer; sending again replaces it."""
    form = request.form
    intent_verdict = form.get("intent", "")
    summary_verdict = form.get("summary", "")
    if intent_verdict not in VERDICTS or summary_verdict not in VERDICTS:
        return _feedback_refused("Choose thumbs up or thumbs down.")
    result = services().feedback.give(
        me(), call_sid, form.get("transfer", ""), intent_correct=VERDICTS[intent_verdict],
        summary_correct=VERDICTS[summary_verdict],
        corrected_intent=form.get("corrected_intent", "").strip()[:64] or None,
        correction=form.get("correction", "").strip()[:MAX_CORRECTION])
    match result:
        case "nothing-said":
            return _feedback_refused("Say whether the intent or the summary was right, pick "
                                     "the right intent, or write a correction.")
        case "unknown-intent":
            return _feedback_refused("That intent is not one of this call's flow.")
        case "not-found":
            return page("console_error.html", 404, title="Not found", message=NOT_FOUND)
    flash("Thank you: your feedback is saved." if result == "saved"
          else "Your feedback is updated.")
    return redirect(url_for("staff.console.call_view", call_sid=call_sid), 303)


def _feedback_refused(message: str) -> ResponseReturnValue:
    return page("console_error.html", 400, title="Feedback not saved",
                message=message + " Go back to the call and try again.")


# Supervisors -----------------------------------------------------------------------------


@console.get("/console/figures")
@require(FIGURES)
def figures() -> ResponseReturnValue:
    """Counts over every stored call; no transcripts, no call SIDs."""
    return page("console_figures.html", figures=services().queries.figures())


# Admins ----------------------------------------------------------------------------------


@console.get("/admin/users")
@require(USERS)
def users_page() -> ResponseReturnValue:
    return _users_page()


def _users_page(status: int = 200, error: str | None = None,
                form: dict[str, str] | None = None) -> ResponseReturnValue:
    return page("admin_users.html", status, users=accounts().list_users(), roles=ROLES,
                error=error, form=form or {})


@console.post("/admin/users")
@require(USERS)
def add_user() -> ResponseReturnValue:
    form = {field: request.form.get(field, "")[:200]
            for field in ("username", "role", "agent_target")}
    try:
        added = accounts().add(form["username"], request.form.get("password", "")[:4096],
                               form["role"], agent_target=form["agent_target"] or None,
                               actor=me().username)
    except AccountError as error:
        return _users_page(400, str(error), form)
    flash(f"Added {added.role} {added.username}.")
    return redirect(url_for("staff.console.users_page"), 303)


@console.post("/admin/users/disable")
@require(USERS)
def disable_user() -> ResponseReturnValue:
    username = request.form.get("username", "")[:200]
    if username.strip().lower() == me().username:
        return _users_page(400, "You cannot disable your own account.")
    try:
        disabled = accounts().disable(username, actor=me().username)
    except AccountError as error:
        return _users_page(400, str(error))
    flash(f"Disabled {disabled.username}; their open sessions have ended.")
    return redirect(url_for("staff.console.users_page"), 303)


@console.get("/admin/flows")
@require(FLOWS)
def flows_page() -> ResponseReturnValue:
    """The flows this process is running, read-only."""
    flows = services().flows
    folder = Path(settings().dialogs_dir)
    files = _flow_files(folder)
    rows = [{"name": name, "file": files.get(name, "-"), "states": list(flow.states),
             "intents": len(flow.intents), "default": name == settings().default_flow}
            for name, flow in sorted(flows.items())]
    return page("admin_flows.html", flows=rows, folder=str(folder))


def _flow_files(folder: Path) -> dict[str, str]:
    """Flow name to file name (flows do not remember their file once parsed)."""
    files: dict[str, str] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            files.setdefault(data["name"], path.name)
    return files


@console.get("/admin/audit")
@require(AUDIT)
def audit_page() -> ResponseReturnValue:
    return page("admin_audit.html", entries=services().queries.audit_trail(limit=AUDIT_PAGE_SIZE),
                limit=AUDIT_PAGE_SIZE)

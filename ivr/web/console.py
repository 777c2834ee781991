"""The agent console: server-rendered pages for agents, supervisors and admins.

Agents see only calls they took (`ivr.app.accounts.may_see_call`); any other call is a 404, so the
page does not even confirm it exists. Each call view is written to the audit trail in the same
transaction that reads the call. Figures are aggregates only. URLs carry call SIDs, never
phone numbers or words callers said.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ivr.app.accounts import (
    AUDIT,
    FIGURES,
    FLOWS,
    OWN_CALLS,
    ROLES,
    USERS,
    Account,
    AccountError,
    may_see_call,
    own_transfers,
)
from ivr.dialog.schema import Flow
from ivr.privacy.redaction import redact
from ivr.storage import audit, repository, surveys
from ivr.storage import feedback as feedback_store
from ivr.storage import figures as figures_queries
from ivr.storage.db import session_scope
from ivr.storage.models import Call, Transfer, as_utc
from ivr.web.auth import accounts, current_account, page, require, secure_headers
from ivr.web.context import settings

console = Blueprint("console", __name__)
console.after_request(secure_headers)

MAX_SID_LENGTH = 64
AUDIT_PAGE_SIZE = 200
MAX_CORRECTION = 1000
VERDICTS = {"right": True, "wrong": False, "": None}
TRANSFER_ID = re.compile(r"[0-9]{1,12}")


@console.app_template_filter("when")
def when(moment: datetime | None) -> str:
    """A stored time as UTC text (SQLite gives naive datetimes back, all of them UTC)."""
    if moment is None:
        return "-"
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _me() -> Account:
    account = current_account()
    assert account is not None, "only called behind require()"
    return account


# Agents ----------------------------------------------------------------------------------


@console.get("/console")
@require(OWN_CALLS)
def home() -> ResponseReturnValue:
    """The signed-in agent's transfers, newest first."""
    account = _me()
    with session_scope(settings().database_url) as session:
        rows = [{"call_sid": transfer.call.call_sid, "at": transfer.created_at,
                 "reason": transfer.reason, "wants": (transfer.summary or {}).get("caller_wants"),
                 "outcome": transfer.outcome}
                for transfer in own_transfers(session, account)]
    return page("console_calls.html", transfers=rows)


@console.get("/console/calls/<call_sid>")
@require(OWN_CALLS)
def call_view(call_sid: str) -> ResponseReturnValue:
    """One call the agent took: summary, transcript and transfer attempts (audited)."""
    account = _me()
    view = None
    if len(call_sid) <= MAX_SID_LENGTH:
        with session_scope(settings().database_url) as session:
            call = repository.get_call(session, call_sid)
            if call is not None and may_see_call(session, account, call):
                audit.record(session, account.username, audit.VIEW_CALL, call.call_sid)
                view = _call_details(session, call, account)
    if view is None:
        return page("console_error.html", 404, title="Not found",
                    message="There is no call here that you can see.")
    return page("console_call.html", call=view)


def _call_details(session: Session, call: Call, account: Account) -> dict[str, Any]:
    def who(target: str | None) -> str:
        if target is None:
            return "-"
        return "you" if target == account.agent_target else "another agent"

    mine = [transfer.id for transfer in call.transfers
            if account.agent_target and transfer.accepted_by == account.agent_target]
    given = feedback_store.of(session, mine, account.username)
    transfers = []
    for transfer in call.transfers:
        summary = transfer.summary or {}
        transfers.append({
            "id": transfer.id, "mine": transfer.id in mine, "feedback": given.get(transfer.id),
            "at": transfer.created_at, "reason": transfer.reason, "trigger": transfer.trigger,
            "queue": transfer.queue, "outcome": transfer.outcome,
            "accepted_by": who(transfer.accepted_by), "answered_at": transfer.answered_at,
            "spoken": transfer.spoken_summary, "wants": summary.get("caller_wants"),
            "requests": summary.get("all_requests") or [], "slots": summary.get("slots") or {},
            "actions": summary.get("actions") or [],
            "attempts": [{"number": int(attempt.get("index", 0)) + 1,
                          "who": who(attempt.get("target")),
                          "outcome": attempt.get("outcome"), "at": _parse_time(attempt.get("at"))}
                         for attempt in transfer.attempts or []],
        })
    turns = [{"seq": turn.seq, "kind": turn.kind, "heard": turn.heard, "digits": turn.digits,
              "intent": turn.intent, "confidence": turn.intent_confidence,
              "action": turn.action, "action_ok": turn.action_ok, "reply": turn.reply,
              "at": turn.created_at}
             for turn in repository.turns_of(session, call)]
    return {"sid": call.call_sid, "flow": call.flow, "status": call.status,
            "started_at": call.started_at, "ended_at": call.ended_at,
            "duration": call.duration_seconds, "turns": turns, "transfers": transfers,
            "intents": _intent_choices(call.flow)}


def _intent_choices(flow_name: str) -> list[tuple[str, str]]:
    """(name, words) of the flow's intents: what an agent may say the caller really wanted."""
    flow: Flow | None = current_app.extensions["ivr"]["flows"].get(flow_name)
    if flow is None:
        return []
    return [(name, flow.intent_description(name)) for name in flow.intents]


@console.post("/console/calls/<call_sid>/feedback")
@require(OWN_CALLS)
def give_feedback(call_sid: str) -> ResponseReturnValue:
    """The agent who took a transfer says whether the bot's intent and summary were right,
    and what was right instead. One per agent per transfer; sending again replaces it."""
    account = _me()
    form = request.form
    intent_verdict = form.get("intent", "")
    summary_verdict = form.get("summary", "")
    corrected = form.get("corrected_intent", "").strip()[:64] or None
    correction = redact(form.get("correction", "").strip()[:MAX_CORRECTION]) or None
    if intent_verdict not in VERDICTS or summary_verdict not in VERDICTS:
        return _feedback_refused("Choose thumbs up or thumbs down.")
    intent_correct, summary_correct = VERDICTS[intent_verdict], VERDICTS[summary_verdict]
    if intent_correct:
        corrected = None  # the bot's intent was right: there is nothing to correct it to
    if intent_correct is None and summary_correct is None and not corrected and not correction:
        return _feedback_refused("Say whether the intent or the summary was right, pick the "
                                 "right intent, or write a correction.")
    new = None
    with session_scope(settings().database_url, write_lock=True) as session:
        transfer = _own_transfer(session, account, call_sid, form.get("transfer", ""))
        if transfer is not None:
            if corrected is not None and corrected not in dict(_intent_choices(transfer.call.flow)):
                return _feedback_refused("That intent is not one of this call's flow.")
            new = feedback_store.save(
                session, transfer, account.username, intent_correct=intent_correct,
                summary_correct=summary_correct, corrected_intent=corrected,
                correction=correction)
            audit.record(session, account.username, audit.FEEDBACK, call_sid,
                         transfer=transfer.id, updated=not new)
    if new is None:
        return page("console_error.html", 404, title="Not found",
                    message="There is no call here that you can see.")
    flash("Thank you: your feedback is saved." if new else "Your feedback is updated.")
    return redirect(url_for("console.call_view", call_sid=call_sid), 303)


def _own_transfer(session: Session, account: Account, call_sid: str,
                  transfer_id: str) -> Transfer | None:
    """The transfer of a call this account may see that this account's target accepted."""
    if len(call_sid) > MAX_SID_LENGTH or not TRANSFER_ID.fullmatch(transfer_id):
        return None
    call = repository.get_call(session, call_sid)
    if call is None or not may_see_call(session, account, call):
        return None
    return next((transfer for transfer in call.transfers
                 if transfer.id == int(transfer_id)
                 and transfer.accepted_by == account.agent_target), None)


def _feedback_refused(message: str) -> ResponseReturnValue:
    return page("console_error.html", 400, title="Feedback not saved",
                message=message + " Go back to the call and try again.")


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


# Supervisors -----------------------------------------------------------------------------


@console.get("/console/figures")
@require(FIGURES)
def figures() -> ResponseReturnValue:
    """Counts over every stored call; no transcripts, no call SIDs."""
    with session_scope(settings().database_url) as session:
        numbers = figures_queries.call_figures(session)
        numbers["feedback"] = figures_queries.feedback_figures(session)
        numbers.update(surveys.survey_figures(session))
    return page("console_figures.html", figures=numbers)


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
                               actor=_me().username)
    except AccountError as error:
        return _users_page(400, str(error), form)
    flash(f"Added {added.role} {added.username}.")
    return redirect(url_for("console.users_page"), 303)


@console.post("/admin/users/disable")
@require(USERS)
def disable_user() -> ResponseReturnValue:
    username = request.form.get("username", "")[:200]
    if username.strip().lower() == _me().username:
        return _users_page(400, "You cannot disable your own account.")
    try:
        disabled = accounts().disable(username, actor=_me().username)
    except AccountError as error:
        return _users_page(400, str(error))
    flash(f"Disabled {disabled.username}; their open sessions have ended.")
    return redirect(url_for("console.users_page"), 303)


@console.get("/admin/flows")
@require(FLOWS)
def flows_page() -> ResponseReturnValue:
    """The flows this process is running, read-only."""
    flows: dict[str, Flow] = current_app.extensions["ivr"]["flows"]
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
    with session_scope(settings().database_url) as session:
        rows = [{"at": entry.at, "actor": entry.actor, "action": entry.action,
                 "target": entry.target, "detail": entry.detail}
                for entry in audit.entries(session, limit=AUDIT_PAGE_SIZE)]
    return page("admin_audit.html", entries=rows, limit=AUDIT_PAGE_SIZE)

"""Console pages for agents: their own presence (`/console/presence`) and, for admins, the
agent directory (`/admin/agents`: add, queues, presence, remove). Every change is audited."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ivr.app.accounts import OWN_CALLS, USERS
from ivr.app.routing import OFFLINE, STATUSES, AgentDirectory, AgentError
from ivr.web.auth import me, page, require
from ivr.web.context import calls, settings

agent_pages = Blueprint("agents", __name__)

FIELD_LIMIT = 200


def _directory() -> AgentDirectory:
    """The agents, on the same clock as routing (tests move it instead of waiting)."""
    return AgentDirectory(settings(), clock=calls().clock)


def _field(name: str) -> str:
    return request.form.get(name, "")[:FIELD_LIMIT].strip()


# An agent's own presence --------------------------------------------------------------------


@agent_pages.get("/console/presence")
@require(OWN_CALLS)
def presence() -> ResponseReturnValue:
    """The signed-in user's agent, if they are one, and their status."""
    return _presence_page()


def _presence_page(status: int = 200, error: str | None = None) -> ResponseReturnValue:
    account = me()
    agent = _directory().of_target(account.agent_target)
    return page("agents_presence.html", status, agent=agent, statuses=STATUSES, error=error,
                agent_target=account.agent_target)


@agent_pages.post("/console/presence")
@require(OWN_CALLS)
def set_presence() -> ResponseReturnValue:
    account = me()
    if account.agent_target is None or _directory().of_target(account.agent_target) is None:
        return page("console_error.html", 403, title="Not an agent",
                    message="You are not set up as an agent, so you have no presence to set.")
    try:
        agent = _directory().set_status_of(account.agent_target, _field("status"),
                                           actor=account.username)
    except AgentError as error:
        return _presence_page(400, str(error))
    flash(f"You are {agent.status}.")
    return redirect(url_for("staff.agents.presence"), 303)


# Admins: the directory ---------------------------------------------------------------------


@agent_pages.get("/admin/agents")
@require(USERS)
def agents_page() -> ResponseReturnValue:
    return _agents_page()


def _agents_page(status: int = 200, error: str | None = None,
                 form: dict[str, str] | None = None) -> ResponseReturnValue:
    return page("agents_admin.html", status, agents=_directory().list_agents(),
                statuses=STATUSES, error=error, form=form or {"status": OFFLINE})


@agent_pages.post("/admin/agents")
@require(USERS)
def add_agent() -> ResponseReturnValue:
    form = {name: _field(name) for name in ("name", "target", "queues", "status")}
    try:
        agent = _directory().add(form["name"], form["target"], [form["queues"]],
                                 status=form["status"] or OFFLINE, actor=me().username)
    except AgentError as error:
        return _agents_page(400, str(error), form)
    flash(f"Added agent {agent.name} for {', '.join(agent.queues)} ({agent.status}).")
    return redirect(url_for("staff.agents.agents_page"), 303)


@agent_pages.post("/admin/agents/queues")
@require(USERS)
def change_queues() -> ResponseReturnValue:
    try:
        agent = _directory().set_queues(_field("name"), [_field("queues")],
                                        actor=me().username)
    except AgentError as error:
        return _agents_page(400, str(error))
    flash(f"{agent.name} serves {', '.join(agent.queues)}.")
    return redirect(url_for("staff.agents.agents_page"), 303)


@agent_pages.post("/admin/agents/status")
@require(USERS)
def change_status() -> ResponseReturnValue:
    try:
        agent = _directory().set_status(_field("name"), _field("status"), actor=me().username)
    except AgentError as error:
        return _agents_page(400, str(error))
    flash(f"{agent.name} is {agent.status}.")
    return redirect(url_for("staff.agents.agents_page"), 303)


@agent_pages.post("/admin/agents/remove")
@require(USERS)
def remove_agent() -> ResponseReturnValue:
    try:
        agent = _directory().remove(_field("name"), actor=me().username)
    except AgentError as error:
        return _agents_page(400, str(error))
    flash(f"Removed agent {agent.name}.")
    return redirect(url_for("staff.agents.agents_page"), 303)

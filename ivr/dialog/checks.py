"""Whole-flow checks: references resolve, nothing loops, no caller can be trapped.

Every question already lets the caller say "agent" or press 0, and failed actions always
transfer, so the ways to trap a caller left are a chain of statements that loops forever or
a state that points at one that does not exist. Those, and mistakes an admin is likely to
make, are reported with the YAML location they concern.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ivr.dialog.schema import BUILTIN_INTENTS, Flow

MIN_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    """A flow-level mistake at a location such as ("states", "main_menu", "next")."""

    location: tuple[str | int, ...]
    message: str
    fix: str


def check_flow(flow: Flow) -> list[Problem]:
    """Every problem found in the flow, in file order as far as possible."""
    problems: list[Problem] = []
    states = set(flow.states)

    def state_ref(location: tuple[str | int, ...], target: str) -> None:
        if target not in states:
            problems.append(Problem(location, f"there is no state called `{target}`",
                                    _suggest(target, states, "state")))

    state_ref(("start",), flow.start)
    known_intents = set(flow.intents) | set(BUILTIN_INTENTS)
    uses_actions = False
    for name, node in flow.states.items():
        where = ("states", name)
        for intent, target in node.on.items():
            state_ref((*where, "on", intent), target)
            if intent not in known_intents:
                problems.append(Problem((*where, "on", intent), f"there is no intent `{intent}`",
                                        _suggest(intent, known_intents, "intent")))
            elif intent == "agent":
                problems.append(Problem((*where, "on", intent),
                                        "`agent` always transfers to a person and cannot be "
                                        "redirected", "remove this line"))
        for key, intent in node.keys.items():
            if intent not in node.on:
                problems.append(Problem((*where, "keys", key),
                                        f"key {key} picks `{intent}`, which `on:` does not handle",
                                        f"add `{intent}: <state>` under `on:`"))
        if node.next:
            state_ref((*where, "next"), node.next)
        for index, condition in enumerate(node.when):
            state_ref((*where, "when", index, "goto"), condition.goto)
        if node.action:
            uses_actions = True
    if uses_actions and not (flow.actions.module or flow.actions.url):
        problems.append(Problem(("actions",), "the flow runs actions but does not say where they "
                                "live", "add `actions: {module: your.module}` or "
                                "`actions: {url: http://host:5055/webhook}`"))
    for intent, spec in flow.intents.items():
        if intent not in BUILTIN_INTENTS and len(spec.examples) < MIN_EXAMPLES:
            problems.append(Problem(("intents", intent, "examples"),
                                    f"intent `{intent}` has {len(spec.examples)} example phrases",
                                    f"give at least {MIN_EXAMPLES} ways a caller might say it"))
    if problems:
        return problems
    problems += _loops_without_questions(flow)
    problems += _unreachable(flow)
    return problems


def _suggest(name: str, choices: set[str], kind: str) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"use one of the {kind}s defined in this file: {', '.join(sorted(choices))}"


def _successors(flow: Flow, name: str) -> list[str]:
    node = flow.states[name]
    targets = list(node.on.values()) + [condition.goto for condition in node.when]
    if node.next:
        targets.append(node.next)
    if node.kind == "ask" and flow.goodbye_state in flow.states:
        targets.append(flow.goodbye_state)
    return targets


def _loops_without_questions(flow: Flow) -> list[Problem]:
    """Statement states whose `next` chain comes back to itself: the caller would be stuck."""
    problems = []
    for name, node in flow.states.items():
        if node.kind != "say":
            continue
        seen = {name}
        current = node.next
        while current is not None and flow.states[current].kind == "say":
            if current in seen:
                problems.append(Problem(("states", name, "next"),
                                        f"`{name}` starts a loop of statements that never asks "
                                        "anything, so the caller could never reach a person",
                                        "end the chain in a question, a transfer or a hang-up"))
                break
            seen.add(current)
            current = flow.states[current].next
    return problems


def _unreachable(flow: Flow) -> list[Problem]:
    reached = {flow.start}
    frontier = [flow.start]
    while frontier:
        for target in _successors(flow, frontier.pop()):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    return [
        Problem(("states", name), f"state `{name}` can never be reached",
                "point an `on:`, `next:` or `when:` at it, or remove it")
        for name in flow.states
        if name not in reached
    ]

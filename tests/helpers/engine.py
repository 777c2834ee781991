"""The dialog engine fed events directly: start a call, read what the engine answered."""

from __future__ import annotations

from collections.abc import Iterable

from ivr.dialog import CallStarted, CallState, Directive, Flow, Say, Transfer, step


def started(flow: Flow, node: str | None = None) -> CallState:
    """The state after the call started (disclosure said, first question asked), moved on to
    `node` when one is given."""
    state, _ = step(flow, CallState(), CallStarted())
    return state.entering(node) if node else state


def said(directives: Iterable[Directive]) -> str:
    """Everything the directives say, in order, joined by spaces."""
    return " ".join(d.text for d in directives if isinstance(d, Say))


def transfer_of(directives: Iterable[Directive]) -> Transfer | None:
    """The first Transfer directive, or None."""
    return next((d for d in directives if isinstance(d, Transfer)), None)

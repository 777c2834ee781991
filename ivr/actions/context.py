"""What in-process custom actions may use from the server: the database URL and the settings.

rasa-sdk constructs actions without arguments, so the runner publishes an `ActionContext`
in a context variable for the duration of each call and actions read it with `current()`.
An action running on a separate rasa-sdk action server has no runner around it; there
`current()` builds the context from the environment and `config/*.toml` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from ivr.config import Settings, load_settings


@dataclass(frozen=True)
class ActionContext:
    """Server resources an action may use. Holds no per-call or personal data."""

    database_url: str
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> ActionContext:
        return cls(database_url=settings.database_url, settings=settings)


_current: ContextVar[ActionContext | None] = ContextVar("ivr_action_context", default=None)


def current() -> ActionContext:
    """The context the runner set for this call, or one loaded from the environment."""
    context = _current.get()
    if context is None:
        return ActionContext.from_settings(load_settings())
    return context


@contextmanager
def use(context: ActionContext) -> Iterator[ActionContext]:
    """Make `context` what `current()` returns inside the block (and tasks started in it)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)

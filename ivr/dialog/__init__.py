"""The pure dialog core: flow model, call state, events in, directives out. No IO here."""

from ivr.dialog.directives import Directive, Hangup, Listen, RunAction, Say, Transfer
from ivr.dialog.engine import step
from ivr.dialog.events import (
    ActionDone,
    CallStarted,
    Event,
    Fault,
    NoInput,
    UserInput,
)
from ivr.dialog.schema import Flow
from ivr.dialog.state import CallState

__all__ = [
    "ActionDone",
    "CallStarted",
    "CallState",
    "Directive",
    "Event",
    "Fault",
    "Flow",
    "Hangup",
    "Listen",
    "NoInput",
    "RunAction",
    "Say",
    "Transfer",
    "UserInput",
    "step",
]

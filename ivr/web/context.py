"""Access to the app's services from a request."""

from __future__ import annotations

from flask import current_app

from ivr.app.calls import CallService
from ivr.app.handoff import HandoffService
from ivr.config import Settings
from ivr.speech.tts import PromptLibrary


def settings() -> Settings:
    return current_app.extensions["ivr"]["settings"]  # type: ignore[no-any-return]


def calls() -> CallService:
    return current_app.extensions["ivr"]["calls"]  # type: ignore[no-any-return]


def handoff() -> HandoffService:
    return current_app.extensions["ivr"]["handoff"]  # type: ignore[no-any-return]


def prompt_library() -> PromptLibrary:
    return current_app.extensions["ivr"]["prompts"]  # type: ignore[no-any-return]

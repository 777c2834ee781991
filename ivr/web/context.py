"""The app's services, built once by `create_app` and read by the blueprints from a request."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import current_app

from ivr.app.accounts import Accounts
from ivr.app.calls import CallService
from ivr.app.feedback import AgentFeedback
from ivr.app.handoff import HandoffService
from ivr.app.live import LiveConsole
from ivr.app.queries import Queries
from ivr.config import Settings
from ivr.dialog.schema import Flow
from ivr.speech.asr import SpeechEngine, open_engine
from ivr.speech.tts import PromptLibrary


class SpeechEngineSlot:
    """The process's speech engine, shared by every stream: opened by `open()` (before the
    server forks, so workers share the model's pages), else on the first stream."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._engine: SpeechEngine | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The configured engine, or the offline default for the softphone when phone calls
        use Twilio's recogniser."""
        return "pocketsphinx" if self._settings.asr == "twilio" else self._settings.asr

    @property
    def loaded(self) -> SpeechEngine | None:
        return self._engine

    def open(self) -> SpeechEngine:
        with self._lock:
            if self._engine is None:
                self._engine = open_engine(self.name,  # type: ignore[arg-type]
                                           vosk_model=self._settings.vosk_model,
                                           processes=self._settings.asr_processes)
            return self._engine


@dataclass(frozen=True)
class Services:
    """What the blueprints work with, stored under `app.extensions["ivr"]`."""

    settings: Settings
    flows: dict[str, Flow]
    calls: CallService
    handoff: HandoffService
    accounts: Accounts
    prompts: PromptLibrary
    queries: Queries
    live: LiveConsole
    feedback: AgentFeedback
    speech: SpeechEngineSlot


def services() -> Services:
    return current_app.extensions["ivr"]


def settings() -> Settings:
    return services().settings


def calls() -> CallService:
    return services().calls


def handoff() -> HandoffService:
    return services().handoff


def accounts() -> Accounts:
    return services().accounts


def prompt_library() -> PromptLibrary:
    return services().prompts

"""Small rasa-sdk actions that misbehave on purpose, for the action runner's tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from ivr.actions.context import current

SLOW_SECONDS = 1.5


class ActionEchoSync(Action):
    """Reports what it was given: the context, the tracker, the metadata."""

    def name(self) -> str:
        return "action_echo_sync"

    def run(  # type: ignore[override]
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=f"you said {tracker.latest_message['text']}")
        dispatcher.utter_message(response="utter_without_text")  # no text: not spoken
        return [
            SlotSet("database_url", current().database_url),
            SlotSet("sender_id", tracker.sender_id),
            SlotSet("seen_slot", tracker.get_slot("colour")),
            SlotSet("metadata", tracker.latest_message["metadata"]),
            SlotSet("domain_actions", domain["actions"]),
            {"event": "followup", "name": "action_listen"},  # not a slot: ignored
        ]


class ActionEchoAsync(Action):
    """The coroutine flavour of the echo action."""

    def name(self) -> str:
        return "action_echo_async"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        dispatcher.utter_message(text="async hello")
        return [SlotSet("database_url", current().database_url)]


class ActionBoom(Action):
    def name(self) -> str:
        return "action_boom"

    def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def,override]
        raise RuntimeError(f"could not reach {tracker.latest_message['metadata']['caller']}")


class ActionExit(Action):
    def name(self) -> str:
        return "action_exit"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        raise SystemExit(3)


class ActionSlowSync(Action):
    def name(self) -> str:
        return "action_slow_sync"

    def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def,override]
        time.sleep(SLOW_SECONDS)
        dispatcher.utter_message(text="too late")
        return [SlotSet("late", True)]


class ActionSlowAsync(Action):
    cancelled = False

    def name(self) -> str:
        return "action_slow_async"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        try:
            await asyncio.sleep(SLOW_SECONDS)
        except asyncio.CancelledError:
            type(self).cancelled = True
            raise
        return [SlotSet("late", True)]


class ActionReturnsGarbage(Action):
    def name(self) -> str:
        return "action_returns_garbage"

    def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def,override]
        return "not a list of events"


class ActionReturnsNone(Action):
    def name(self) -> str:
        return "action_returns_none"

    def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def,override]
        dispatcher.utter_message(text="done")
        return None


class UnnamedAction(Action):
    """No name(): discovery must skip it rather than fail."""

"""The demo order-status action, held at a gate the test opens: a slow backend on demand."""

from __future__ import annotations

import threading
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from ivr.actions import demo

entered = threading.Event()
release = threading.Event()
runs: list[str] = []


class ActionOrderStatusAtGate(demo.ActionOrderStatus):
    """Says it has started, waits until the test releases it, then looks the order up."""

    def run(  # type: ignore[override]
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        runs.append(str(tracker.get_slot("order_number")))
        entered.set()
        if not release.wait(timeout=10):
            raise TimeoutError("the test never opened the gate")
        return super().run(dispatcher, tracker, domain)  # type: ignore[return-value]

"""The bundled demo actions behind a delay, for the webhook benchmark's remote action server.

    BENCH_ACTION_MS=300 PYTHONPATH=bench python -m rasa_sdk --actions slow_actions --port 5055

Each action waits `BENCH_ACTION_MS` milliseconds without blocking the server's event loop (as a
real action server waiting for a backend would), then runs the demo action in a thread.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from rasa_sdk import Action

from ivr.actions import demo

DELAY_SECONDS = float(os.environ.get("BENCH_ACTION_MS", "300")) / 1000


def _slow(action_class: type[Action]) -> type[Action]:
    class Slow(action_class):  # type: ignore[misc, valid-type]
        async def run(self, dispatcher: Any, tracker: Any, domain: Any) -> Any:  # type: ignore[override]
            await asyncio.sleep(DELAY_SECONDS)
            return await asyncio.to_thread(super().run, dispatcher, tracker, domain)

    Slow.__name__ = Slow.__qualname__ = f"Slow{action_class.__name__}"
    return Slow


SlowActionOrderStatus = _slow(demo.ActionOrderStatus)
SlowActionSendPasswordReset = _slow(demo.ActionSendPasswordReset)
SlowActionOpeningHours = _slow(demo.ActionOpeningHours)

"""Run one custom action by name, in-process or on a rasa-sdk action server, and never raise.

Every outcome, including an unknown action, a crash, a dead or slow action server and a
garbled answer, comes back as an `ActionDone`; failures carry a short reason that names
no caller data, so the dialog engine can hand the caller to a person.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import logging
import os
import pkgutil
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from types import ModuleType
from typing import Any

import rasa_sdk
import requests
import requests.adapters
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.utils import all_subclasses

from ivr.actions.context import ActionContext, use
from ivr.dialog.events import ActionDone
from ivr.dialog.schema import ActionsSpec
from ivr.storage.db import worker_threads

log = logging.getLogger(__name__)


class ActionFailed(Exception):
    """An action did not produce a usable result; `reason` is safe to log and store."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ActionRunner:
    """Runs the custom actions of one flow, where its `ActionsSpec` says they live."""

    def __init__(
        self,
        spec: ActionsSpec,
        context: ActionContext,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.spec = spec
        self.context = context
        self._session = session

    def run(
        self,
        name: str,
        *,
        call_id: str,
        slots: Mapping[str, Any],
        latest_text: str,
        metadata: Mapping[str, Any],
    ) -> ActionDone:
        """Run action `name` for the call and report what it said and which slots it set.

        `call_id` is a pseudonymous id (never a phone number). `metadata` carries
        request-time data the action may need but nobody may store, such as the caller's
        number for a text message.
        """
        started = time.perf_counter()
        tracker = tracker_state(call_id, slots, latest_text, metadata)
        try:
            if self.spec.url:
                done = self._run_remote(name, tracker)
            elif self.spec.module:
                done = self._run_in_process(self.spec.module, name, tracker)
            else:
                raise ActionFailed("this flow has no actions configured")
        except ActionFailed as failure:
            done = ActionDone(name, ok=False, error=failure.reason)
        except Exception as exc:  # never let an action take the call down
            log.warning(
                "action %r failed unexpectedly: %s\n%s",
                name,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            done = ActionDone(name, ok=False, error=f"unexpected {type(exc).__name__}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        if done.ok:
            log.debug("action %r finished in %.1f ms", name, elapsed_ms)
        else:
            log.warning("action %r failed after %.1f ms: %s", name, elapsed_ms, done.error)
        return done

    # In-process -------------------------------------------------------------------------

    def _run_in_process(self, module: str, name: str, state: dict[str, Any]) -> ActionDone:
        action = actions_in(module).get(name)
        if action is None:
            raise ActionFailed(f"unknown action {name!r}")
        dispatcher = CollectingDispatcher()
        tracker = Tracker.from_dict(state)
        domain = domain_for(name, state["slots"])
        if inspect.iscoroutinefunction(action.run):
            invocation = self._invoke(action, dispatcher, tracker, domain)
            future = asyncio.run_coroutine_threadsafe(invocation, _shared_loop.get())
        else:
            # One hop to a worker thread, so a slow action cannot outlive the timeout for
            # the caller; the copied context makes `ivr.actions.context.current()` work there.
            context = contextvars.copy_context()
            future = _sync_pool().submit(context.run, self._call_sync, action, dispatcher,
                                         tracker, domain)
        try:
            events = future.result(timeout=self.spec.timeout_seconds)
        except FutureTimeout:
            # A coroutine is cancelled; a synchronous action keeps its worker thread until
            # it returns, but its result is ignored.
            future.cancel()
            raise ActionFailed(f"timed out after {self.spec.timeout_seconds:g} s") from None
        return outcome(name, events, dispatcher.messages)

    async def _invoke(
        self,
        action: Action,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> Any:
        """Await an `async def run` on the shared loop."""
        with use(self.context):
            try:
                return await action.run(dispatcher, tracker, domain)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # SystemExit & co. must not stop the shared loop
                _log_action_error(action, exc)
                raise ActionFailed(f"the action raised {type(exc).__name__}") from None

    def _call_sync(
        self,
        action: Action,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> Any:
        with use(self.context):
            try:
                result = action.run(dispatcher, tracker, domain)
            except BaseException as exc:
                _log_action_error(action, exc)
                raise ActionFailed(f"the action raised {type(exc).__name__}") from None
        if inspect.isawaitable(result):
            return asyncio.run_coroutine_threadsafe(_awaited(result), _shared_loop.get()).result()
        return result

    # Remote action server ---------------------------------------------------------------

    def _run_remote(self, name: str, state: dict[str, Any]) -> ActionDone:
        assert self.spec.url is not None
        payload = {
            "next_action": name,
            "sender_id": state["sender_id"],
            "tracker": state,
            "domain": domain_for(name, state["slots"]),
            "version": rasa_sdk.__version__,
        }
        try:
            response = self.session.post(
                self.spec.url, json=payload, timeout=self.spec.timeout_seconds
            )
        except requests.Timeout:
            raise ActionFailed("the action server timed out") from None
        except requests.RequestException as exc:
            raise ActionFailed(f"the action server is unreachable ({type(exc).__name__})") from None

        body = _json_or_none(response)
        if response.status_code == 404 and isinstance(body, dict) and "action_name" in body:
            raise ActionFailed(f"the action server does not know action {name!r}")
        if response.status_code == 400 and isinstance(body, dict) and "action_name" in body:
            raise ActionFailed("the action server rejected the action")
        if response.status_code != 200:
            raise ActionFailed(f"the action server answered HTTP {response.status_code}")
        if not isinstance(body, dict):
            raise ActionFailed("the action server sent an invalid answer")
        responses = body.get("responses") or []
        if not isinstance(responses, list):
            raise ActionFailed("the action server sent an invalid answer")
        return outcome(name, body.get("events"), responses)

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = _pooled_session(worker_threads())
        return self._session


def _pooled_session(connections: int) -> requests.Session:
    """An HTTP session that keeps a connection to the action server for every request thread
    (requests keeps 10 by default and opens a new one, then discards it, past that)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def tracker_state(
    call_id: str, slots: Mapping[str, Any], latest_text: str, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """The tracker as Rasa sends it to an action server, for a call with no Rasa events."""
    return {
        "sender_id": call_id,
        "slots": dict(slots),
        "latest_message": {"text": latest_text, "metadata": dict(metadata)},
        "latest_event_time": None,
        "followup_action": None,
        "paused": False,
        "events": [],
        "latest_input_channel": None,
        "active_loop": {},
        "latest_action_name": None,
    }


def domain_for(name: str, slots: Mapping[str, Any]) -> dict[str, Any]:
    """A minimal Rasa domain: the slots the call has and the action being run."""
    return {
        "version": "3.1",
        "intents": [],
        "entities": [],
        "slots": {slot: {"type": "any", "mappings": []} for slot in slots},
        "responses": {},
        "actions": [name],
        "forms": {},
    }


def outcome(name: str, events: Any, messages: Iterable[Any]) -> ActionDone:
    """Turn rasa-sdk events and dispatcher messages into an `ActionDone`."""
    if events is None:
        events = []
    if not isinstance(events, list | tuple):
        raise ActionFailed("the action returned something other than a list of events")
    slots: dict[str, Any] = {}
    for event in events:
        if isinstance(event, dict) and event.get("event") == "slot":
            if isinstance(event.get("name"), str):
                slots[event["name"]] = event.get("value")
        elif not isinstance(event, dict):
            log.debug("action %r returned a non-event %s; ignored", name, type(event).__name__)
    texts = tuple(
        message["text"]
        for message in messages
        if isinstance(message, dict)
        and isinstance(message.get("text"), str)
        and message["text"].strip()
    )
    return ActionDone(name, ok=True, messages=texts, slots=slots)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# Discovery ------------------------------------------------------------------------------

_registries: dict[str, dict[str, Action]] = {}
_registries_lock = threading.Lock()


def actions_in(module_name: str) -> dict[str, Action]:
    """Action instances by name, from a module or package; cached per module name."""
    with _registries_lock:
        registry = _registries.get(module_name)
        if registry is None:
            registry = _discover(module_name)
            _registries[module_name] = registry
        return registry


def _discover(module_name: str) -> dict[str, Action]:
    try:
        modules = _import_tree(module_name)
    except Exception as exc:
        log.warning(
            "cannot import actions module %r: %s", module_name, type(exc).__name__, exc_info=True
        )
        raise ActionFailed("the actions module could not be imported") from None
    names = {module.__name__ for module in modules}
    candidates: set[type[Action]] = {
        cls for cls in all_subclasses(Action) if cls.__module__ in names
    }
    for module in modules:  # classes the module imported from elsewhere count too
        candidates.update(
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Action)
        )
    registry: dict[str, Action] = {}
    for cls in sorted(candidates, key=lambda cls: (cls.__module__, cls.__qualname__)):
        if cls.__module__.startswith("rasa_sdk") or inspect.isabstract(cls):
            continue
        try:
            action = cls()
            name = action.name()
        except Exception as exc:
            log.debug("skipping %s: %s", cls.__qualname__, type(exc).__name__)
            continue
        if name in registry:
            log.warning("two actions are named %r; using %s", name, cls.__qualname__)
        registry[name] = action
    log.info("actions in %s: %s", module_name, ", ".join(sorted(registry)) or "none")
    return registry


def _import_tree(module_name: str) -> list[ModuleType]:
    """The module and, for a package, all its submodules (as rasa-sdk's server imports)."""
    module = importlib.import_module(module_name)
    modules = [module]
    for info in pkgutil.iter_modules(getattr(module, "__path__", []), prefix=f"{module_name}."):
        modules.extend(_import_tree(info.name))
    return modules


# The shared event loop -------------------------------------------------------------------


class _LoopThread:
    """One asyncio loop on a daemon thread, shared by every runner in the process.

    Avoids creating an event loop per action call. Recreated after a fork (gunicorn
    --preload), where the parent's thread no longer exists.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="ivr-actions-loop", daemon=True
                )
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_shared_loop = _LoopThread()

_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _sync_pool() -> ThreadPoolExecutor:
    """Worker threads for synchronous actions, made anew after a fork."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            # One per request thread: a turn waiting for a free action thread would spend
            # its action's time budget in the queue.
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=worker_threads(),
                                                     thread_name_prefix="ivr-action"))
        return _pool[1]


async def _awaited(result: Any) -> Any:
    return await result


def _log_action_error(action: Action, exc: BaseException) -> None:
    # Frames only: an exception's message may quote caller data.
    log.warning("action %s raised %s\n%s", type(action).__qualname__, type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)))

__all__ = [
    "ActionFailed",
    "ActionRunner",
    "actions_in",
    "domain_for",
    "outcome",
    "tracker_state",
]

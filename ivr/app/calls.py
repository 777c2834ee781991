"""The call use case: an inbound event in, directives and a hand-over out.

`CallService.start` and `.turn` read the call's state from the database, have the NLU
interpret what the caller said, step the dialog engine and run the custom actions it asks for
while holding no database lock, then store the turn in a short write transaction that checks
the call was not moved on by another request meanwhile (optimistic concurrency: the stored
turn count is the version). On a transfer they build the summary and pick who to ring, and
they return what the caller should hear. The webhook and the media-stream transports share it.

What callers said is understood as they said it, but stored redacted
(`ivr.privacy.redaction`): the heard text, keyed digits, the bot's replies and free-text slot
values.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ivr.actions.runner import ActionRunner
from ivr.app.contract import AgentLeg, Inbound, Reply
from ivr.app.handoff import HandoffService
from ivr.app.routing import Router
from ivr.app.summary import TurnRecord, build_summary
from ivr.app.transfer_policy import Clock, TransferPolicy, utc_now
from ivr.config import Settings
from ivr.dialog import (
    CallStarted,
    CallState,
    Directive,
    Event,
    Fault,
    Flow,
    Hangup,
    NoInput,
    RunAction,
    Say,
    Transfer,
    UserInput,
    lines,
    step,
)
from ivr.dialog.engine import current_listen
from ivr.nlu.interpreter import Interpreter
from ivr.privacy.pseudonyms import pseudonymise
from ivr.privacy.redaction import redact
from ivr.storage import agents, repository, transfers
from ivr.storage.db import reading, transaction
from ivr.storage.models import as_utc
from ivr.storage.repository import CallRecord

log = logging.getLogger(__name__)

MAX_ACTIONS_PER_TURN = 5
MAX_DECISIONS = 3  # a turn decided again when another request for the call was stored first
MAX_HEARD_CHARS = 2000
REPEAT_CALLER_DAYS = 30


@dataclass(frozen=True)
class Decision:
    """A turn decided on the call's state as read, not stored yet: the state it leads to, what
    the caller hears and the turn rows (the caller's, then each action's)."""

    flow: Flow
    state: CallState
    reply: Reply
    turns: list[dict[str, object]]


class CallMovedOn(Exception):
    """Another request for the same call was stored between a turn's read and its write."""


class CallService:
    """Runs calls against the flows, with state in the database at `settings.database_url`."""

    def __init__(
        self,
        settings: Settings,
        flows: dict[str, Flow],
        *,
        clock: Clock | None = None,
    ):
        self.settings = settings
        self.flows = flows
        self.clock = clock or utc_now
        self.policy = TransferPolicy.from_settings(settings, self.clock)
        self.handoff = HandoffService(settings, flows, self.policy)
        self._interpreters: dict[str, Interpreter] = {}
        self._runners: dict[str, ActionRunner] = {}
        self._pseudonym_key = settings.secret

    def interpreter(self, flow: Flow) -> Interpreter:
        if flow.name not in self._interpreters:
            self._interpreters[flow.name] = Interpreter(flow)
        return self._interpreters[flow.name]

    def runner(self, flow: Flow) -> ActionRunner:
        if flow.name not in self._runners:
            from ivr.actions.context import ActionContext

            context = ActionContext(database_url=self.settings.database_url,
                                    settings=self.settings)
            self._runners[flow.name] = ActionRunner(flow.actions, context)
        return self._runners[flow.name]

    def warm_up(self) -> None:
        """Train every flow's classifier now rather than on the first call."""
        for flow in self.flows.values():
            self.interpreter(flow)

    def start(self, inbound: Inbound) -> Reply:
        """A new call (or Twilio asking again for one it already started)."""
        return self._ring(inbound, self._handle(inbound, starting=True))

    def turn(self, inbound: Inbound) -> Reply:
        """The caller answered a question, or said nothing."""
        return self._ring(inbound, self._handle(inbound, starting=False))

    def fault(self, inbound: Inbound, reason: str) -> Reply:
        """Something failed outside the engine: apologise and transfer, with what is known."""
        return self._ring(inbound, self._fault(inbound, reason))

    def _ring(self, inbound: Inbound, reply: Reply) -> Reply:
        """In conference mode the caller holds while the agent's leg is rung through Twilio's
        REST API: ring them now (once per agent; Twilio asking again rings nobody twice). When
        that fails, the fallback."""
        if not (isinstance(reply.leg, AgentLeg) and reply.leg.mode == "conference"):
            return reply
        try:
            return self.handoff.ring_in_conference(inbound.call_sid, reply,
                                                   called=inbound.called)
        except Exception as error:
            log.error("call %s: conference transfer failed (%s)", inbound.call_sid,
                      type(error).__name__)
            return replace(reply, leg=self.policy.fallback())

    def _fault(self, inbound: Inbound, reason: str) -> Reply:
        try:
            with transaction(self.settings.database_url) as connection:
                call = repository.lock_call(connection, inbound.call_sid)
                if call is None:
                    raise LookupError("no stored call")
                flow = self._flow_for(call.flow)
                state = CallState.model_validate(call.state or {})
                state, directives = step(flow, state.model_copy(update={"transferred": False}),
                                         Fault(reason))
                repository.record_turns(connection, call, [
                    {"kind": "fault", "node": state.node, "reply": _redacted(_said(directives))}])
                return self._finish(connection, call, flow, state, Reply(directives))
        except Exception as error:  # the database itself may be what failed
            log.error("could not record a fault for a call: %s", type(error).__name__)
            return self.blind_transfer()

    def blind_transfer(self) -> Reply:
        """A transfer built from configuration alone, for when nothing else works."""
        directives: list[Directive] = [
            Say(lines.APOLOGY),
            Transfer(reason="an internal problem", trigger="fault"),
        ]
        flow = self.flows.get(self.settings.default_flow)
        queue = flow.transfer.queue if flow else None
        return Reply(directives, leg=self.policy.first_leg(queue))

    def flow_named(self, name: str | None) -> Flow:
        """The flow called `name`, or the default flow."""
        return self._flow_for(name)

    def _flow_for(self, name: str | None) -> Flow:
        if name and name in self.flows:
            return self.flows[name]
        return self.flows[self.settings.default_flow]

    def _handle(self, inbound: Inbound, *, starting: bool) -> Reply:
        """Read the call, decide the turn with no database lock held (NLU and custom actions
        can take a while), then store it in a short write transaction, provided no other
        request for the call was stored meanwhile; if one was, decide again on what it left."""
        began = time.perf_counter()
        for _ in range(MAX_DECISIONS):
            with reading(self.settings.database_url) as connection:
                call = repository.read_call(connection, inbound.call_sid)
                flow = self._flow_for(call.flow if call else inbound.flow)
                state = CallState.model_validate(call.state or {}) if call else CallState()
                if call is not None and (starting or not state.node or state.transferred):
                    # Twilio asking again, or a late turn of a call already handed over: the
                    # current question again, or whoever the transfer is ringing (no new one).
                    return self._repeat_question(connection, call, flow, state)
            try:
                return self._store(inbound, call, self._decide(flow, state, call is None,
                                                               inbound, began))
            except CallMovedOn:
                log.info("call %s: another request was stored during this turn; deciding "
                         "again", inbound.call_sid)
        raise CallMovedOn(f"the call kept moving on for {MAX_DECISIONS} attempts")

    def _decide(self, flow: Flow, state: CallState, new_call: bool, inbound: Inbound,
                began: float) -> Decision:
        """What the caller's input does to the call as read, actions run; touches no table."""
        if new_call:
            return self._advance(flow, state, CallStarted(), inbound, began, kind="start")
        if not inbound.text.strip() and not inbound.digits:
            return self._advance(flow, state, NoInput(), inbound, began, kind="no_input")
        event = self.interpreter(flow).interpret(inbound.text, inbound.digits,
                                                 inbound.confidence)
        kind = "digits" if inbound.digits else "speech"
        return self._advance(flow, state, event, inbound, began, kind=kind)

    def _store(self, inbound: Inbound, read: CallRecord | None, decision: Decision) -> Reply:
        """Write the decided turn if the call is still as it was read (`CallMovedOn` if not)."""
        with transaction(self.settings.database_url) as connection:
            if read is None:
                caller_hash = pseudonymise(inbound.caller, self._pseudonym_key)
                try:
                    call = repository.open_call(connection, inbound.call_sid,
                                                decision.flow.name, caller_hash)
                except IntegrityError:  # the same call was opened by another request
                    raise CallMovedOn("the call was opened meanwhile") from None
            else:
                locked = repository.lock_call(connection, inbound.call_sid)
                if locked is None or locked.turn_count != read.turn_count:
                    raise CallMovedOn("the call moved on meanwhile")
                call = locked
            repository.record_turns(connection, call, decision.turns)
            return self._finish(connection, call, decision.flow, decision.state, decision.reply)

    def _repeat_question(self, connection: Connection, call: CallRecord, flow: Flow,
                         state: CallState) -> Reply:
        """Twilio asked again for a call in progress: ask the current question again."""
        if state.ended:
            return Reply([Say(lines.SHORT_GOODBYE), Hangup()])
        if state.transferred:
            # Ring whoever the transfer is ringing (routing reserved them), not the queue's first.
            queue, target = transfers.ringing_now(connection, call.id)
            transfer = Transfer(reason="the call is being handed to a person", queue=queue,
                                trigger="continue")
            leg = (AgentLeg(target, self.policy.ring_seconds(queue), lines.HANDOVER_INTRO,
                            self.policy.mode) if target else self.policy.first_leg(queue))
            return Reply([transfer], flow.settings.language, flow.settings.voice, leg=leg)
        directives: list[Directive] = [Say(state.last_prompt or "", barge_in=True),
                                       current_listen(flow, state)]
        return Reply(directives, flow.settings.language, flow.settings.voice)

    def _advance(
        self,
        flow: Flow,
        state: CallState,
        event: Event,
        inbound: Inbound,
        began: float,
        *,
        kind: str,
    ) -> Decision:
        """Step the engine, running the actions it asks for; the turns to store come back."""
        node_before = state.node
        understood = event if isinstance(event, UserInput) else None
        directives: list[Directive] = []
        actions: list[dict[str, object]] = []
        for _ in range(MAX_ACTIONS_PER_TURN + 1):
            state, produced = step(flow, state, event)
            action = next((d for d in produced if isinstance(d, RunAction)), None)
            directives += [d for d in produced if not isinstance(d, RunAction)]
            if action is None:
                break
            done = self.runner(flow).run(
                action.name,
                call_id=inbound.call_sid,
                slots=dict(state.slots),
                latest_text=inbound.text,
                metadata={"caller": inbound.caller} if inbound.caller else {},
            )
            actions.append({"kind": "action", "node": state.node, "action": done.name,
                            "action_ok": done.ok,
                            "reply": _redacted(" ".join(done.messages) or done.error)})
            event = done
        else:
            state, produced = step(flow, state, Fault("too many actions in one turn"))
            directives += produced
        turn: dict[str, object] = {
            "kind": kind,
            "node": node_before,
            "heard": _redacted(inbound.text[:MAX_HEARD_CHARS]) if kind == "speech" else None,
            "digits": _redacted(inbound.digits[:64]),
            "asr_confidence": inbound.confidence,
            "intent": understood.intent if understood else None,
            "intent_confidence": understood.intent_confidence if understood else None,
            "sentiment": understood.sentiment if understood else None,
            "reply": _redacted(_said(directives)),
            "server_ms": round((time.perf_counter() - began) * 1000, 3),
        }
        reply = Reply(directives, flow.settings.language, flow.settings.voice,
                      intent=understood.intent if understood else None,
                      confidence=understood.intent_confidence if understood else None)
        return Decision(flow, _without_personal_text(flow, state), reply, [turn, *actions])

    def _finish(self, connection: Connection, call: CallRecord, flow: Flow, state: CallState,
                reply: Reply) -> Reply:
        """Save the state; on a transfer, build the summary and pick who to ring."""
        call.state = state.model_dump(mode="json")
        transfer = next((d for d in reply.directives if isinstance(d, Transfer)), None)
        if state.ended:
            call.status = "completed-by-bot"
        if transfer is not None:
            call.status = "transferring"
            turns = [_record(row) for row in repository.turn_rows(connection, call.id)]
            summary = build_summary(flow, state, turns, reason=transfer.reason,
                                    trigger=transfer.trigger,
                                    duration_seconds=self._elapsed(call),
                                    earlier_calls=self._earlier_calls(connection, call))
            # Agents serving the queue are routed (one reserved now, under this transaction's
            # lock); a queue nobody serves rings the configured targets in order.
            reservation = Router.of(self.policy).reserve(connection, transfer.queue,
                                                         call.call_sid)
            targets = (reservation.targets if reservation.served
                       else self.policy.targets(transfer.queue))
            mode = self.policy.mode
            repository.add_transfer(connection, call.id, reason=transfer.reason,
                                    trigger=transfer.trigger, queue=transfer.queue,
                                    summary=summary, targets=targets, mode=mode)
            if targets:
                reply.leg = AgentLeg(targets[0], self.policy.ring_seconds(transfer.queue),
                                     lines.HANDOVER_INTRO, mode)
            else:
                reply.leg = self.policy.fallback()
                agents.note_fallback(connection, call.id, f"fallback-{reply.leg.kind}")
            reply.summary = summary
            log.info("call %s goes to a person (%s)", call.call_sid, transfer.trigger)
        repository.save_call(connection, call)
        return reply

    def _earlier_calls(self, connection: Connection, call: CallRecord) -> int | None:
        """The caller's other calls in the last `REPEAT_CALLER_DAYS` (None when withheld)."""
        if call.caller_hash is None:
            return None
        since = self.clock() - timedelta(days=REPEAT_CALLER_DAYS)
        return repository.earlier_calls(connection, call.caller_hash, call.id, since)

    def _elapsed(self, call: CallRecord) -> int:
        return max(0, int((self.clock() - as_utc(call.started_at)).total_seconds()))


def _redacted(text: str | None) -> str | None:
    return redact(text) if text else None


def _without_personal_text(flow: Flow, state: CallState) -> CallState:
    """Free-text slot values redacted before the state is stored or summarised."""
    text_slots = flow.text_slot_names
    if not text_slots & state.slots.keys():
        return state
    slots = {name: redact(value) if name in text_slots and isinstance(value, str) else value
             for name, value in state.slots.items()}
    return state.model_copy(update={"slots": slots})


def _said(directives: list[Directive]) -> str | None:
    text = " ".join(d.text for d in directives if isinstance(d, Say))
    return text or None


def _record(turn: Any) -> TurnRecord:
    return TurnRecord(
        kind=turn.kind, node=turn.node, heard=turn.heard, digits=turn.digits,
        asr_confidence=turn.asr_confidence, intent=turn.intent,
        intent_confidence=turn.intent_confidence, action=turn.action,
        action_ok=turn.action_ok, reply=turn.reply,
        sentiment=turn.sentiment,
    )

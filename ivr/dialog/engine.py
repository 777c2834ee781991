"""The dialog engine: `step(flow, state, event) -> (state, directives)`.

Pure: no IO, no clock. Everything the call needs between turns is in `CallState`.
Escalation rules live here so that every transport gets them: a request for a person (or
key 0), consecutive low-confidence turns, repeated silence or misunderstanding, a failed
action and any fault all end in a `Transfer` directive. A caller who sounds negative for
several turns in a row is offered a person, once per call.
"""

from __future__ import annotations

from ivr.dialog.directives import Directive, Hangup, Listen, RunAction, Say, Transfer
from ivr.dialog.events import ActionDone, CallStarted, Event, Fault, NoInput, UserInput
from ivr.dialog.lines import APOLOGY, CARRY_ON, DEFAULT_GOODBYE, GENERIC_INVALID, PERSON_OFFER
from ivr.dialog.schema import MAX_SENTIMENT_TURNS, Flow, State
from ivr.dialog.state import CallState

MAX_HOPS = 25
"""States entered in one step without asking anything; more means the flow loops."""

MAX_HINTS = 30
HINTS_PER_INTENT = 6  # short phrases help the recogniser; whole sentences add little
HUMAN_KEY = "0"
OFFER_ACCEPTED = "the caller sounded frustrated and accepted the offer of a person"
OFFER_KEYS = ("0", "1")  # 0 is always a person; 1 is the usual keypad yes

Step = tuple[CallState, list[Directive]]


def step(flow: Flow, state: CallState, event: Event) -> Step:
    """Apply one event to the call and say what should happen next."""
    if state.ended:
        return state, [Hangup()]
    if state.transferred and not isinstance(event, CallStarted):
        return state, [Transfer(reason="the caller is already being transferred",
                                queue=flow.transfer.queue, trigger="repeat")]
    match event:
        case CallStarted():
            return _enter(flow, CallState().entering(flow.start), [Say(flow.disclosure)])
        case Fault(reason=reason):
            return _transfer(flow, state, [Say(APOLOGY)], f"an internal problem: {reason}",
                             trigger="fault")
        case NoInput() | UserInput():
            return _caller_turn(flow, state, event)
        case ActionDone():
            return _offer_when_due(flow, *_action_done(flow, state, event))
    raise TypeError(f"unknown event {event!r}")  # pragma: no cover - exhaustive match


def listen_for(flow: Flow, node: State) -> Listen:
    """The Listen directive for a question: hints from the phrases it expects."""
    hints: list[str] = ["agent", "representative", *node.hints]
    if (node.slot and node.slot.type == "yes_no") or {"yes", "no"} & set(node.on):
        hints += ["yes", "no"]
    for intent in node.on:
        spec = flow.intents.get(intent)
        if spec:
            short = [example for example in spec.examples if len(example.split()) <= 4]
            hints += short[:HINTS_PER_INTENT]
    unique = tuple(dict.fromkeys(hints))[:MAX_HINTS]
    max_digits = node.slot.max_length if node.slot and node.slot.type == "digits" else None
    settings = flow.settings
    return Listen(
        hints=unique,
        max_digits=max_digits,
        timeout_seconds=settings.listen_timeout,
        speech_timeout=settings.speech_timeout,
        language=settings.language,
    )


def _enter(flow: Flow, state: CallState, out: list[Directive], hops: int = 0) -> Step:
    if hops > MAX_HOPS:
        return _transfer(flow, state, [*out, Say(APOLOGY)],
                         "the call flow loops without asking anything", trigger="fault")
    node = flow.states[state.node]
    match node.kind:
        case "ask":
            assert node.ask is not None
            state = state.model_copy(update={"last_prompt": node.ask})
            return state, [*out, Say(node.ask, barge_in=True), listen_for(flow, node)]
        case "action":
            assert node.action is not None
            return state, [*out, RunAction(node.action)]
        case "transfer":
            assert node.transfer is not None
            if node.say:
                out = [*out, Say(node.say)]
            return _transfer(flow, state, out, node.transfer.reason, trigger="flow",
                             queue=node.transfer.queue)
        case "hangup":
            said = [Say(node.say)] if node.say else []
            return state.model_copy(update={"ended": True}), [*out, *said, Hangup()]
        case _:
            assert node.say is not None and node.next is not None
            return _enter(flow, state.entering(node.next), [*out, Say(node.say)], hops + 1)


def _transfer(
    flow: Flow,
    state: CallState,
    out: list[Directive],
    reason: str,
    *,
    trigger: str,
    queue: str | None = None,
) -> Step:
    state = state.model_copy(update={"transferred": True})
    return state, [*out, Transfer(reason=reason, queue=queue or flow.transfer.queue,
                                  trigger=trigger)]


def _ask_again(flow: Flow, state: CallState, text: str) -> Step:
    node = flow.states[state.node]
    return state, [Say(text, barge_in=True), listen_for(flow, node)]


def _pick(lines: list[str], attempt: int, fallback: str) -> str:
    """The attempt-th retry line (1-based), reusing the last one when there are fewer."""
    if not lines:
        return fallback
    return lines[min(attempt, len(lines)) - 1]


def _caller_turn(flow: Flow, state: CallState, event: NoInput | UserInput) -> Step:
    """A caller turn: the answer to the offer of a person, or the turn as usual, then the offer
    when the caller has sounded negative for long enough."""
    score = event.sentiment if isinstance(event, UserInput) else None
    recent = [*state.sentiment, score][-MAX_SENTIMENT_TURNS:]
    state = state.model_copy(update={"sentiment": recent})
    if state.person_offer == "asked" and flow.states[state.node].kind == "ask":
        return _offer_answered(flow, state, event)
    negative = _sounds_negative(flow, state)
    if isinstance(event, NoInput):
        state, out = _no_input(flow, state)
    else:
        state, out = _user_input(flow, state, event)
    if negative and state.person_offer == "not_yet":
        state = state.model_copy(update={"person_offer": "due"})
    return _offer_when_due(flow, state, out)


def _sounds_negative(flow: Flow, state: CallState) -> bool:
    """Whether each of the caller's last `negative_sentiment_turns` turns was below the
    threshold. Keys and silence have no sentiment, so they end a run."""
    settings = flow.settings
    if not settings.offer_person_on_negative_sentiment:
        return False
    recent = state.sentiment[-settings.negative_sentiment_turns:]
    return len(recent) == settings.negative_sentiment_turns and all(
        score is not None and score < settings.negative_sentiment_threshold for score in recent
    )


def _offer_when_due(flow: Flow, state: CallState, out: list[Directive]) -> Step:
    """Ask "would you like a person?" instead of the question the turn led to, once due.

    A turn that ends in a transfer or a hang-up goes ahead; one that runs an action makes the
    offer at the question after it."""
    if state.person_offer != "due" or state.transferred or state.ended:
        return state, out
    if len(out) < 2 or not isinstance(out[-1], Listen) or not isinstance(out[-2], Say):
        return state, out
    state = state.model_copy(update={"person_offer": "asked", "last_prompt": PERSON_OFFER})
    return state, [*out[:-2], Say(PERSON_OFFER, barge_in=True), current_listen(flow, state)]


def current_listen(flow: Flow, state: CallState) -> Listen:
    """How to listen for the answer the call is waiting for now: the offer of a person while
    it is asked, otherwise the current question's."""
    if state.person_offer != "asked":
        return listen_for(flow, flow.states[state.node])
    settings = flow.settings
    return Listen(hints=("yes", "no", "agent", "representative"), max_digits=1,
                  timeout_seconds=settings.listen_timeout,
                  speech_timeout=settings.speech_timeout, language=settings.language)


def _offer_answered(flow: Flow, state: CallState, event: NoInput | UserInput) -> Step:
    """Yes (or "agent", or key 0 or 1) goes to a person; anything else, silence included,
    is a no: the caller hears the question they were on again."""
    state = state.model_copy(update={"person_offer": "made"})
    if isinstance(event, UserInput):
        if _accepts_offer(flow, event):
            return _transfer(flow, state, [], OFFER_ACCEPTED, trigger="sentiment")
        if event.frustrated and _yes_no(event) is None:
            return _transfer(flow, state, [], "the caller sounded frustrated",
                             trigger="frustration")
    node = flow.states[state.node]
    question = node.ask or ""
    state = state.model_copy(update={"last_prompt": question})
    return state, [Say(CARRY_ON), Say(question, barge_in=True), listen_for(flow, node)]


def _accepts_offer(flow: Flow, event: UserInput) -> bool:
    if event.digits:
        return event.digits.rstrip("#")[:1] in OFFER_KEYS
    if event.intent == "agent" and (_is_confident(flow, event) or event.intent_confidence >= 0.9):
        return True
    return _yes_no(event) is True


def _no_input(flow: Flow, state: CallState) -> Step:
    if flow.states[state.node].kind != "ask":
        return _enter(flow, state, [])
    state = state.model_copy(update={"no_input": state.no_input + 1})
    if state.no_input > flow.settings.no_input_reprompts:
        return _transfer(flow, state, [], "the caller did not answer", trigger="no_input")
    lines = flow.reprompts_for(state.node).no_input
    return _ask_again(flow, state, _pick(lines, state.no_input, state.last_prompt))


def _no_match(flow: Flow, state: CallState) -> Step:
    state = state.model_copy(update={"no_match": state.no_match + 1})
    if state.no_match > flow.settings.no_match_reprompts:
        return _transfer(flow, state, [], "the bot could not match what the caller asked for",
                         trigger="no_match")
    lines = flow.reprompts_for(state.node).no_match
    return _ask_again(flow, state, _pick(lines, state.no_match, state.last_prompt))


def _low_confidence(flow: Flow, state: CallState) -> Step:
    state = state.model_copy(update={"low_confidence": state.low_confidence + 1})
    if state.low_confidence >= flow.settings.low_confidence_turns:
        return _transfer(flow, state, [], "the bot was not confident it understood the caller",
                         trigger="low_confidence")
    lines = flow.reprompts_for(state.node).no_match
    return _ask_again(flow, state, _pick(lines, state.low_confidence, state.last_prompt))


def _is_confident(flow: Flow, event: UserInput) -> bool:
    if event.asr_confidence is not None and event.asr_confidence < (
        flow.settings.speech_confidence_min
    ):
        return False
    return event.intent_confidence >= flow.settings.intent_confidence_min


def _user_input(flow: Flow, state: CallState, event: UserInput) -> Step:
    node = flow.states[state.node]
    if node.kind != "ask":
        return _enter(flow, state, [])
    if not event.text.strip() and not event.digits:
        return _no_input(flow, state)
    if event.digits == HUMAN_KEY or (event.digits.startswith(HUMAN_KEY) and not node.slot):
        return _transfer(flow, state, [], "the caller pressed 0 for a person",
                         trigger="caller_request")
    confident = bool(event.digits) or _is_confident(flow, event)
    if event.intent == "agent" and (confident or event.intent_confidence >= 0.9):
        return _transfer(flow, state, [], "the caller asked for a person",
                         trigger="caller_request")
    if event.frustrated:
        return _transfer(flow, state, [], "the caller sounded frustrated", trigger="frustration")
    if confident and event.intent == "repeat":
        return _ask_again(flow, state, state.last_prompt)
    if confident and event.intent == "goodbye" and "goodbye" not in node.on:
        return _goodbye(flow, state)
    if node.slot:
        return _fill_slot(flow, state, node, event, confident)
    return _choose(flow, state, node, event, confident)


def _goodbye(flow: Flow, state: CallState) -> Step:
    if flow.goodbye_state in flow.states:
        return _enter(flow, state.entering(flow.goodbye_state), [])
    return state.model_copy(update={"ended": True}), [Say(DEFAULT_GOODBYE), Hangup()]


def _fill_slot(
    flow: Flow, state: CallState, node: State, event: UserInput, confident: bool
) -> Step:
    assert node.slot is not None and node.next is not None
    slot = node.slot
    value: object = None
    if slot.type == "digits":
        candidate = event.digits or str(event.entities.get("digits") or "")
        candidate = candidate.rstrip("#")
        if candidate.isdigit() and slot.min_length <= len(candidate) <= slot.max_length:
            value = candidate
    elif slot.type == "yes_no":
        value = _yes_no(event)
    elif event.text.strip() and confident:
        value = event.text.strip()[: slot.max_length * 8]
    if value is None and event.text and not confident and not event.digits:
        return _low_confidence(flow, state)
    if value is None:
        state = state.model_copy(update={"invalid": state.invalid + 1})
        if state.invalid > flow.settings.no_match_reprompts:
            return _transfer(flow, state, [], f"the bot could not get the {_words(slot.name)}",
                             trigger="no_match")
        return _ask_again(flow, state, _pick(node.invalid, state.invalid, GENERIC_INVALID))
    slots = {**state.slots, slot.name: value}
    state = state.model_copy(update={"slots": slots, "low_confidence": 0})
    return _enter(flow, state.entering(node.next), [])


def _yes_no(event: UserInput) -> bool | None:
    if isinstance(event.entities.get("yes_no"), bool):
        return bool(event.entities["yes_no"])
    if event.intent in ("yes", "no"):
        return event.intent == "yes"
    return None


def _choose(flow: Flow, state: CallState, node: State, event: UserInput, confident: bool) -> Step:
    intent: str | None
    if event.digits:
        intent = node.keys.get(event.digits.rstrip("#"))
    else:
        intent = event.intent
        yes_no = _yes_no(event)
        named_intent_wins = confident and intent in node.on and intent not in ("yes", "no")
        if yes_no is not None and ("yes" in node.on or "no" in node.on) and not named_intent_wins:
            intent, confident = ("yes" if yes_no else "no"), True
        if not confident:
            return _low_confidence(flow, state)
    state = state.model_copy(update={"low_confidence": 0})
    target = node.on.get(intent) if intent else None
    if target is None:
        return _no_match(flow, state)
    assert intent is not None
    if intent not in ("yes", "no"):
        state = state.model_copy(update={"intents": [*state.intents, intent]})
    return _enter(flow, state.entering(target), [])


def _action_done(flow: Flow, state: CallState, event: ActionDone) -> Step:
    node = flow.states[state.node]
    if node.kind != "action" or node.action != event.name:
        return _transfer(flow, state, [Say(APOLOGY)],
                         f"an unexpected result from {event.name}", trigger="fault")
    if not event.ok:
        return _transfer(flow, state, [Say(APOLOGY)],
                         f"the {_words(event.name)} step failed", trigger="fault")
    slots = {**state.slots, **event.slots}
    state = state.model_copy(update={"slots": slots})
    said: list[Directive] = [Say(message) for message in event.messages if message.strip()]
    target = node.next
    for condition in node.when:
        if _same(slots.get(condition.slot), condition.is_):
            target = condition.goto
            break
    assert target is not None
    return _enter(flow, state.entering(target), said)


def _same(actual: object, expected: object) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or str(actual).lower() == str(expected).lower()
    return actual == expected or str(actual) == str(expected)


def _words(name: str) -> str:
    return name.removeprefix("action_").replace("_", " ")

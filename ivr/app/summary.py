"""The hand-over summary: a structured record for screens and a short spoken version.

Pure: takes what the call did (flow, state, turns) and returns data. The spoken version leads
with the reason and the request and is cut to fit `MAX_SPOKEN_SECONDS` of speech.

What the caller needs is read from the turns in order: each of the flow's intents the caller
asked for is a request; a custom action that then succeeded and told the caller something
answered it. The need the agent hears first is the latest request still open; requests the
bot already answered follow, so the agent neither repeats them nor misses them. Only values
the flow collected from the caller are read out (by their `label`, else their name in words);
yes/no values and what actions set internally are on screen only.

The caller's sentiment trend, over the caller's turns that have a score (speech; keys and
silence have none), each from -1 to 1:

- one score: "negative" at or below -0.25, "positive" at or above 0.25, else "neutral";
- more: the turns are split into an earlier and a later half (the later one takes the middle
  turn). "worsening" when the earlier half's average is not negative and the later half's
  is; "improving" when the earlier half's is negative and the later half's positive (plain
  answers and numbers score 0, so a caller who only sounds neutral later has not shown that
  they calmed down); otherwise the band of the average of all of them;
- no scores: None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.dialog.schema import Flow
from ivr.dialog.state import CallState

MAX_SPOKEN_SECONDS = 25
WORDS_PER_SECOND = 2.5  # a brisk but clear text-to-speech rate (150 words a minute)
LAST_UTTERANCES = 3
TREND_BAND = 0.25
"""An average sentiment at least this far from 0 is negative or positive, not neutral."""
FRUSTRATED_TRIGGERS = ("frustration", "sentiment")
"""Transfers whose reason already says the caller sounded frustrated."""


@dataclass(frozen=True)
class Request:
    """Something the caller asked for, and whether the bot already answered it."""

    intent: str
    wants: str
    answered: bool = False
    bot_said: str | None = None


@dataclass(frozen=True)
class TurnRecord:
    """One stored turn, as the summary needs it."""

    kind: str
    node: str = ""
    heard: str | None = None
    digits: str | None = None
    asr_confidence: float | None = None
    intent: str | None = None
    intent_confidence: float | None = None
    action: str | None = None
    action_ok: bool | None = None
    reply: str | None = None
    sentiment: float | None = None


def build_summary(
    flow: Flow,
    state: CallState,
    turns: list[TurnRecord],
    *,
    reason: str,
    trigger: str,
    duration_seconds: int,
    earlier_calls: int | None = None,
) -> dict[str, Any]:
    """The structured summary, with its spoken form under the key `spoken`.

    `earlier_calls`: the same caller's other calls in the last 30 days (by pseudonym), or
    None when the number was withheld."""
    caller_turns = [turn for turn in turns if turn.kind in ("speech", "digits", "no_input")]
    wants = [flow.intent_description(intent) for intent in dict.fromkeys(state.intents)]
    requests = requests_in(flow, turns)
    still_open = [request for request in requests if not request.answered]
    summary: dict[str, Any] = {
        "reason": reason,
        "trigger": trigger,
        "caller_wants": _caller_wants(still_open, requests, wants),
        "all_requests": wants,
        "requests": [
            {"intent": request.intent, "wants": request.wants, "answered": request.answered,
             "bot_said": request.bot_said}
            for request in requests
        ],
        "answered_requests": [request.wants for request in requests if request.answered],
        "spoken_slots": {
            _label(flow, name): _speakable(value)
            for name, value in state.slots.items()
            if name in flow.caller_slots and value is not None and not isinstance(value, bool)
        },
        "intents": [
            {"intent": turn.intent, "confidence": _round(turn.intent_confidence),
             "speech_confidence": _round(turn.asr_confidence), "state": turn.node}
            for turn in caller_turns
            if turn.intent
        ],
        "slots": dict(state.slots),
        "actions": [
            {"name": turn.action, "ok": bool(turn.action_ok),
             "said": (turn.reply or "") if turn.action_ok else "",
             "error": None if turn.action_ok else turn.reply}
            for turn in turns
            if turn.kind == "action"
        ],
        "turns": len(caller_turns),
        "sentiment": [_round(turn.sentiment) for turn in caller_turns],
        "sentiment_trend": sentiment_trend(
            [turn.sentiment for turn in caller_turns if turn.sentiment is not None]),
        "last_utterances": [
            turn.heard or f"(keyed {turn.digits})" for turn in caller_turns
            if turn.heard or turn.digits
        ][-LAST_UTTERANCES:],
        "duration_seconds": duration_seconds,
        "earlier_calls_30_days": earlier_calls,
        "state": state.node,
    }
    summary["spoken"] = spoken_summary(summary)
    return summary


def spoken_summary(summary: dict[str, Any]) -> str:
    """Sentences in order of importance, as many as fit the time limit."""
    sentences = [f"Transferred because {summary['reason']}."]
    answered = summary.get("answered_requests", [])
    if summary["caller_wants"]:
        sentences.append(f"The caller wants to {summary['caller_wants']}.")
        if answered:
            sentences.append(f"The bot already helped them {_and(answered)}.")
    elif answered:
        sentences.append(f"The bot already helped them {_and(answered)}; nothing else is "
                         "known yet.")
    else:
        sentences.append("The caller's request is not known yet.")
    if summary.get("trigger") not in FRUSTRATED_TRIGGERS:
        if summary.get("sentiment_trend") == "negative":
            sentences.append("The caller sounds frustrated.")
        elif summary.get("sentiment_trend") == "worsening":
            sentences.append("The caller sounds more and more frustrated.")
    if summary.get("earlier_calls_30_days"):
        count = summary["earlier_calls_30_days"]
        sentences.append(f"Repeat caller: {count} earlier call{'s' if count > 1 else ''} "
                         "this month.")
    spoken_slots = summary.get("spoken_slots")
    if spoken_slots is None:  # a summary stored before slots were chosen for speech
        spoken_slots = {_words(name): _speakable(value)
                        for name, value in summary["slots"].items()}
    for label, value in spoken_slots.items():
        sentences.append(f"{label[:1].upper()}{label[1:]}: {value}.")
    for action in summary["actions"][-2:]:
        if action["said"]:
            sentences.append(f"The bot told them: {action['said']}")
        elif not action["ok"]:
            sentences.append(f"The {_words(action['name'])} step failed.")
    if summary["last_utterances"]:
        sentences.append(f"They last said: {summary['last_utterances'][-1]}.")
    sentences.append(f"{summary['turns']} turns, {summary['duration_seconds']} seconds.")
    return _fit(sentences, int(MAX_SPOKEN_SECONDS * WORDS_PER_SECOND))


def requests_in(flow: Flow, turns: list[TurnRecord]) -> list[Request]:
    """The caller's requests in the order first asked, each with the first answer an action
    gave after it (asking again for the same thing continues that request)."""
    requests: dict[str, Request] = {}
    current: str | None = None
    for turn in turns:
        if turn.kind in ("speech", "digits") and turn.intent in flow.intents:
            current = turn.intent
            if current not in requests:
                requests[current] = Request(current, flow.intent_description(current))
        elif (turn.kind == "action" and turn.action_ok and turn.reply and current
              and not requests[current].answered):
            requests[current] = Request(current, requests[current].wants, True, turn.reply)
    return list(requests.values())


def _caller_wants(still_open: list[Request], requests: list[Request],
                  wants: list[str]) -> str | None:
    """The latest request still open; when the turns show none (every request answered, or
    intents known only from the state), None or the latest intent acted on."""
    if still_open:
        return still_open[-1].wants
    if requests:
        return None
    return wants[-1] if wants else None


def _and(items: list[str]) -> str:
    """'to a', 'to a and to b', 'to a, to b and to c'."""
    phrases = [f"to {item}" for item in items]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _label(flow: Flow, name: str) -> str:
    slot = flow.caller_slots.get(name)
    return slot.label if slot and slot.label else _words(name)


def sentiment_trend(scores: list[float]) -> str | None:
    """How the caller sounded over the call, by the rule in this module's docstring."""
    if not scores:
        return None
    if len(scores) > 1:
        middle = len(scores) // 2
        earlier, later = _band(_mean(scores[:middle])), _band(_mean(scores[middle:]))
        if earlier != "negative" and later == "negative":
            return "worsening"
        if earlier == "negative" and later == "positive":
            return "improving"
    return _band(_mean(scores))


def _band(score: float) -> str:
    if score <= -TREND_BAND:
        return "negative"
    if score >= TREND_BAND:
        return "positive"
    return "neutral"


def _mean(scores: list[float]) -> float:
    return sum(scores) / len(scores)


def _fit(sentences: list[str], max_words: int) -> str:
    chosen: list[str] = []
    used = 0
    for sentence in sentences:
        words = len(sentence.split())
        if used + words > max_words:
            if not chosen:  # the reason alone is too long: cut it, and it fills the time
                chosen.append(" ".join(sentence.split()[:max_words]))
                used = max_words
            continue
        chosen.append(sentence)
        used += words
    return " ".join(chosen)


def _speakable(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if text.isdigit():
        return " ".join(text)
    return text


def _words(name: str) -> str:
    return name.removeprefix("action_").replace("_", " ")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)

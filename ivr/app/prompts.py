"""Which texts a flow can speak that are known before the call: the prompts to pre-render.

Everything a caller can hear that does not depend on slot values or action results: the
disclosure, questions, statements, reprompts, invalid-answer lines, and the server's own
fixed lines from the catalogue in `ivr.dialog.lines` (apology, goodbye, the offer of a
person, hand-over and fallback intros, the survey). Action messages and anything else with
values in it are rendered on demand instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from ivr.dialog import CallStarted, CallState, Flow, Say, step
from ivr.dialog.lines import server_lines, survey_lines
from ivr.speech.tts import normalise


def static_prompts(flow: Flow) -> list[str]:
    """Every fixed text of `flow`, deduplicated, in a stable order (first audio first), with
    the survey's lines when the flow has one."""
    texts: list[str] = [*first_audio(flow)]
    for name, state in flow.states.items():
        texts += [text for text in (state.ask, state.say) if text]
        texts += state.invalid
        if state.kind == "ask":
            reprompts = flow.reprompts_for(name)
            texts += reprompts.no_input + reprompts.no_match
    texts += flow.reprompts.no_input + flow.reprompts.no_match
    texts += server_lines()
    if flow.after_transfer.survey:
        texts += survey_lines()
    return _unique(texts)


def first_audio(flow: Flow) -> list[str]:
    """What a new call hears before it can answer: the disclosure and the first question.

    Taken from the engine's own first step, so a start state that says something before
    asking is covered too. These must always be pre-rendered.
    """
    _, directives = step(flow, CallState(), CallStarted())
    return _unique(directive.text for directive in directives if isinstance(directive, Say))


def _unique(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    unique: list[str] = []
    for text in texts:
        spoken = normalise(text)
        if spoken and spoken not in seen:
            seen.add(spoken)
            unique.append(text)
    return unique


__all__ = ["first_audio", "server_lines", "static_prompts"]

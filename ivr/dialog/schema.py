"""The dialog flow model: what an admin may write in a `dialogs/*.yaml` file.

Pydantic models with defaults for everything that is not interesting. Reachability and
safety checks that look at the whole flow live in `ivr.dialog.checks`.
"""

from __future__ import annotations

import re
from string import Formatter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BUILTIN_INTENTS = ("agent", "yes", "no", "repeat", "goodbye")
"""Intents every flow understands. `agent` always reaches a person."""

MAX_SENTIMENT_TURNS = 5
"""Caller turns whose sentiment a call remembers."""
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
KEYPAD_KEYS = set("123456789*#")  # 0 is reserved for "a person"
SMS_PLACEHOLDERS = ("reference", "business")
"""What a confirmation text may contain besides fixed words: nothing about the caller."""
MAX_SMS_TEMPLATE_CHARS = 300


class Strict(BaseModel):
    """Base for flow models: unknown keys are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(Strict):
    """Thresholds and limits; the defaults suit most lines."""

    speech_confidence_min: float = Field(0.3, ge=0, le=1)
    intent_confidence_min: float = Field(0.45, ge=0, le=1)
    low_confidence_turns: int = Field(
        2, ge=1, le=5, description="Consecutive low-confidence turns that transfer to a person."
    )
    no_input_reprompts: int = Field(
        2, ge=0, le=5, description="Reprompts after silence before the caller goes to a person."
    )
    no_match_reprompts: int = Field(
        2, ge=0, le=5, description="Reprompts after a misunderstanding before a person takes over."
    )
    speech_timeout: str = Field("auto", description="Twilio speechTimeout: 'auto' or seconds.")
    listen_timeout: int = Field(5, ge=1, le=30, description="Seconds of silence before no-input.")
    language: str = "en-US"
    voice: str | None = Field(None, description="Twilio <Say> voice, e.g. Polly.Joanna.")
    offer_person_on_negative_sentiment: bool = Field(
        True, description="Offer a person, once per call, when the caller sounds negative for "
        "`negative_sentiment_turns` turns in a row."
    )
    negative_sentiment_threshold: float = Field(
        -0.4, ge=-1, le=0, description="A caller turn whose sentiment (-1 to 1) is below this "
        "counts as negative."
    )
    negative_sentiment_turns: int = Field(
        2, ge=1, le=MAX_SENTIMENT_TURNS,
        description="Consecutive negative caller turns before the bot offers a person.",
    )

    @field_validator("speech_timeout")
    @classmethod
    def _speech_timeout_is_auto_or_seconds(cls, value: str) -> str:
        if value != "auto" and not value.isdigit():
            raise ValueError("speech_timeout must be 'auto' or a whole number of seconds")
        return value


class Reprompts(Strict):
    """What the caller hears after silence or a misunderstanding, one line per retry."""

    no_input: list[str] = Field(default_factory=list)
    no_match: list[str] = Field(default_factory=list)


DEFAULT_REPROMPTS = Reprompts(
    no_input=[
        "Sorry, I didn't hear anything. Could you say that again?",
        "I still can't hear you. If you'd like a person, press 0.",
    ],
    no_match=[
        "Sorry, I didn't understand. Could you say that another way?",
        "I'm still not sure what you need. You can also say agent to talk to a person.",
    ],
)


class Intent(Strict):
    """Something a caller may want, taught by example phrases."""

    description: str | None = Field(
        None, description="Plain words for the agent's summary, e.g. 'check an order'."
    )
    examples: list[str] = Field(default_factory=list)

    @field_validator("examples")
    @classmethod
    def _examples_not_blank(cls, value: list[str]) -> list[str]:
        if any(not example.strip() for example in value):
            raise ValueError("an example phrase is empty")
        return value


class Slot(Strict):
    """A value to collect from the caller."""

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["digits", "yes_no", "text"]
    label: str | None = Field(
        None, max_length=60,
        description="How the agent's summary names this value (default: the name in words, "
        "e.g. 'order number').")
    min_length: int = Field(1, ge=1, le=64)
    max_length: int = Field(32, ge=1, le=64)

    @field_validator("name")
    @classmethod
    def _no_payment_cards(cls, value: str) -> str:
        if re.search(r"card|cvv|cvc|pan|ssn|social_security", value):
            raise ValueError(
                "slots may not collect card numbers or social security numbers; "
                "send payments to Twilio <Pay> or a person"
            )
        return value

    @model_validator(mode="after")
    def _lengths_ordered(self) -> Slot:
        if self.min_length > self.max_length:
            raise ValueError("min_length is larger than max_length")
        return self


class Condition(Strict):
    """After an action: go somewhere else when a slot has a given value."""

    slot: str
    is_: str | int | float | bool | None = Field(alias="is")
    goto: str

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TransferSpec(Strict):
    """Hand the caller to a person."""

    reason: str = "the flow sends this caller to a person"
    queue: str | None = None


StateKind = Literal["ask", "action", "say", "transfer", "hangup"]


class State(Strict):
    """One step of the call. Exactly one of ask, action, transfer, hangup or say+next."""

    ask: str | None = Field(None, description="A question; the caller answers by voice or keypad.")
    say: str | None = Field(None, description="A statement, then `next` (or hang up).")
    on: dict[str, str] = Field(default_factory=dict, description="intent -> next state")
    keys: dict[str, str] = Field(default_factory=dict, description="keypad key -> intent")
    slot: Slot | None = None
    invalid: list[str] = Field(default_factory=list, description="Re-asks for an invalid slot.")
    reprompts: Reprompts | None = None
    action: str | None = Field(None, description="A rasa-sdk custom action to run.")
    when: list[Condition] = Field(default_factory=list)
    next: str | None = None
    transfer: TransferSpec | None = None
    hangup: bool = False
    hints: list[str] = Field(default_factory=list, description="Extra speech hints.")

    @property
    def kind(self) -> StateKind:
        if self.ask is not None:
            return "ask"
        if self.action is not None:
            return "action"
        if self.transfer is not None:
            return "transfer"
        if self.hangup:
            return "hangup"
        return "say"

    @field_validator("keys")
    @classmethod
    def _keys_are_keypad_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key == "0":
                raise ValueError("key 0 always reaches a person; pick another key")
            if len(key) != 1 or key not in KEYPAD_KEYS:
                raise ValueError(f"{key!r} is not a keypad key (use 1-9, * or #)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> State:
        kinds = [
            name
            for name, present in (
                ("ask", self.ask is not None),
                ("action", self.action is not None),
                ("transfer", self.transfer is not None),
                ("hangup", self.hangup),
            )
            if present
        ]
        if len(kinds) > 1:
            raise ValueError(f"a state does one thing, this one has {' and '.join(kinds)}")
        kind = self.kind
        if kind == "ask" and not (self.on or self.slot):
            raise ValueError("a question needs `on:` (intent -> state) or a `slot:` to fill")
        if kind == "ask" and self.slot and not self.next:
            raise ValueError("a question with a slot needs `next:` (where to go once it is filled)")
        if kind == "ask" and self.on and self.slot:
            raise ValueError("use either `on:` or `slot:` in one question, not both")
        if kind == "action" and not self.next:
            raise ValueError("an action needs `next:` (where to go after it ran)")
        if kind == "say" and not self.say:
            raise ValueError("a state needs one of ask, say, action, transfer or hangup")
        if kind == "say" and not self.next:
            raise ValueError("a `say:` state needs `next:`, or `hangup: true` to end the call")
        if kind != "ask" and (self.on or self.keys or self.slot or self.invalid):
            raise ValueError("`on`, `keys`, `slot` and `invalid` belong to an `ask:` state")
        if self.when and kind != "action":
            raise ValueError("`when:` belongs to an `action:` state")
        return self


class ActionsSpec(Strict):
    """Where custom actions run: a Python module in-process, or a rasa-sdk action server."""

    module: str | None = Field(None, description="Dotted module with rasa_sdk.Action classes.")
    url: str | None = Field(None, description="A rasa-sdk action server webhook URL.")
    timeout_seconds: float = Field(4.0, gt=0, le=15)

    @model_validator(mode="after")
    def _one_place(self) -> ActionsSpec:
        if self.module and self.url:
            raise ValueError("give either `module` or `url`, not both")
        return self


class AfterTransfer(Strict):
    """What happens once a person has helped the caller (the agent's leg ended). Off unless
    switched on."""

    survey: bool = Field(
        False, description="Offer one keypad question (1 to 5: how satisfied were you?) when the "
        "agent hangs up; only callers who press a key answer it."
    )
    sms_confirmation: str | None = Field(
        None, max_length=MAX_SMS_TEMPLATE_CHARS,
        description="Text this to the caller's number when the agent's part ends. "
        "Placeholders: {reference} (a short reference of the call) and {business}.",
    )

    @field_validator("sms_confirmation")
    @classmethod
    def _only_known_placeholders(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("the confirmation text is empty; write the message, or remove "
                             "`sms_confirmation`")
        known = " or ".join(f"{{{name}}}" for name in SMS_PLACEHOLDERS)
        try:
            fields = [(name, spec, conversion)
                      for _, name, spec, conversion in Formatter().parse(value)
                      if name is not None]
        except ValueError:
            raise ValueError(f"the confirmation text has a {{ or }} without its pair; "
                             f"the placeholders are {known}, and {{{{ or }}}} writes a brace"
                             ) from None
        for name, spec, conversion in fields:
            if name not in SMS_PLACEHOLDERS:
                raise ValueError(f"{{{name}}} is not a placeholder of the confirmation text; "
                                 f"use {known} (nothing about the caller can go in a text)")
            if spec or conversion:
                raise ValueError(f"write the placeholder plainly, as {{{name}}}")
        return value


class Flow(Strict):
    """A whole call script, as parsed from one YAML file."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    disclosure: str = Field(
        description="The first thing every caller hears: that this is an automated assistant "
        "and how to reach a person."
    )
    start: str
    settings: Settings = Field(default_factory=Settings)
    reprompts: Reprompts = Field(default_factory=lambda: DEFAULT_REPROMPTS)
    transfer: TransferSpec = Field(default_factory=TransferSpec)
    actions: ActionsSpec = Field(default_factory=ActionsSpec)
    intents: dict[str, Intent] = Field(default_factory=dict)
    states: dict[str, State]
    goodbye_state: str = "goodbye"
    after_transfer: AfterTransfer = Field(default_factory=AfterTransfer)

    @field_validator("disclosure")
    @classmethod
    def _disclosure_is_honest(cls, value: str) -> str:
        text = value.lower()
        if not value.strip():
            raise ValueError("the disclosure must not be empty")
        if not re.search(r"automated|virtual|\bbot\b|digital assistant|recorded", text):
            raise ValueError(
                "the disclosure must tell callers they are talking to an automated assistant"
            )
        if not re.search(r"\bagent\b|\bperson\b|\bhuman\b|press 0|press zero|representative",
                         text):
            raise ValueError("the disclosure must tell callers how to reach a person")
        return value

    @field_validator("intents")
    @classmethod
    def _intent_names(cls, value: dict[str, Intent]) -> dict[str, Intent]:
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"intent name {name!r}: use lower_case letters, digits and _")
        return value

    @field_validator("states")
    @classmethod
    def _state_names(cls, value: dict[str, State]) -> dict[str, State]:
        if not value:
            raise ValueError("a flow needs at least one state")
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"state name {name!r}: use lower_case letters, digits and _")
        return value

    @property
    def text_slot_names(self) -> frozenset[str]:
        """Slots that hold free text (redacted before storage)."""
        return frozenset(state.slot.name for state in self.states.values()
                         if state.slot and state.slot.type == "text")

    @property
    def caller_slots(self) -> dict[str, Slot]:
        """Slots the flow collects from the caller (not those actions set), by name."""
        return {state.slot.name: state.slot for state in self.states.values() if state.slot}

    def intent_description(self, intent: str) -> str:
        """Plain words for an intent, for summaries."""
        spec = self.intents.get(intent)
        if spec and spec.description:
            return spec.description
        return intent.replace("_", " ")

    def reprompts_for(self, state_name: str) -> Reprompts:
        """The state's reprompts, falling back to the flow's, per kind."""
        own = self.states[state_name].reprompts
        return Reprompts(
            no_input=(own.no_input if own and own.no_input else self.reprompts.no_input),
            no_match=(own.no_match if own and own.no_match else self.reprompts.no_match),
        )

"""The bundled demo actions: order status, a password reset link by text, opening hours.

They are ordinary rasa-sdk actions, so they run in-process (`actions: {module:
ivr.actions.demo}`) or on a rasa-sdk action server
(`python -m rasa_sdk --actions ivr.actions.demo`). Server resources come from
`ivr.actions.context.current()`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from ivr.actions.context import current
from ivr.config import BusinessSettings, Settings
from ivr.privacy.pseudonyms import textable_number
from ivr.storage.db import session_scope
from ivr.storage.repository import find_order
from ivr.telephony.sms import send_sms

log = logging.getLogger(__name__)

DomainDict = dict[str, Any]


# Order status -----------------------------------------------------------------------------


class ActionOrderStatus(Action):
    """Look up slot `order_number`; set `order_found` and `order_status`, and say the status.

    Says nothing when the order is unknown: the flow asks whether to try another number.
    """

    def name(self) -> str:
        return "action_order_status"

    def run(  # synchronous: rasa-sdk accepts synchronous actions
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = "".join(
            char for char in str(tracker.get_slot("order_number") or "") if char.isdigit()
        )
        found: tuple[str, str] | None = None
        if number:
            with session_scope(current().database_url) as session:
                order = find_order(session, number)
                if order is not None:
                    found = (order.status, order.detail)
        if found is None:
            return [SlotSet("order_found", False), SlotSet("order_status", None)]
        status, detail = found
        dispatcher.utter_message(text=f"Order {spoken_digits(number)} {detail}.")
        return [SlotSet("order_found", True), SlotSet("order_status", status)]


def spoken_digits(digits: str) -> str:
    """'123456' -> '1 2 3 4 5 6', so text-to-speech reads digits, not a large number."""
    return " ".join(digits)


# Password reset by text message -------------------------------------------------------------

RESET_LINK_MINUTES = 30
RESET_SENT = (
    "I've sent a password reset link by text message to the number you're calling from. "
    f"It's valid for {RESET_LINK_MINUTES} minutes."
)
RESET_NOT_SENT = (
    "Sorry, I couldn't send a text message to the number you're calling from. "
    "An agent can help you reset your password."
)


class ActionSendPasswordReset(Action):
    """Text a one-time reset link to the caller's number; set `reset_sent`.

    The number comes from `latest_message["metadata"]["caller"]`, request-time data that is
    never stored. It appears in no log line and no utterance.
    """

    def name(self) -> str:
        return "action_send_password_reset"

    def run(  # synchronous: rasa-sdk accepts synchronous actions
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        metadata = tracker.latest_message.get("metadata") or {}
        sent = send_reset_link(current().settings, metadata.get("caller"))
        dispatcher.utter_message(text=RESET_SENT if sent else RESET_NOT_SENT)
        return [SlotSet("reset_sent", sent)]


def send_reset_link(settings: Settings, caller: Any) -> bool:
    """Send the reset text; False (and a log line without the number) when it cannot."""
    if not settings.sms_from:
        log.warning("password reset not sent: no SMS sender number is configured (sms_from)")
        return False
    to = textable_number(caller)
    if to is None:
        log.info("password reset not sent: the caller's number is missing or withheld")
        return False
    link = reset_link(settings.business.password_reset_url, secrets.token_urlsafe(24))
    body = (
        f"{settings.business.name}: reset your password with this link, valid for "
        f"{RESET_LINK_MINUTES} minutes: {link}\n"
        "If you didn't ask for this, you can ignore this message."
    )
    sid = send_sms(settings.twilio_account_sid, settings.auth_token,
                   sender=settings.sms_from, to=to, body=body)
    if sid is None:
        return False
    log.info("password reset SMS queued as %s", sid)
    return True


def reset_link(base_url: str, token: str) -> str:
    """`base_url` with `token=<token>` added to its query string."""
    parts = urlsplit(base_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# Opening hours ------------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Opening:
    """Opening times of one day in minutes after midnight; `closes` <= `opens` runs overnight."""

    opens: int
    closes: int

    @property
    def overnight(self) -> bool:
        return self.closes <= self.opens

    @property
    def around_the_clock(self) -> bool:
        return self.opens == 0 and self.closes in (0, MINUTES_PER_DAY)


class ActionOpeningHours(Action):
    """Say the weekly opening hours and whether the line is open now; set `open_now`."""

    def name(self) -> str:
        return "action_opening_hours"

    def run(  # synchronous: rasa-sdk accepts synchronous actions
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text, open_now = describe_opening_hours(current().settings.business)
        dispatcher.utter_message(text=text)
        return [SlotSet("open_now", open_now)]


def describe_opening_hours(
    business: BusinessSettings, now: datetime | None = None
) -> tuple[str, bool]:
    """The spoken weekly hours plus the current status, and whether it is open at `now`.

    `now` defaults to the real clock; an aware datetime is converted to the business's
    time zone, a naive one is taken as the business's local time.
    """
    zone = ZoneInfo(business.timezone)
    if now is None:
        now = datetime.now(zone)
    elif now.tzinfo is not None:
        now = now.astimezone(zone)
    schedule = parse_hours(business.hours)
    if not schedule:
        return "We don't have regular opening hours at the moment.", False
    status, open_now = status_sentence(schedule, now)
    return f"{weekly_sentence(schedule)} {status}", open_now


def parse_hours(hours: Mapping[str, str]) -> dict[int, Opening]:
    """{'monday': '08:00-20:00', ...} -> {0: Opening(480, 1200), ...}; closed days absent."""
    schedule: dict[int, Opening] = {}
    for day, span in hours.items():
        weekday = _weekday_index(day)
        if not span or span.strip().lower() == "closed":
            continue
        match = _HOURS.match(span)
        if not match:
            raise ValueError(f"opening hours for {day}: expected HH:MM-HH:MM, got {span!r}")
        open_h, open_m, close_h, close_m = (int(part) for part in match.groups())
        if open_h > 23 or close_h > 24 or open_m > 59 or close_m > 59:
            raise ValueError(f"opening hours for {day}: {span!r} is not a time of day")
        schedule[weekday] = Opening(open_h * 60 + open_m, close_h * 60 + close_m)
    return schedule


def _weekday_index(day: str) -> int:
    key = day.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if key in (name, name[:3]):
            return index
    raise ValueError(f"opening hours: {day!r} is not a day of the week")


def weekly_sentence(schedule: Mapping[int, Opening]) -> str:
    """'We're open Monday to Friday from 8 AM to 8 PM, and Saturday ... We're closed on Sunday.'"""
    runs: list[tuple[list[int], Opening]] = []
    for weekday in range(7):
        opening = schedule.get(weekday)
        if opening is None:
            continue
        if runs and runs[-1][1] == opening and runs[-1][0][-1] == weekday - 1:
            runs[-1][0].append(weekday)
        else:
            runs.append(([weekday], opening))
    if len(runs) == 1 and len(runs[0][0]) == 7:
        return f"We're open every day {_span(runs[0][1])}."
    parts = [f"{_days(days)} {_span(opening)}" for days, opening in runs]
    sentence = f"We're open {_and_list(parts, comma_before_and=True)}."
    closed = [WEEKDAYS[day].capitalize() for day in range(7) if day not in schedule]
    if closed:
        sentence += f" We're closed on {_and_list(closed)}."
    return sentence


def status_sentence(schedule: Mapping[int, Opening], now: datetime) -> tuple[str, bool]:
    """Whether it is open at `now` (business-local), as a sentence and a flag."""
    weekday, minute = now.weekday(), now.hour * 60 + now.minute
    today, yesterday = schedule.get(weekday), schedule.get((weekday - 1) % 7)
    if today and today.around_the_clock:
        return "We're open right now.", True
    if today and today.opens <= minute and (today.overnight or minute < today.closes):
        return f"We're open right now, until {spoken_time(today.closes)}.", True
    if yesterday and yesterday.overnight and minute < yesterday.closes:
        return f"We're open right now, until {spoken_time(yesterday.closes)}.", True
    for days_ahead in range(8):
        day = (weekday + days_ahead) % 7
        opening = schedule.get(day)
        if opening is None or (days_ahead == 0 and opening.opens <= minute):
            continue
        if days_ahead == 0:
            when = "later today"
        elif days_ahead == 1:
            when = "tomorrow"
        elif days_ahead == 7:
            when = f"next {WEEKDAYS[day].capitalize()}"
        else:
            when = f"on {WEEKDAYS[day].capitalize()}"
        return (
            f"We're closed right now. We open again {when} at {spoken_time(opening.opens)}."
        ), False
    return "We're closed right now.", False


def spoken_time(minutes: int) -> str:
    """480 -> '8 AM', 1230 -> '8:30 PM', 720 -> 'noon', 0 or 1440 -> 'midnight'."""
    minutes %= MINUTES_PER_DAY
    if minutes == 0:
        return "midnight"
    if minutes == 12 * 60:
        return "noon"
    hour, minute = divmod(minutes, 60)
    suffix = "AM" if hour < 12 else "PM"
    hour12 = hour % 12 or 12
    return f"{hour12} {suffix}" if minute == 0 else f"{hour12}:{minute:02d} {suffix}"


def _span(opening: Opening) -> str:
    if opening.around_the_clock:
        return "around the clock"
    return f"from {spoken_time(opening.opens)} to {spoken_time(opening.closes)}"


def _days(days: list[int]) -> str:
    names = [WEEKDAYS[day].capitalize() for day in days]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} to {names[-1]}"


def _and_list(items: list[str], *, comma_before_and: bool = False) -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]}{',' if comma_before_and else ''} and {items[1]}"
    return f"{', '.join(items[:-1])}, and {items[-1]}"

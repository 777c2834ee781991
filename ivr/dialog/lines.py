"""Every line the server itself speaks, whatever the flow: one catalogue.

A flow's own words (disclosure, questions, reprompts) live in its YAML. These are the lines
the engine, the hand-over, the after-call steps and the TwiML renderer add around them. They
are constants, so `ivr prompts build` pre-renders all of them (`server_lines`), and a wording
change is made here once.
"""

from __future__ import annotations

# The engine ----------------------------------------------------------------------------------
APOLOGY = "I'm sorry, something went wrong on my side."
DEFAULT_GOODBYE = "Thanks for calling. Goodbye."
SHORT_GOODBYE = "Goodbye."
GENERIC_INVALID = "Sorry, that doesn't look right. Please try again."
PERSON_OFFER = (
    "I'm sorry this has been frustrating. Would you like me to put you through to a person? "
    "Say yes or no."
)
CARRY_ON = "All right, let's carry on."

# Handing the caller to a person ----------------------------------------------------------------
HANDOVER_INTRO = (
    "I'm connecting you with a member of our team now. I've passed on what you've told me, "
    "so you won't need to repeat yourself. Please hold."
)
NEXT_AGENT_INTRO = "That colleague isn't available, so I'm trying someone else. Please hold."
HOLD_FIRST = "Thanks for holding. I'm ringing a member of our team for you now."
HOLD_LATER = (
    "Thanks for your patience. You're still connected, and we're finding someone to help you. "
    "They'll already have the details of your call."
)

# Nobody can take the call (the fallbacks) ------------------------------------------------------
BACKUP_LINE_INTRO = (
    "I'm sorry, everyone on the team is busy. I'm connecting you to our backup line."
)
BUSY_NO_VOICEMAIL = (
    "I'm sorry, everyone on the team is busy right now. Please call us again a little later. "
    "We've kept a note of what you told me, so you won't need to repeat it. Goodbye."
)
VOICEMAIL_INTRO = (
    "I'm sorry, everyone on the team is busy right now. Please leave a short message "
    "after the tone with the best time to reach you, and we'll call you back within "
    "one business day. We've kept what you told me, so you won't need to repeat it."
)
VOICEMAIL_SAVED = (
    "Thank you. We've got your message and we'll call you back soon. Goodbye."
)
VOICEMAIL_FAILED = "Thank you. Goodbye."
NO_MESSAGE = "I didn't get a message. We'll call you back. Goodbye."
NOBODY_AVAILABLE = (
    "I'm sorry, no one can take your call right now. "
    "Please call back during opening hours. Goodbye."
)
LAST_RESORT = "I'm sorry, something went wrong. Connecting you to a person."
LAST_RESORT_NOBODY = "Please call back later. Goodbye."

# What the agent hears in the whisper -----------------------------------------------------------
NO_SUMMARY = "No summary is available for this call."
SUMMARY_NOT_LOADED = "The summary could not be loaded."
AGENT_DECLINED = "Okay, passing the call on."

# After the agent: the survey -------------------------------------------------------------------
SURVEY_QUESTION = (
    "Before you go: how satisfied were you with your call today? Press 1 for very "
    "dissatisfied up to 5 for very satisfied, or simply hang up."
)
SURVEY_AGAIN = (
    "Sorry, that key isn't a score. Please press a number from 1, very dissatisfied, "
    "to 5, very satisfied, or simply hang up."
)
SURVEY_THANKS = "Thank you, goodbye."


def server_lines() -> list[str]:
    """What a caller may hear from the server in any flow (pre-rendered for every flow)."""
    return [
        APOLOGY, DEFAULT_GOODBYE, SHORT_GOODBYE, GENERIC_INVALID, PERSON_OFFER, CARRY_ON,
        HANDOVER_INTRO, NEXT_AGENT_INTRO, HOLD_FIRST, HOLD_LATER,
        BACKUP_LINE_INTRO, BUSY_NO_VOICEMAIL, VOICEMAIL_INTRO, VOICEMAIL_SAVED,
        VOICEMAIL_FAILED, NO_MESSAGE, NOBODY_AVAILABLE,
    ]


def survey_lines() -> list[str]:
    """What the after-call survey says (pre-rendered for flows that have one; its goodbye is
    the engine's)."""
    return [SURVEY_QUESTION, SURVEY_AGAIN, SURVEY_THANKS]


def agent_lines() -> list[str]:
    """What the agent may hear around the whisper (not the caller)."""
    return [NO_SUMMARY, SUMMARY_NOT_LOADED, AGENT_DECLINED]

"""Rules that send a caller to a person: asking for one, or sounding fed up.

Rules, not the classifier: a caller who says "agent" must reach an agent every time, however
the model was trained, and a request for a person hidden in a long sentence must still count.
"""

from __future__ import annotations

import re
import unicodedata

_PERSON = (
    r"(?:agent|agents|representative|representatives|rep|reps|operator|operators|human|humans|"
    r"human\s+being|person|people|someone|somebody|anyone|anybody|manager|supervisor|"
    r"advisor|adviser|staff\s+member|employee)"
)
_REAL = r"(?:real|live|actual|proper|human)"
_ARTICLE = r"(?:a|an|the|some|any|your|one\s+of\s+your)"

_REQUESTS_FOR_PERSON = (
    # Words that mean a person on their own, anywhere.
    r"\b(?:representative|representatives|operator|customer\s+(?:service|care|support))\b",
    rf"\b{_REAL}\s+(?:{_PERSON})\b",
    r"\bhuman\s+being\b",
    r"\blive\s+(?:chat|help)\b",
    # "agent", except someone else's agent or an agent number.
    r"(?<!\bmy\s)(?<!\btravel\s)(?<!\binsurance\s)(?<!\bestate\s)(?<!\bsecret\s)"
    r"\bagents?\b(?!\s+(?:number|id|code|name|said|told))",
    # Asking to speak, be put through, or get someone.
    rf"\b(?:speak|talk|chat|connect|transfer|put|get|give|want|need|reach|prefer|"
    rf"rather|find)\b(?:\s+(?:me|us|to|with|through|over|just|please|"
    rf"right\s+now|now|directly|straight)){{0,3}}\s+(?:{_ARTICLE}\s+)?"
    rf"(?:{_REAL}\s+)?{_PERSON}\b(?!\s+(?:else|that|has|took|stole|sent|delivered|"
    rf"who(?!\s+(?:can|could|knows|understands)))\b)",
    rf"\b(?:is|are)\s+there\s+(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?{_PERSON}\b",
    r"\b(?:can|could|will|would)\s+(?:someone|somebody|anyone|anybody|a\s+person)\s+"
    r"(?:please\s+)?help\b",
    r"\b(?:transfer|connect)\s+me\b",
    r"\bput\s+me\s+through\b",
    # Refusing the machine.
    r"\b(?:dont|do\s+not|no\s+more|hate|sick\s+of|tired\s+of|stop)\s+(?:want\s+)?"
    r"(?:to\s+)?(?:talk(?:ing)?\s+to\s+|speak(?:ing)?\s+(?:to|with)\s+)?(?:a\s+|this\s+|the\s+|"
    r"your\s+)?(?:stupid\s+)?(?:robot|machine|computer|bot|automated\s+system|recording)\b",
)
_ASKS_FOR_PERSON = re.compile("|".join(_REQUESTS_FOR_PERSON))
_PERSON_ALONE = re.compile(
    rf"^(?:(?:um|uh|er|hi|hello|yes|yeah|ok|okay|oh|please|just|i\s+want|i\s+need|give\s+me|"
    rf"get\s+me)\s+)*(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?{_PERSON}(?:\s+(?:please|now|right\s+now|"
    rf"thanks|thank\s+you))*$"
)
"""The whole answer is a person: "somebody", "a human please", "yes a person"."""

_NEGATED_PERSON = re.compile(
    rf"\b(?:dont|do\s+not|doesnt|no\s+need\s+(?:for|to)|not)\s+(?:want|need|wanna|ask\s+for)?\s*"
    rf"(?:to\s+(?:speak|talk|chat)\s+(?:to|with)\s+)?(?:{_ARTICLE}\s+)?(?:{_REAL}\s+)?{_PERSON}\b"
)
"""A person the caller does not want: "I don't need an agent, just the hours"."""

_FRUSTRATION_CUES = (
    r"\b(?:damn|dammit|damnit|goddamn|shit|shitty|crap|crappy|fuck\w*|bullshit|bloody|"
    r"piss\w*|wtf|screw\s+(?:this|you|it))\b",
    r"\bwhat\s+the\s+(?:hell|heck)\b",
    r"\b(?:ridiculous|useless|pointless|hopeless|pathetic|absurd|unbelievable|outrageous|"
    r"unacceptable|incompetent)\b",
    r"\b(?:stupid|dumb|idiotic|worthless|terrible|awful|horrible|garbage|rubbish|"
    r"broken)\s+(?:machine|robot|bot|system|computer|thing|phone|menu|service|company)\b",
    r"\b(?:this\s+is|that\s+is|thats|it\s+is|its|you\s+are|youre)\s+(?:so\s+|really\s+|"
    r"just\s+)?(?:stupid|dumb|a\s+joke|a\s+nightmare|garbage|rubbish|insane|crazy)\b",
    r"\bwaste\s+of\s+(?:my\s+)?time\b",
    r"\b(?<!not\s)(?<!never\s)(?:so|really|very|getting|extremely)\s+(?:angry|mad|annoyed|"
    r"frustrated|furious|upset|pissed)\b",
    r"\bim\s+(?:angry|furious|frustrated|fed\s+up|livid|sick\s+of\s+this)\b",
    r"\b(?:fed\s+up|sick\s+and\s+tired|had\s+enough|losing\s+my\s+patience)\b",
    r"\b(?:youre|you\s+are|youre\s+just)\s+not\s+listening\b",
    r"\bare\s+you\s+(?:even\s+)?listening\b",
    r"\bfor\s+the\s+(?:last|third|fourth|fifth|tenth|hundredth)\s+time\b",
    r"\bhow\s+many\s+times\s+(?:do|have|must)\s+i\b",
    r"\b(?:hate|hated)\s+(?:this|you|these|automated)\b",
    r"\bworst\s+(?:service|company|system|experience)\b",
    r"\bpiece\s+of\s+(?:junk|crap|garbage)\b",
    r"\bshut\s+up\b",
)
_FRUSTRATED = re.compile("|".join(_FRUSTRATION_CUES))


def _plain(text: str) -> str:
    """Lower-case words only, apostrophes dropped ("don't" -> "dont") and spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("’", "")
    return " ".join(re.findall(r"[a-z0-9]+", text))


def asks_for_person(text: str) -> bool:
    """True when the caller asks for a human, in any words: "agent", "a real person", ..."""
    plain = _plain(text)
    if not plain:
        return False
    if _PERSON_ALONE.match(plain):
        return True
    # A person the caller turns down doesn't count; one asked for elsewhere still does.
    return bool(_ASKS_FOR_PERSON.search(_NEGATED_PERSON.sub(" ", plain)))


def sounds_frustrated(text: str) -> bool:
    """True on strong signs of frustration: swearing, "this is ridiculous", "waste of time"."""
    plain = _plain(text)
    return bool(plain) and bool(_FRUSTRATED.search(plain))

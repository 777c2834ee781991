"""Agents' feedback on the bot's work: the agent who took a transfer says whether the intent
and the summary were right, and what was right instead. One per agent per transfer; giving
it again replaces it. The free-text correction is redacted before it is stored; every
feedback is audited."""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy.orm import Session

from ivr.app.accounts import Account, may_see_call
from ivr.config import Settings
from ivr.dialog.schema import Flow
from ivr.privacy.redaction import redact
from ivr.storage import audit, repository
from ivr.storage import feedback as feedback_rows
from ivr.storage.db import session_scope
from ivr.storage.models import Transfer

MAX_SID_LENGTH = 64
TRANSFER_ID = re.compile(r"[0-9]{1,12}")
FeedbackResult = Literal["saved", "updated", "nothing-said", "not-found", "unknown-intent"]


class AgentFeedback:
    """Feedback on the transfers of one deployment (`settings.database_url`)."""

    def __init__(self, settings: Settings, flows: dict[str, Flow]):
        self.url = settings.database_url
        self.flows = flows

    def intent_choices(self, flow_name: str) -> list[tuple[str, str]]:
        """(name, words) of the flow's intents: what an agent may say the caller really
        wanted."""
        flow = self.flows.get(flow_name)
        if flow is None:
            return []
        return [(name, flow.intent_description(name)) for name in flow.intents]

    def give(self, account: Account, call_sid: str, transfer_id: str, *,
             intent_correct: bool | None, summary_correct: bool | None,
             corrected_intent: str | None, correction: str) -> FeedbackResult:
        """Store `account`'s verdicts on a transfer its agent target accepted.

        "nothing-said" when there is no verdict, intent or correction; "not-found" for a
        transfer the account did not take (or cannot see); "unknown-intent" when the corrected
        intent is not one of the call's flow."""
        redacted = redact(correction) or None
        if intent_correct:
            corrected_intent = None  # the bot's intent was right: nothing to correct it to
        if (intent_correct is None and summary_correct is None and not corrected_intent
                and not redacted):
            return "nothing-said"
        with session_scope(self.url, write_lock=True) as session:
            transfer = _own_transfer(session, account, call_sid, transfer_id)
            if transfer is None:
                return "not-found"
            if (corrected_intent is not None
                    and corrected_intent not in dict(self.intent_choices(transfer.call.flow))):
                return "unknown-intent"
            new = feedback_rows.save(
                session, transfer, account.username, intent_correct=intent_correct,
                summary_correct=summary_correct, corrected_intent=corrected_intent,
                correction=redacted)
            audit.record(session, account.username, audit.FEEDBACK, call_sid,
                         transfer=transfer.id, updated=not new)
        return "saved" if new else "updated"


def _own_transfer(session: Session, account: Account, call_sid: str,
                  transfer_id: str) -> Transfer | None:
    """The transfer of a call this account may see that this account's target accepted."""
    if len(call_sid) > MAX_SID_LENGTH or not TRANSFER_ID.fullmatch(transfer_id):
        return None
    call = repository.get_call(session, call_sid)
    if call is None or not may_see_call(session, account, call):
        return None
    return next((transfer for transfer in call.transfers
                 if transfer.id == int(transfer_id)
                 and transfer.accepted_by == account.agent_target), None)

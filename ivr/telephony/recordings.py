"""Recordings on Twilio's side: copy one's audio, then delete it (REST API)."""

from __future__ import annotations

import logging
import re

import requests

from ivr.telephony.rest import TwilioUnavailable, call_twilio, client

log = logging.getLogger(__name__)

API_BASE = "https://api.twilio.com/2010-04-01"
RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
TIMEOUT_SECONDS = 10.0
MAX_AUDIO_BYTES = 20 * 1024 * 1024


class RecordingError(RuntimeError):
    """Twilio refused or could not be reached; the recording stays where it is."""


def is_recording_sid(value: str) -> bool:
    return bool(RECORDING_SID.match(value))


def fetch_audio(account_sid: str, auth_token: str, recording_sid: str) -> bytes:
    """The recording as WAV. The URL is built from the SID (never taken from a request)."""
    if not is_recording_sid(recording_sid):
        raise RecordingError("not a recording SID")
    url = f"{API_BASE}/Accounts/{account_sid}/Recordings/{recording_sid}.wav"
    try:
        response = requests.get(url, auth=(account_sid, auth_token), timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise RecordingError(f"{type(error).__name__} fetching the recording") from error
    if response.status_code != 200:
        raise RecordingError(f"Twilio answered HTTP {response.status_code} for the recording")
    if len(response.content) > MAX_AUDIO_BYTES:
        raise RecordingError("the recording is larger than expected")
    return response.content


def delete_recording(account_sid: str, auth_token: str, recording_sid: str) -> None:
    """Delete the recording from Twilio (audio and metadata)."""
    try:
        call_twilio("deleting the recording", lambda: client(
            account_sid, auth_token, TIMEOUT_SECONDS).recordings(recording_sid).delete())
    except TwilioUnavailable as error:
        raise RecordingError(str(error)) from error

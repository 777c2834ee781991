"""Settings: defaults in code, overridden by `config/*.toml`, overridden by the environment.

Secrets (Twilio auth token, secret key, API token) come only from the environment; a TOML
file that contains one is refused, so they never end up in version control.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

log = logging.getLogger(__name__)

DEVELOPMENT_AUTH_TOKEN = "development-auth-token"  # a documented local default
DEVELOPMENT_SECRET_KEY = "development-secret-key"
SECRET_FIELDS = ("twilio_auth_token", "secret_key", "api_token", "encryption_keys")

ENVIRONMENT = {
    "IVR_PUBLIC_URL": "public_url",
    "IVR_DATABASE_URL": "database_url",
    "IVR_DIALOGS": "dialogs_dir",
    "IVR_FLOW": "default_flow",
    "IVR_ASR": "asr",
    "IVR_VOSK_MODEL": "vosk_model",
    "IVR_ASR_PROCESSES": "asr_processes",
    "IVR_PROMPTS": "prompts_dir",
    "IVR_TTS": "tts",
    "IVR_END_OF_SPEECH_MS": "end_of_speech_ms",
    "IVR_SOFTPHONE": "softphone",
    "IVR_VALIDATE_SIGNATURES": "validate_signatures",
    "IVR_SECRET_KEY": "secret_key",
    "IVR_API_TOKEN": "api_token",
    "IVR_ENCRYPTION_KEYS": "encryption_keys",
    "IVR_RETENTION_DAYS": "retention_days",
    "IVR_SMS_FROM": "sms_from",
    "IVR_DEMO_DATA": "demo_data",
    "IVR_PROXY_HOPS": "proxy_hops",
    "TWILIO_ACCOUNT_SID": "twilio_account_sid",
    "TWILIO_AUTH_TOKEN": "twilio_auth_token",
}


class Queue(BaseModel):
    """People who take transferred calls, tried in order. Phone numbers, client:, sip:."""

    model_config = ConfigDict(extra="forbid")

    targets: list[str] = Field(default_factory=lambda: ["+15005550006"])
    ring_seconds: int = Field(20, ge=5, le=120)


class TransferSettings(BaseModel):
    """Where transferred callers go, and what happens when nobody answers."""

    model_config = ConfigDict(extra="forbid")

    queues: dict[str, Queue] = Field(default_factory=lambda: {"support": Queue()})
    mode: Literal["dial", "conference"] = Field(
        "dial", description="dial: <Dial> the agent with a whisper; conference: the caller "
        "holds in a conference while the agent is rung through the REST API")
    fallback: Literal["voicemail", "number"] = "voicemail"
    fallback_number: str | None = None
    caller_id: str | None = Field(None, description="Caller ID shown to agents; Twilio number.")
    whisper_timeout_seconds: int = Field(10, ge=3, le=30)
    wrap_up_seconds: int = Field(
        30, ge=0, le=3600,
        description="After an agent's call ends, how long they stay in wrap-up before "
                    "routing offers them calls again.")


class BusinessSettings(BaseModel):
    """Facts the bundled demo actions speak about."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Acme Outfitters"
    timezone: str = "America/New_York"
    hours: dict[str, str] = Field(
        default_factory=lambda: {
            "monday": "08:00-20:00",
            "tuesday": "08:00-20:00",
            "wednesday": "08:00-20:00",
            "thursday": "08:00-20:00",
            "friday": "08:00-20:00",
            "saturday": "09:00-17:00",
        }
    )
    password_reset_url: str = "https://example.com/reset"


class PrivacySettings(BaseModel):
    """How long call data is kept, and whether calls may be recorded."""

    model_config = ConfigDict(extra="forbid")

    audit_retention_days: int = Field(
        730, ge=1, description="Audit entries are kept this long (`ivr purge`)")
    recordings: bool = Field(
        False, description="Voicemail recordings; when on, each is deleted from Twilio "
        "as soon as its callback has been processed")
    sign_in_attempts: int = Field(5, ge=1, le=100,
                                  description="Failed sign-ins per account per window")
    sign_in_window_minutes: int = Field(15, ge=1, le=1440)


class Settings(BaseModel):
    """Everything the server can be told. See the configuration reference in README.md."""

    model_config = ConfigDict(extra="forbid")

    public_url: str = "http://localhost:5000"
    database_url: str = "sqlite:///instance/ivr.sqlite3"
    dialogs_dir: Path = Path("dialogs")
    default_flow: str = "support"
    asr: Literal["twilio", "vosk", "pocketsphinx"] = "twilio"
    vosk_model: str | None = None
    asr_processes: int | None = Field(
        None, ge=0, le=64, description="Speech recognition processes per server process; "
        "0: recognise in the server's own threads; unset: one per CPU for pocketsphinx "
        "(which holds Python's GIL while it decodes), 0 for vosk (which does not)")
    prompts_dir: Path = Path("audio_prompts")
    tts: Literal["twilio", "pyttsx3"] = Field(
        "pyttsx3", description="pyttsx3: <Play> pre-rendered prompts, <Say> for the rest; "
        "twilio: <Say> everything with Twilio's voices")
    end_of_speech_ms: int = Field(700, ge=200, le=3000,
                                  description="Silence after speech that ends an utterance")
    softphone: bool = Field(True, description="Serve the browser softphone at /softphone")
    validate_signatures: bool = True
    proxy_hops: int = Field(0, ge=0, le=5, description="Proxies in front that set X-Forwarded-*")
    demo_data: bool = True
    sms_from: str | None = None
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    api_token: SecretStr | None = None
    encryption_keys: SecretStr | None = Field(
        None, description="Fernet keys for data at rest, comma-separated, newest first")
    retention_days: int = Field(30, ge=1, le=3650,
                                description="Calls older than this are deleted by `ivr purge`")
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    transfer: TransferSettings = Field(default_factory=TransferSettings)
    business: BusinessSettings = Field(default_factory=BusinessSettings)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def secret(self) -> bytes:
        """Key for caller pseudonyms and stream tokens; a fixed development key when unset."""
        if self.secret_key is None:
            return DEVELOPMENT_SECRET_KEY.encode()
        return self.secret_key.get_secret_value().encode()

    @property
    def data_keys(self) -> list[str]:
        """The data-at-rest keys, newest first; empty means the development key."""
        if self.encryption_keys is None:
            return []
        return [key.strip() for key in self.encryption_keys.get_secret_value().split(",")
                if key.strip()]

    @property
    def auth_token(self) -> str:
        """The token requests are signed with; a fixed development one when none is set."""
        if self.twilio_auth_token is None:
            return DEVELOPMENT_AUTH_TOKEN
        return self.twilio_auth_token.get_secret_value()


def load_settings(
    config_dir: Path | str | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then every `config/*.toml` in name order, then the environment, then overrides."""
    environ = dict(os.environ if environ is None else environ)
    directory = Path(config_dir or environ.get("IVR_CONFIG_DIR", "config"))
    merged: dict[str, Any] = {}
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        leaked = [key for key in SECRET_FIELDS if key in data]
        if leaked:
            raise ValueError(f"{path}: {', '.join(leaked)} must come from the environment, "
                             "not a file")
        _deep_merge(merged, data)
    for variable, field in ENVIRONMENT.items():
        if environ.get(variable):
            merged[field] = environ[variable]
    merged.update(overrides)
    return Settings.model_validate(merged)


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value

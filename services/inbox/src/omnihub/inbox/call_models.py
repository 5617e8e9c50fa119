"""Request and response models of the call controls and the softphone token, with their OpenAPI operations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from omnihub.common.jsonbody import Body
from omnihub.common.openapi import Operation

AGENT_ACTIONS = ("hangup", "hold", "resume", "transfer", "consult", "complete", "cancel", "dtmf", "recording-pause",
                 "recording-resume")
SUPERVISOR_MODES = ("listen", "coach", "barge", "leave")
Destination = Field(default="", max_length=200)


class CallControlBody(Body):
    """POST /api/calls/{id}/{action}: the target of a transfer or consult, or the DTMF digits."""

    to_agent: str = Field(default="", max_length=64)
    to_queue: str = Field(default="", max_length=64)
    to_number: str = Field(default="", max_length=32)
    digits: str = Field(default="", max_length=32)


class SupervisorCallBody(Body):
    """POST /api/supervisor/calls/{id}/{mode}: where the supervisor's leg rings (default: their softphone)."""

    destination: str = Destination


class CallView(BaseModel):
    """A voice conversation's call as the desk shows it."""

    conversation_id: str
    state: Literal["connecting", "connected", "on_hold", "transferring", "waiting", "ended"]
    on_hold: bool
    recording_paused: bool
    consult_target: str
    agent_id: str
    supervisor_id: str
    supervisor_mode: Literal["", "listen", "coach", "barge"]


class VoiceToken(BaseModel):
    """A Twilio Voice access token for the browser softphone."""

    token: str
    identity: str
    ttl: int


def _op(method: str, path: str, summary: str, **kw: object) -> Operation:
    return Operation(method, path, summary, tags=("voice",), **kw)  # type: ignore[arg-type]


CALL_OPERATIONS = [
    _op("GET", "/api/calls/{id}", "The call of a voice conversation (its holder and supervisors)", response=CallView),
    _op("POST", "/api/calls/{id}/{action}", "Hang up, hold, resume, transfer, consult, complete, cancel, dtmf, "
        "recording-pause or recording-resume on my call", body=CallControlBody, response=CallView),
    _op("POST", "/api/supervisor/calls/{id}/{mode}", "Listen, coach, barge or leave a live call (supervisors)",
        body=SupervisorCallBody, response=CallView),
    _op("GET", "/api/voice/token", "A Twilio Voice access token for my softphone (404 when Twilio is not configured)",
        response=VoiceToken),
]

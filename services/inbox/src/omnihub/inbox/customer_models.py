"""Request and response models of the customer panel (contact fields, notes, previous conversations), with OpenAPI."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from omnihub.common.jsonbody import Body
from omnihub.common.openapi import Operation

EMAIL = r"^([^@\s,;<>\"()\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)?$"
PHONE = r"^\+?[0-9][0-9 ().-]{2,30}$"
LANGUAGE = r"^([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2})?$"  # a BCP-47 tag such as "zh-CN", or none


class CustomerProfileBody(Body):
    """PUT /api/customers/{id}/profile: the contact fields agents keep, and free-text notes."""

    name: str = Field(default="", max_length=100)
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL)] = ""
    phones: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=32, pattern=PHONE)]] = Field(
        default_factory=list, max_length=5)
    language: Annotated[str, StringConstraints(strip_whitespace=True, max_length=24, pattern=LANGUAGE)] = ""
    notes: str = Field(default="", max_length=4000)


class IdentityOut(BaseModel):
    """One identity of the customer on a channel."""

    channel: str
    source_id: str


class PastConversation(BaseModel):
    """One of the customer's conversations, with its outcome once it ended."""

    id: str
    channel: str
    first: float
    last: float
    messages: int
    ended: bool
    disposition: str = ""
    resolved: bool | None = None
    agent: str = ""


class CustomerProfile(BaseModel):
    """The customer panel: contact fields (the pre-chat email where the visitor gave one), notes, identities,
    every conversation newest first."""

    id: str
    name: str
    email: str
    prechat_email: str = ""
    phones: list[str]
    language: str
    notes: str
    updated_by: str = ""
    updated: float = 0
    identities: list[IdentityOut]
    conversations: list[PastConversation]


OPERATIONS = [
    Operation("GET", "/api/customers/{id}/profile", "The customer panel: contact fields, notes, identities, "
              "previous conversations with their outcome", tags=("customers",), response=CustomerProfile),
    Operation("PUT", "/api/customers/{id}/profile", "Edit the customer's contact fields and notes",
              tags=("customers",), body=CustomerProfileBody, response=CustomerProfile),
]

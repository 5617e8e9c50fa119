"""Twilio Messaging through the official SDK; errors mapped to omnihub's ChannelError tree."""

from __future__ import annotations

import json

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from omnihub.common.errors import (
    ChannelError,
    ErrorMap,
    PermanentChannelError,
    RateLimitedError,
    TransientChannelError,
    map_exceptions,
)

# Twilio error codes that no retry can fix (https://www.twilio.com/docs/api/errors).
PERMANENT_CODES = {21211, 21408, 21602, 21606, 21610, 21612, 21614, 21617, 21660, 30003, 30004, 30005, 30006, 30007}


class TwilioMessaging:
    """Sends SMS with `messages.create_async`."""

    def __init__(self, account_sid: str, auth_token: str, api_base_url: str = "") -> None:
        self._http = AsyncTwilioHttpClient()
        self.client = Client(account_sid, auth_token, http_client=self._http)
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")

    async def send(self, to: str, from_: str, body: str, status_callback: str, media: list[str] | None = None, *,
                   content_sid: str = "", content_variables: dict[str, str] | None = None) -> str:
        """Send one message (or a Content API template by ContentSid); returns its MessageSid or raises a ChannelError."""
        kwargs: dict[str, object] = {"to": to, "from_": from_, "status_callback": status_callback}
        if content_sid:
            kwargs["content_sid"] = content_sid
            kwargs["content_variables"] = json.dumps(content_variables or {}, ensure_ascii=False)
        else:
            kwargs["body"] = body
        if media:
            kwargs["media_url"] = media
        with map_exceptions(TWILIO_ERRORS):
            msg = await self.client.messages.create_async(**kwargs)  # type: ignore[arg-type]
        return str(msg.sid)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http.session is not None:
            await self._http.session.close()


def map_twilio_error(exc: TwilioRestException) -> ChannelError:
    """429 and 5xx can be retried; the listed 4xx codes are permanent; other 4xx are permanent too."""
    code = str(exc.code or exc.status)
    message = str(exc.msg)
    if exc.status == 429 or exc.code == 20429:
        return RateLimitedError(message, code=code, retry_after=5.0)
    if exc.status >= 500:
        return TransientChannelError(message, code=code)
    return PermanentChannelError(message, code=code)


def unreachable(exc: BaseException) -> ChannelError:
    """A connection problem on the way to Twilio: a retry can help."""
    return TransientChannelError(f"cannot reach Twilio: {exc!r}", code="network")


TWILIO_ERRORS: ErrorMap = {TwilioRestException: map_twilio_error, aiohttp.ClientError: unreachable,
                           TimeoutError: unreachable}

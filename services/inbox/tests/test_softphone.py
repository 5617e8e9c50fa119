"""The softphone's Twilio Voice token: issued only where all four Twilio settings are given."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import SecretStr

from omnihub.inbox.app import softphone
from omnihub.inbox.config import InboxSettings

FULL = {"twilio_account_sid": "AC" + "1" * 32, "twilio_api_key": "SK" + "2" * 32,
        "twilio_api_secret": SecretStr("secret" * 6), "twilio_twiml_app_sid": "AP" + "3" * 32}


@pytest.mark.parametrize("missing", [None, *FULL])
def test_a_token_only_where_twilio_is_configured(missing: str | None) -> None:
    given = {k: v for k, v in FULL.items() if k != missing}
    phone = softphone(InboxSettings(inbox_session_key=SecretStr("k" * 32), **given))  # type: ignore[arg-type]
    if missing is not None:
        assert phone is None
        return
    assert phone is not None
    claims = jwt.decode(phone.token("bob"), OctKey.import_key("secret" * 6), algorithms=["HS256"]).claims
    assert claims["grants"] == {"identity": "bob", "voice": {"incoming": {"allow": True},
                                                            "outgoing": {"application_sid": "AP" + "3" * 32}}}
    assert claims["iss"] == "SK" + "2" * 32 and claims["sub"] == "AC" + "1" * 32
    assert 3500 <= claims["exp"] - time.time() <= 3600

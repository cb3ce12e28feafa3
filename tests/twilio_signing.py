"""Signing requests the way Twilio does, with the twilio library's own validator."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator


def sign(token: str, url: str, form: Mapping[str, str]) -> str:
    """Twilio's signature of ``form`` posted to ``url`` (a MultiDict signs repeated fields)."""
    return str(RequestValidator(token).compute_signature(url, form))


def inbound_form(sid: str, sender: str, body: str, to: str = "+447700900000") -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS (a realistic subset, all of them signed)."""
    return {
        "ToCountry": "GB",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "FromCountry": "GB",
        "ApiVersion": "2010-04-01",
    }


def encode(form: dict[str, str]) -> bytes:
    return urlencode(form).encode()

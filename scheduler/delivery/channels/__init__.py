"""Providers, one class each, behind the Channel contract in base.py."""

from __future__ import annotations

from config.settings import Settings
from scheduler.delivery.channels.base import Channel, OutgoingMessage, SendResult, TransportError
from scheduler.delivery.channels.sandbox import SandboxSms
from scheduler.delivery.channels.twilio_sms import TwilioSms


def build_sms_channel(settings: Settings) -> Channel:
    """Twilio when credentials are set, else the sandbox. Call inside a running event loop."""
    if not settings.twilio_enabled:
        return SandboxSms()
    return TwilioSms(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get(),
        settings.twilio_from,
        status_callback=settings.public_url + "/webhooks/twilio/status",
        api_url=settings.twilio_api_url,
    )


__all__ = [
    "Channel",
    "OutgoingMessage",
    "SandboxSms",
    "SendResult",
    "TransportError",
    "build_sms_channel",
]

"""SMS through Twilio's Messages API (the twilio library, asynchronously).

Error classification lives here: 21610 (recipient unsubscribed), 21211 (invalid number) and
21614 (not a mobile) are permanent and say what to record about the person; 429/20429 and 5xx
are transient, and so is 401 (bad credentials are the operator's to fix, not the message's
fault). The library's own retries are never enabled: it would re-POST on any 5xx, and Twilio has
no idempotency key, so a retry there can send the same SMS twice.

The library's async HTTP client ignores its own ``timeout`` (it passes ``timeout=None`` to
aiohttp on every request, which means no timeout at all), so ``_HttpClient`` applies it.

``find_sent`` asks Twilio which messages it holds for a recipient: the sender uses it to settle
a message whose outcome is unknown (see scheduler/delivery/sender.py) instead of sending it again.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from config.logs import cap_library_loggers
from config.phones import redact_phones
from scheduler.delivery.channels.base import OutgoingMessage, SendResult, TransportError

TWILIO_API = "https://api.twilio.com"

PERMANENT = {
    21610: "opted_out",
    21211: "invalid",
    21614: "not_mobile",
    21612: "invalid",  # cannot route to this number
    21408: None,  # region not enabled on the account
    21606: None,  # the From number cannot send SMS
}

log = logging.getLogger(__name__)


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Applies the timeout, and points the library at another API base when given one (a
    local fake in tests and demos)."""

    def __init__(self, base_url: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self._base_url and url.startswith(TWILIO_API):
            url = self._base_url + url[len(TWILIO_API) :]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return await super().request(method, url, *args, **kwargs)


def classify(exc: TwilioRestException) -> TransportError:
    code = int(exc.code) if exc.code else None
    status = int(exc.status or 0)
    # Twilio's messages can quote the number ("The 'To' number +44... is not valid"): logs and
    # the outbox's error column never hold one.
    text = redact_phones(f"Twilio {status} error {code}: {exc.msg}")
    if code in PERMANENT:
        return TransportError(text, permanent=True, code=str(code), effect=PERMANENT[code])
    if status in (401, 429) or code == 20429 or status >= 500:
        return TransportError(text, code=str(code or status))
    # Any other 4xx is a request Twilio will never accept as it is.
    return TransportError(text, permanent=True, code=str(code or status))


class TwilioSms:
    name = "sms"
    provider = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        status_callback: str | None,
        api_url: str = "",
        timeout: float = 15.0,
    ) -> None:
        # The library logs every request's URL and query parameters (a number) at INFO.
        cap_library_loggers()
        # Must be created inside a running event loop (the aiohttp session binds to it).
        http = _HttpClient(api_url, timeout=timeout)
        self._http = http
        self._client = Client(account_sid, auth_token, http_client=http)
        self._sender = sender
        self._status_callback = status_callback

    async def send(self, message: OutgoingMessage) -> SendResult:
        params: dict[str, Any] = {"to": message.to, "body": message.body}
        if self._sender.startswith("MG"):
            params["messaging_service_sid"] = self._sender
        else:
            params["from_"] = self._sender
        if self._status_callback:
            params["status_callback"] = self._status_callback
        try:
            created = await self._client.messages.create_async(**params)
        except TwilioRestException as exc:
            raise classify(exc) from None
        except aiohttp.ClientConnectorError as exc:
            # Never connected: certainly not sent, safe to retry.
            raise TransportError(
                f"Twilio unreachable: {type(exc).__name__}", code="connect"
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # The request may have reached Twilio: the outcome is unknown (the sender reconciles).
            raise TransportError(
                f"Twilio call interrupted: {type(exc).__name__}", code="unknown", ambiguous=True
            ) from None
        return SendResult(provider_id=str(created.sid))

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> list[SendResult]:
        """Messages Twilio holds from our sender to ``message.to``, created at or after
        ``since``, with the same text (compared on letters and digits only: a messaging
        service's smart encoding may have replaced quotes and dashes). Newest first.

        Filters on ``To`` only, not ``DateSent``: a message still queued at Twilio has no
        send date yet and would be missed.
        """
        try:
            found = await self._client.messages.list_async(to=message.to, limit=100)
        except TwilioRestException as exc:
            raise classify(exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(
                f"Twilio lookup failed: {type(exc).__name__}", code="lookup"
            ) from None
        body = _loose(message.body)
        return [
            SendResult(provider_id=str(m.sid))
            for m in found
            if self._sender in (m.from_, m.messaging_service_sid)
            and m.date_created is not None
            and m.date_created >= since
            and _loose(m.body or "") == body
        ]

    async def close(self) -> None:
        await self._http.close()


def _loose(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())

"""SMS through Twilio's Messages API (the twilio library, asynchronously).

Error classification lives here: 21610 (recipient unsubscribed), 21211 (invalid number) and
21614 (not a mobile) are permanent and say what to record about the person; 429/20429 and 5xx
are transient. The library's own retries are never enabled: it would re-POST on any 5xx, and
Twilio has no idempotency key, so a retry there can send the same SMS twice.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.channels.base import OutgoingMessage, SendResult, TransportError

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


class _RebasedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Points the library at another API base (a local fake in tests and demos)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API):
            url = self._base_url + url[len(TWILIO_API) :]
        return await super().request(method, url, *args, **kwargs)


def classify(exc: TwilioRestException) -> TransportError:
    code = int(exc.code) if exc.code else None
    status = int(exc.status or 0)
    text = f"Twilio {status} error {code}: {exc.msg}"
    if code in PERMANENT:
        return TransportError(text, permanent=True, code=str(code), effect=PERMANENT[code])
    if status == 429 or code == 20429 or status >= 500:
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
        # Must be created inside a running event loop (the aiohttp session binds to it).
        http = (
            _RebasedHttpClient(api_url, timeout=timeout)
            if api_url
            else AsyncTwilioHttpClient(timeout=timeout)
        )
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

    async def close(self) -> None:
        await self._http.close()

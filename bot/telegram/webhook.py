"""``POST /webhooks/telegram``: authenticate, parse strictly, store, process, answer.

* 404 when Telegram is off (no token, or the extension is not running);
* 403 unless ``X-Telegram-Bot-Api-Secret-Token`` equals TURNOUT_TELEGRAM_WEBHOOK_SECRET
  (constant-time compare);
* 400 unless the body is a JSON object with an integer ``update_id`` (and at most 256 KiB);
* otherwise the update is stored (a replayed ``update_id`` changes nothing) before the 200,
  processed inline (handlers only write rows, so this is quick), and the 200 carries the
  answer to a callback query as a Bot API method call, if there is one. Unknown update kinds
  get 200 too: Telegram would retry anything else.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from aiohttp import web

from bot.app_keys import wake_outbox
from bot.telegram.service import TelegramService

PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_BODY_BYTES = 256 * 1024
MAX_UPDATE_ID = 2**63 - 1


@dataclass
class Slot:
    """Where the running Telegram extension puts its service (the app's state cannot change
    once it has started)."""

    service: TelegramService | None = None


SLOT = web.AppKey("telegram", Slot)


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")


async def webhook(request: web.Request) -> web.Response:
    service = request.app[SLOT].service
    if service is None:
        return _text(404, "telegram is off")
    expected = service.settings.telegram_webhook_secret.get().encode()
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not expected or not secrets.compare_digest(given, expected):
        return _text(403, "invalid secret token")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _text(400, "request body too large")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return _text(400, "request body too large")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return _text(400, "request body is not JSON")
    if not isinstance(data, dict):
        return _text(400, "expected a JSON object")
    update_id = data.get("update_id")
    # bool is an int in Python; Telegram's update_id is a plain non-negative integer.
    if type(update_id) is not int or not 0 <= update_id <= MAX_UPDATE_ID:
        return _text(400, "update_id must be a non-negative integer")
    answer = await service.receive(update_id, data)
    wake_outbox(request.app)
    if answer is None:
        return web.Response(status=200)
    return web.json_response(answer)


def install(app: web.Application) -> None:
    """Called by create_app: the route, and the slot the extension fills in."""
    app[SLOT] = Slot()
    app.router.add_post(PATH, webhook)

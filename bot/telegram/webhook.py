"""``POST /webhooks/telegram``: authenticate, parse strictly, store, process, answer.

* 404 when Telegram is off (no token, or the extension is not running);
* 403 unless ``X-Telegram-Bot-Api-Secret-Token`` equals TURNOUT_TELEGRAM_WEBHOOK_SECRET
  (constant-time compare);
* 400 unless the whole body (read to the end, at most 256 KiB) is a strict JSON object
  (bot.webhooks.edge.parse_json_object: no NaN, 64-bit integers, bounded depth, no duplicated
  key) with a non-negative integer ``update_id``; 408 if the body does not arrive in time;
* otherwise the update is stored (a replayed ``update_id`` changes nothing) before the 200,
  processed inline (handlers only write rows, so this is quick), and the 200 carries the
  answer to a callback query as a Bot API method call, if there is one. Unknown update kinds
  get 200 too: Telegram would retry anything else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiohttp import web

from bot.app_keys import wake_outbox
from bot.telegram.service import TelegramService
from bot.webhooks.edge import INT64, parse_json_object, read_body

PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_BODY_BYTES = 256 * 1024


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
    # Header bytes that are not UTF-8 arrive as surrogate escapes; they can never match.
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
    if not expected or not secrets.compare_digest(given, expected):
        return _text(403, "invalid secret token")
    data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
    update_id = data.get("update_id")
    # bool is an int in Python; Telegram's update_id is a plain non-negative integer.
    if type(update_id) is not int or not 0 <= update_id <= INT64[1]:
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

"""A fake Telegram Bot API on 127.0.0.1, as python-telegram-bot calls it
(``Application.builder().base_url(api.url + "/bot")``, or TURNOUT_TELEGRAM_API_URL=api.url).

``POST /bot<token>/<method>`` takes PTB's form fields (JSON-encoded values for non-strings;
multipart for sendPhoto), records every call (``calls``), and answers with the Bot API's JSON
shape: ``getMe``, ``sendMessage``, ``editMessageText``, ``sendPhoto``, ``answerCallbackQuery``,
``setWebhook``, ``deleteWebhook``, ``setMyCommands``, ``getUpdates`` (from ``queue_update``).

Failures are programmable, with the real error bodies:

* ``block(chat_id)``: 403 "Forbidden: bot was blocked by the user" for that chat from now on;
* ``migrate(old, new)``: 400 "group chat was upgraded to a supergroup chat" with
  ``parameters.migrate_to_chat_id`` for every call to the old chat;
* ``fail_next(kind, ...)``: the next matching call(s) answer 429 with ``retry_after``
  (``"retry_after"``), 400 (``"bad_request"``, ``"not_modified"``) or 403 (``"forbidden"``).

In tests: ``async with FakeTelegramApi(clock=clock) as api:`` (message dates come from
``clock``; the default is the system clock, which the test guard refuses). As a process
(sandbox demos): ``python -m tests.fakes.telegram_api --port 8081`` prints what the bot sends (it
answers the token in TURNOUT_TELEGRAM_BOT_TOKEN, or ``--token``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from config.clock import Clock, SystemClock
from tests.fakes.loopback import LoopbackServer

BOT_TOKEN = "123456789:TEST-fake-bot-token_for-tests"
BOT_ID = 123456789
BOT_USERNAME = "turnout_test_bot"

# Parameters PTB JSON-encodes (everything else is a plain string).
JSON_PARAMS = {
    "chat_id",
    "message_id",
    "reply_markup",
    "commands",
    "scope",
    "allowed_updates",
    "show_alert",
    "cache_time",
    "drop_pending_updates",
    "max_connections",
    "offset",
    "limit",
    "timeout",
    "link_preview_options",
    "reply_parameters",
}


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    status: int
    at: float

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


@dataclass(frozen=True)
class Failure:
    kind: str  # retry_after | bad_request | not_modified | forbidden
    method: str | None = None
    chat_id: int | None = None
    retry_after: int = 5


@dataclass
class FakeTelegramApi(LoopbackServer):
    token: str = BOT_TOKEN
    username: str = BOT_USERNAME
    calls: list[Call] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    echo: bool = False
    clock: Clock = field(default_factory=SystemClock)
    url: str = ""

    def __post_init__(self) -> None:
        self._script: deque[Failure] = deque()
        self._message_ids = itertools.count(1001)
        self._updates: list[dict[str, Any]] = []

    # -- programming and reading ----------------------------------------------------------

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        self.migrated[old_chat_id] = new_chat_id

    def fail_next(
        self,
        kind: str,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        retry_after: int = 5,
        times: int = 1,
    ) -> None:
        self._script.extend([Failure(kind, method, chat_id, retry_after)] * times)

    def queue_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        """Successful calls, optionally of one method and to one chat."""
        return [
            c
            for c in self.calls
            if c.status == 200
            and (method is None or c.method == method)
            and (chat_id is None or c.chat_id == chat_id)
        ]

    def texts(self, chat_id: int) -> list[str]:
        """What the chat saw: messages sent, photo captions, and edits, in order."""
        methods = ("sendMessage", "sendPhoto", "editMessageText")
        return [c.text for c in self.sent(chat_id=chat_id) if c.method in methods]

    def reset(self) -> None:
        self.calls.clear()

    # -- serving --------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.method == "POST" and request.body_exists:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                elif key in JSON_PARAMS:
                    params[key] = json.loads(str(value))
                else:
                    params[key] = str(value)
        if request.match_info["token"] != self.token:
            return self._answer(method, params, files, 401, error(401, "Unauthorized"))
        status, body = self._respond(method, params, files)
        return self._answer(method, params, files, status, body)

    def _answer(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, bytes],
        status: int,
        body: dict[str, Any],
    ) -> web.Response:
        self.calls.append(Call(method, params, files, status, time.monotonic()))
        if self.echo:
            print(f"{status} {method} {json.dumps(params, ensure_ascii=False)}", flush=True)
        return web.json_response(body, status=status)

    def _scripted(self, method: str, chat_id: int | None) -> Failure | None:
        for failure in list(self._script):
            if (failure.method in (None, method)) and (failure.chat_id in (None, chat_id)):
                self._script.remove(failure)
                return failure
        return None

    def _respond(
        self, method: str, params: dict[str, Any], files: dict[str, bytes]
    ) -> tuple[int, dict[str, Any]]:
        chat_id = int(params["chat_id"]) if "chat_id" in params else None
        if chat_id is not None and chat_id in self.migrated:
            return 400, error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        if chat_id is not None and chat_id in self.blocked:
            return 403, error(403, "Forbidden: bot was blocked by the user")
        failure = self._scripted(method, chat_id)
        if failure is not None:
            if failure.kind == "retry_after":
                return 429, error(
                    429,
                    f"Too Many Requests: retry after {failure.retry_after}",
                    {"retry_after": failure.retry_after},
                )
            if failure.kind == "forbidden":
                return 403, error(403, "Forbidden: bot was kicked from the group chat")
            if failure.kind == "not_modified":
                return 400, error(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            return 400, error(400, "Bad Request: chat not found")
        if method == "getMe":
            return 200, ok(self.me())
        if method in ("sendMessage", "sendPhoto"):
            assert chat_id is not None
            message = self._message(chat_id, next(self._message_ids))
            if method == "sendMessage":
                message["text"] = params.get("text", "")
            else:
                message["photo"] = [
                    {"file_id": "photo1", "file_unique_id": "u1", "width": 800, "height": 400}
                ]
                if params.get("caption"):
                    message["caption"] = params["caption"]
            if "reply_markup" in params and "inline_keyboard" in params["reply_markup"]:
                message["reply_markup"] = params["reply_markup"]
            return 200, ok(message)
        if method == "editMessageText":
            assert chat_id is not None
            message = self._message(chat_id, int(params["message_id"]))
            message["text"] = params.get("text", "")
            message["edit_date"] = self._date()
            return 200, ok(message)
        if method == "getUpdates":
            offset = int(params.get("offset", 0) or 0)
            pending = [u for u in self._updates if u["update_id"] >= offset]
            self._updates = pending
            return 200, ok(pending[: int(params.get("limit", 100) or 100)])
        if method in (
            "answerCallbackQuery",
            "setWebhook",
            "deleteWebhook",
            "setMyCommands",
            "deleteMyCommands",
        ):
            return 200, ok(True)
        return 404, error(404, "Not Found: method not found")

    def me(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Turnout",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _date(self) -> int:
        return int(self.clock.now().timestamp())

    def _message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        if chat_id > 0:
            chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": "Someone"}
        else:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            chat = {"id": chat_id, "type": kind, "title": "A group"}
        return {
            "message_id": message_id,
            "date": self._date(),
            "chat": chat,
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Turnout",
                "username": self.username,
            },
        }


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def error(code: int, description: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


async def _serve(port: int, token: str) -> None:
    api = FakeTelegramApi(token=token, echo=True)
    await api.start(port)
    print(f"fake Telegram Bot API on {api.url} (token {token})", flush=True)
    await asyncio.Event().wait()


def parser(env: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    """The command line. The token defaults to TURNOUT_TELEGRAM_BOT_TOKEN, so the bot and its
    fake agree once the sandbox has exported it (docs/telegram.md)."""
    cli = argparse.ArgumentParser(description="A fake Telegram Bot API on 127.0.0.1")
    cli.add_argument("--port", type=int, default=8081)
    cli.add_argument(
        "--token",
        default=env.get("TURNOUT_TELEGRAM_BOT_TOKEN") or BOT_TOKEN,
        help="the bot token it answers (default: $TURNOUT_TELEGRAM_BOT_TOKEN, else the tests')",
    )
    return cli


def main() -> None:
    args = parser().parse_args()
    asyncio.run(_serve(args.port, args.token))


if __name__ == "__main__":
    main()

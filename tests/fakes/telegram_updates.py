"""Real Telegram Update JSON for tests, and a harness: the real aiohttp app with the Telegram
extension, talking to a FakeTelegramApi on 127.0.0.1, with the outbox drained through the real
sender (scheduler.delivery.sender.Sender) and the real TelegramChannel.

Shapes follow the Bot API: a command message carries a ``bot_command`` entity at offset 0 (PTB's
CommandHandler needs it); a callback query carries the message its button is on.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.telegram.extension import telegram_extension
from bot.telegram.webhook import PATH, SECRET_HEADER
from config.clock import FakeClock
from config.settings import Secret, Settings
from scheduler.delivery.channels.telegram import build_telegram_channel
from scheduler.delivery.sender import Sender
from storage.db import Database
from storage.models import OutboxMessage, TelegramUpdate
from tests.fakes import FakeSleep
from tests.fakes.telegram_api import BOT_TOKEN, BOT_USERNAME, FakeTelegramApi

SECRET = "webhook-secret_for-tests"
DATE = 1773136800  # 2026-03-10 10:00 UTC, the tests' T0


def user(uid: int, first: str, last: str = "") -> dict[str, Any]:
    u: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first, "language_code": "en"}
    if last:
        u["last_name"] = last
    return u


def private(u: dict[str, Any]) -> dict[str, Any]:
    return {"id": u["id"], "type": "private", "first_name": u["first_name"]}


def group(chat_id: int, title: str) -> dict[str, Any]:
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": title}


@dataclass
class Updates:
    """Builds updates with increasing ``update_id`` and ``message_id``."""

    update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(700_000))
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    callback_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _message(self, u: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any]:
        return {"message_id": next(self.message_ids), "from": u, "chat": chat, "date": DATE}

    def text(self, u: dict[str, Any], chat: dict[str, Any], text: str) -> dict[str, Any]:
        message = self._message(u, chat)
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
        return {"update_id": next(self.update_ids), "message": message}

    def contact(
        self, u: dict[str, Any], phone: str, *, contact_user_id: int | None, first: str = ""
    ) -> dict[str, Any]:
        message = self._message(u, private(u))
        contact: dict[str, Any] = {"phone_number": phone, "first_name": first or u["first_name"]}
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        message["contact"] = contact
        return {"update_id": next(self.update_ids), "message": message}

    def tap(
        self, u: dict[str, Any], chat: dict[str, Any], message_id: int, data: str
    ) -> dict[str, Any]:
        return {
            "update_id": next(self.update_ids),
            "callback_query": {
                "id": f"cbq{next(self.callback_ids)}",
                "from": u,
                "chat_instance": f"ci{chat['id']}",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "from": {
                        "id": 123456789,
                        "is_bot": True,
                        "first_name": "Turnout",
                        "username": BOT_USERNAME,
                    },
                    "chat": chat,
                    "date": DATE,
                    "text": "(card)",
                },
            },
        }

    def migrated(self, u: dict[str, Any], old: dict[str, Any], new_id: int) -> dict[str, Any]:
        message = self._message(u, old)
        message["migrate_to_chat_id"] = new_id
        return {"update_id": next(self.update_ids), "message": message}

    def bot_added(self, by: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any]:
        return self.bot_status(by, chat, "left", "member")

    def bot_removed(self, by: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any]:
        return self.bot_status(by, chat, "member", "kicked")

    def bot_status(
        self, by: dict[str, Any], chat: dict[str, Any], old: str, new: str
    ) -> dict[str, Any]:
        bot = {"id": 123456789, "is_bot": True, "first_name": "Turnout", "username": BOT_USERNAME}
        extra = {"until_date": 0} if new == "kicked" else {}
        return {
            "update_id": next(self.update_ids),
            "my_chat_member": {
                "chat": chat,
                "from": by,
                "date": DATE,
                "old_chat_member": {"user": bot, "status": old},
                "new_chat_member": {"user": bot, "status": new, **extra},
            },
        }


def telegram_settings(settings: Settings, api: FakeTelegramApi) -> Settings:
    return dataclasses.replace(
        settings,
        telegram_bot_token=Secret(BOT_TOKEN),
        telegram_webhook_secret=Secret(SECRET),
        telegram_api_url=api.url,
    )


@dataclass
class Harness:
    api: FakeTelegramApi
    client: TestClient[Any, Any]
    db: Database
    clock: FakeClock
    settings: Settings
    updates: Updates = field(default_factory=Updates)

    async def post(self, update: Any, *, secret: str | None = SECRET) -> Any:
        headers = {} if secret is None else {SECRET_HEADER: secret}
        return await self.client.post(PATH, json=update, headers=headers)

    async def send(self, update: dict[str, Any]) -> dict[str, Any] | None:
        """Post an update; it must be accepted and handled without error (PTB's
        process_update swallows handler exceptions: the service records them on the stored
        update, and this fails the test on them). Returns the webhook's method answer, if any."""
        resp = await self.post(update)
        assert resp.status == 200, await resp.text()
        async with self.db.session() as s:
            error = await s.scalar(
                select(TelegramUpdate.error).where(TelegramUpdate.update_id == update["update_id"])
            )
        assert error is None, f"a handler failed on update {update['update_id']}: {error}"
        if resp.content_type == "application/json":
            answer: dict[str, Any] = await resp.json()
            return answer
        return None

    async def drain(self) -> int:
        """Send every queued Telegram row through the real sender, moving the fake clock on
        past rate-limit waits. Returns how many rows were handled."""
        channel = build_telegram_channel(self.settings)
        sender = Sender(
            self.db,
            {"telegram": channel},
            self.clock,
            self.settings,
            worker_id="test",
            sleep=FakeSleep(self.clock),
        )
        total = 0
        try:
            for _ in range(200):
                handled = await sender.send_due(limit=500)
                total += handled
                async with self.db.session() as s:
                    waiting = await s.scalar(
                        select(OutboxMessage.not_before)
                        .where(OutboxMessage.channel == "telegram")
                        .where(OutboxMessage.status == "queued")
                        .order_by(OutboxMessage.not_before)
                        .limit(1)
                    )
                if waiting is None:
                    break
                if handled == 0 and waiting > self.clock.now():
                    self.clock.set(waiting)
        finally:
            await channel.close()
        return total

    def texts(self, chat_id: int) -> list[str]:
        return self.api.texts(chat_id)


@asynccontextmanager
async def harness(db: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with FakeTelegramApi(clock=clock) as api:
        tg_settings = telegram_settings(settings, api)
        app = create_app(tg_settings, db=db, clock=clock, extensions=[telegram_extension])
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield Harness(api, client, db, clock, tg_settings)

"""``turnout telegram``: register the webhook and the command menus with Telegram, make
one-time link codes, poll for updates (development), and talk to the bot as any Telegram user
(sandbox: goes through the real webhook, like ``turnout text`` for SMS)."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import click
from telegram import Bot
from telegram.error import TelegramError

from bot.cli.common import run
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from bot.inbound import InboundPipeline
from bot.telegram.application import telegram_service
from bot.telegram.menu import SCOPES, commands
from bot.telegram.service import ALLOWED_UPDATES
from bot.telegram.webhook import PATH, SECRET_HEADER
from config.logs import cap_library_loggers, setup_logging
from config.phones import BadPhone, mask_phone, normalise_phone
from config.settings import LANGUAGES, Settings
from scheduler.delivery.channels.telegram import api_urls
from storage.db import Database
from storage.institutions import find_institution
from storage.people import person_by_phone
from storage.telegram import create_link_code


def _require_telegram(settings: Settings, *, secret: bool = True) -> None:
    if not settings.telegram_enabled:
        raise click.ClickException(
            "Telegram is off: set TURNOUT_TELEGRAM_BOT_TOKEN (from BotFather) first"
        )
    if secret and not settings.telegram_webhook_secret:
        raise click.ClickException(
            "set TURNOUT_TELEGRAM_WEBHOOK_SECRET (1-256 characters: A-Z a-z 0-9 _ -) first"
        )


def _bot(settings: Settings) -> Bot:
    cap_library_loggers()
    urls = api_urls(settings)
    if urls is None:
        return Bot(settings.telegram_bot_token.get())
    return Bot(settings.telegram_bot_token.get(), base_url=urls[0], base_file_url=urls[1])


async def _username(settings: Settings) -> str | None:
    """The bot's username (getMe), for deep links; None if Telegram cannot be asked."""
    if not settings.telegram_enabled:
        return None
    try:
        async with _bot(settings) as bot:
            return str(bot.username)
    except (TelegramError, OSError):
        return None


@cli.group()
def telegram() -> None:
    """Telegram: webhook, link codes, polling, and the sandbox."""


@telegram.command("set-webhook")
@click.option("--drop-pending", is_flag=True, help="Discard updates Telegram is holding.")
@pass_runtime
@run
async def set_webhook(rt: Runtime, drop_pending: bool) -> None:
    """Register TURNOUT_PUBLIC_URL/webhooks/telegram (with the secret) and the command menus."""
    settings = rt.settings
    _require_telegram(settings)
    url = settings.public_url + PATH
    if not url.startswith("https://") and not settings.telegram_api_url:
        click.echo(
            "warning: Telegram only calls https:// URLs (on port 443, 80, 88 or 8443); "
            "set TURNOUT_PUBLIC_URL to the public https address of this server",
            err=True,
        )
    try:
        async with _bot(settings) as bot:
            await bot.set_webhook(
                url,
                secret_token=settings.telegram_webhook_secret.get(),
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=drop_pending,
            )
            for scope, menu in SCOPES:
                # The default menu, then one per language we speak.
                await bot.set_my_commands(
                    commands(menu, settings.default_language, settings.alliance_name),
                    scope=scope,
                )
                for language in LANGUAGES:
                    await bot.set_my_commands(
                        commands(menu, language, settings.alliance_name),
                        scope=scope,
                        language_code=language,
                    )
            username = bot.username
    except TelegramError as exc:
        raise click.ClickException(f"Telegram refused: {type(exc).__name__}") from None
    click.echo(f"webhook set for @{username}: {url}")
    click.echo(f"command menus set for private chats and groups ({', '.join(LANGUAGES)})")


@telegram.command("link-code")
@click.option("--institution", help="A code to link this institution's group chat.")
@click.option("--person", "phone", help="A code to link this person's Telegram (their phone).")
@click.option("--hours", default=48, show_default=True, help="How long the code works.")
@pass_runtime
@run
async def link_code(rt: Runtime, institution: str | None, phone: str | None, hours: int) -> None:
    """A one-time code: for a group (/link CODE in the group) or a person (/link CODE, or the
    deep link, in a private chat with the bot)."""
    if (institution is None) == (phone is None):
        raise click.UsageError("give either --institution or --person")
    if not 1 <= hours <= 24 * 30:
        raise click.UsageError("--hours must be between 1 and 720")
    settings = rt.settings
    now = rt.clock.now()

    async def body(db: Database) -> tuple[str, str]:
        async with db.session() as s:
            if institution is not None:
                match = await find_institution(s, institution, include_former=False)
                if match.found is None:
                    raise click.ClickException(match.problem())
                code, _ = await create_link_code(
                    s,
                    kind="group",
                    institution_id=match.found.id,
                    now=now,
                    ttl=timedelta(hours=hours),
                )
                return code, match.found.name
            assert phone is not None
            try:
                e164 = normalise_phone(phone, settings.default_region)
            except BadPhone as exc:
                raise click.ClickException(f"{phone}: {exc}") from None
            person = await person_by_phone(s, e164)
            if person is None:
                raise click.ClickException(f"nobody has the number {mask_phone(e164)}")
            code, _ = await create_link_code(
                s, kind="person", person_id=person.id, now=now, ttl=timedelta(hours=hours)
            )
            return code, person.name or mask_phone(e164)

    code, who = await rt.with_db(body)
    click.echo(f"code for {who}: {code} (one use, for {hours} hours)")
    if institution is not None:
        click.echo(f"in the group chat, send: /link {code}")
        return
    username = await _username(settings)
    if username:
        click.echo(f"give them this link: https://t.me/{username}?start={code}")
    click.echo(f"or they send the bot, in a private chat: /link {code}")


@telegram.command()
@pass_runtime
@run
async def poll(rt: Runtime) -> None:
    """Development: fetch updates by long polling instead of the webhook (removes the
    webhook). Replies are queued; run `turnout serve` or `turnout worker` to send them."""
    settings = rt.settings
    _require_telegram(settings, secret=False)
    setup_logging(settings)
    db = await rt.open_db()
    clock = rt.clock
    service = telegram_service(db, settings, clock, InboundPipeline(db, settings, clock))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
        if not service.ready:
            raise click.ClickException("cannot reach Telegram (getMe failed): see the log")
        bot = service.application.bot
        await bot.delete_webhook()
        click.echo(f"polling as @{bot.username}; Ctrl-C to stop")
        offset = 0
        while not stop.is_set():
            fetch = asyncio.ensure_future(
                bot.get_updates(offset=offset, timeout=25, allowed_updates=ALLOWED_UPDATES)
            )
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fetch, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not fetch.done():
                fetch.cancel()
                break
            try:
                updates = fetch.result()
            except TelegramError as exc:
                click.echo(f"getUpdates failed ({type(exc).__name__}); retrying", err=True)
                await asyncio.sleep(5)
                continue
            for update in updates:
                offset = update.update_id + 1
                answer = await service.receive(update.update_id, update.to_dict())
                if answer is not None:
                    await _answer(bot, answer)
    finally:
        await service.stop()
        await db.dispose()


async def _answer(bot: Bot, answer: dict[str, Any]) -> None:
    """What a webhook would have returned in its response, sent as a call instead."""
    try:
        await bot.answer_callback_query(
            answer["callback_query_id"],
            text=answer.get("text"),
            show_alert=bool(answer.get("show_alert")),
            url=answer.get("url"),
        )
    except TelegramError as exc:
        click.echo(f"answerCallbackQuery failed: {type(exc).__name__}", err=True)


def _update(
    *,
    user_id: int,
    name: str,
    group_id: int | None,
    title: str,
    text: str,
    contact: str | None,
    data: str | None,
    message_id: int,
    now: datetime,
) -> dict[str, Any]:
    first, _, last = (name or f"User{user_id}").partition(" ")
    sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first}
    if last:
        sender["last_name"] = last
    if group_id is not None:
        kind = "supergroup" if str(group_id).startswith("-100") else "group"
        chat: dict[str, Any] = {"id": group_id, "type": kind, "title": title}
    else:
        chat = {"id": user_id, "type": "private", "first_name": first}
    update_id = secrets.randbelow(2**31)
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": sender,
        "chat": chat,
        "date": int(now.timestamp()),
    }
    if data is not None:
        return {
            "update_id": update_id,
            "callback_query": {
                "id": str(secrets.randbelow(2**62)),
                "from": sender,
                "chat_instance": str(chat["id"]),
                "data": data,
                "message": {**message, "text": "(card)"},
            },
        }
    if contact is not None:
        message["contact"] = {"phone_number": contact, "first_name": first, "user_id": user_id}
    else:
        message["text"] = text
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


async def _post(url: str, settings: Settings, update: dict[str, Any]) -> tuple[int, str]:
    headers = {SECRET_HEADER: settings.telegram_webhook_secret.get()}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(30)) as resp,
    ):
        return resp.status, await resp.text()


@telegram.command()
@click.option("--user", "user_id", type=int, required=True, help="Be this Telegram user id.")
@click.option("--name", default="", help='Their name, e.g. "Ann Patel".')
@click.option("--group", "group_id", type=int, help="Say it in this group chat (negative id).")
@click.option("--title", default="Sandbox group", show_default=True, help="The group's title.")
@click.option("--contact", help="Share this phone number as the user's own contact.")
@click.option("--tap", "data", help="Tap a button instead: its callback data, e.g. c:1:y.")
@click.option("--message-id", type=int, default=1, show_default=True, help="For --tap.")
@click.argument("text", nargs=-1)
@pass_runtime
@run
async def say(
    rt: Runtime,
    user_id: int,
    name: str,
    group_id: int | None,
    title: str,
    contact: str | None,
    data: str | None,
    message_id: int,
    text: tuple[str, ...],
) -> None:
    """Sandbox: send the bot a message as a Telegram user, through the real webhook, e.g.
    turnout telegram say --user 9002 --group -5001 /commit 40

    To the running server if there is one, else to the app started for this one update.
    Replies are queued in the outbox (`turnout outbox`); the worker sends them."""
    settings = rt.settings
    _require_telegram(settings)
    if not (text or contact or data):
        raise click.UsageError("say something: TEXT, --contact or --tap")
    update = _update(
        user_id=user_id,
        name=name,
        group_id=group_id,
        title=title,
        text=" ".join(text),
        contact=contact,
        data=data,
        message_id=message_id,
        now=rt.clock.now(),
    )
    try:
        status, body = await _post(
            f"http://{settings.host}:{settings.port}{PATH}", settings, update
        )
    except aiohttp.ClientConnectionError:
        async with rt.app_on_loopback(telegram=True) as base:
            status, body = await _post(base + PATH, settings, update)
    if status != 200:
        raise click.ClickException(f"the server answered {status}: {body.strip()}")
    if body.strip():
        answer = json.loads(body)
        click.echo(f"tap answered: {answer.get('text', '')}")
    click.echo(f"update {update['update_id']} accepted; replies: turnout outbox")

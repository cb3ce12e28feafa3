"""``install(app)``: the organiser console in the app ``bot.app.create_app`` builds, at ``/``,
beside the webhooks (which it leaves alone: no CSRF, no cookies, no headers there)."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.app_keys import PIPELINE
from bot.web import (
    actions,
    board,
    door,
    importing,
    inbox,
    invite,
    leader_link,
    listening,
    people,
    promises,
    rights,
    sending,
    sessions,
    signin,
    today,
)
from bot.web.keys import HUB, NAV
from bot.web.live import LiveHub
from bot.web.security import guard, on_prepare

HERE = Path(__file__).resolve().parent


def install(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = lambda path: f"/static/{path}"
    app.middlewares.append(guard)
    app.on_response_prepare.append(on_prepare)
    hub = LiveHub()
    app[HUB] = hub
    app[NAV] = []
    # The inbound pipeline pokes the hub after each commit: this process's pages are instant.
    app[PIPELINE].on_handled.append(hub.poke_all)

    async def close_hub(_app: web.Application) -> None:
        await hub.close()

    app.on_shutdown.append(close_hub)
    app.router.add_routes(signin.routes)
    app.router.add_routes(sessions.routes)
    today.install(app)
    board.install(app)
    leader_link.install(app)
    promises.install(app)
    actions.install(app)
    invite.install(app)
    sending.install(app)
    people.install(app)
    importing.install(app)
    inbox.install(app)
    listening.install(app)
    rights.install(app)
    door.install(app)
    app.router.add_static("/static/", HERE / "static", name="console.static")

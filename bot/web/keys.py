"""Typed keys the console keeps on the app and on each request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.web.live import LiveHub
from bot.web.viewer import Viewer


@dataclass(frozen=True)
class NavItem:
    label: str
    route: str  # a route name, e.g. "console.today"
    order: int
    # Shown to organisers only: a leader is never offered a link to a page that refuses them.
    organiser_only: bool = False

    def shown_to(self, organiser: bool) -> bool:
        return organiser or not self.organiser_only


HUB = web.AppKey("console_hub", LiveHub)
# The sections in the header's navigation. A section is added here when its page exists:
# never a link to a page that is not built yet, nor one the viewer may not open.
NAV = web.AppKey("console_nav", list[NavItem])

IS_CONSOLE = web.RequestKey("console", bool)
VIEWER = web.RequestKey("console_viewer", Viewer)
CSRF_TOKEN = web.RequestKey("console_csrf", str)
# Set when this response must carry a new anonymous CSRF cookie.
NEW_CSRF = web.RequestKey("console_new_csrf", str)

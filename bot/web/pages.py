"""Rendering console pages: the shared context, error pages, the sign-in guard, navigation."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.app_keys import DB, SETTINGS
from bot.web.keys import CSRF_TOKEN, NAV, VIEWER, NavItem
from bot.web.viewer import Viewer
from storage.actions import action_by_slug
from storage.models import Action

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN = "console.sign_in"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ViewerHandler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


def add_nav(
    app: web.Application, label: str, route: str, order: int, *, organiser_only: bool = False
) -> None:
    """Link a section from the header (once its page exists). ``organiser_only``: a page that
    refuses leaders, so a leader's header does not offer it. The order, in tens: Today,
    Actions, People, Inbox, Listening, Promises, Sending, Audit."""
    app[NAV].append(NavItem(label, route, order, organiser_only))
    app[NAV].sort(key=lambda item: item.order)


def url(request: web.Request, name: str, **parts: str) -> str:
    return str(request.app.router[name].url_for(**parts))


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    route = request.match_info.route.name or ""
    viewer = request.get(VIEWER)
    shared: dict[str, Any] = {
        "alliance": request.app[SETTINGS].alliance_name,
        "viewer": viewer,
        "csrf_token": request.get(CSRF_TOKEN, ""),
        "nav": [
            {"label": item.label, "href": url(request, item.route), "current": item.route == route}
            for item in request.app[NAV]
            if item.shown_to(viewer.roles.organiser)
        ]
        if viewer is not None
        else [],
        "here": route,
    }
    response = aiohttp_jinja2.render_template(
        template, request, {**shared, **(context or {})}, status=status
    )
    # Pages carry people's names and numbers: never kept by a shared or back-button cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def download(body: bytes, filename: str, content_type: str) -> web.Response:
    """A file to save (an export: it carries people's data, so no cache keeps it)."""
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def csv_download(text: str, filename: str) -> web.Response:
    """A CSV file (written by storage/export.py's writer) to save, in UTF-8."""
    return download(text.encode("utf-8"), filename, "text/csv; charset=utf-8")


async def action_in_path(request: web.Request) -> Action | None:
    """The action the path's ``{slug}`` names, or None."""
    async with request.app[DB].session() as session:
        return await action_by_slug(session, request.match_info["slug"])


async def action_or_404(request: web.Request) -> Action:
    """The action the path's ``{slug}`` names; a plain 404 when there is none."""
    action = await action_in_path(request)
    if action is None:
        raise web.HTTPNotFound()
    return action


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def signed_in(handler: ViewerHandler) -> Handler:
    """Only for a signed-in viewer: otherwise a page asks them to sign in (a GET is sent to
    the sign-in page; a form posted after the session ended is refused with a clear page)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        viewer = request.get(VIEWER)
        if viewer is None:
            if request.method in SAFE_METHODS:
                raise see_other(url(request, SIGN_IN))
            return error_page(
                request,
                403,
                "You are signed out",
                "Your session has ended, so nothing was changed. Sign in again and try again.",
            )
        return await handler(request, viewer)

    return guarded


def organisers_only(title: str, message: str) -> Callable[[ViewerHandler], ViewerHandler]:
    """Only for an organiser (after :func:`signed_in`): anyone else gets a 403 page saying
    ``title`` and ``message`` (each section says why in its own words)."""

    def decorate(handler: ViewerHandler) -> ViewerHandler:
        @functools.wraps(handler)
        async def guarded(request: web.Request, viewer: Viewer) -> web.StreamResponse:
            if not viewer.roles.organiser:
                return error_page(request, 403, title, message)
            return await handler(request, viewer)

        return guarded

    return decorate

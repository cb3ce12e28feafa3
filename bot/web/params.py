"""Reading what a console page was asked for (query strings and forms): a value that cannot be
used is a :class:`BadInput`, which a page turns into a clear 400, never a 500."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any

from aiohttp import web

from bot.web.pages import ViewerHandler, error_page
from bot.web.viewer import Viewer
from config.phones import redact_phones

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns (PostgreSQL refuses a larger value)
MAX_TEXT = 500


class BadInput(ValueError):
    pass


def text(params: Mapping[str, Any], name: str, *, limit: int = MAX_TEXT) -> str:
    value = params.get(name, "")
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text")
    if len(value) > limit:
        raise BadInput(f"{name} is too long (at most {limit} characters)")
    return value.strip()


def number(params: Mapping[str, Any], name: str) -> int | None:
    """An id or a page number: ASCII digits, or nothing."""
    value = text(params, name, limit=20)
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise BadInput(f"{name} must be a whole number")
    return int(value)


def choice(params: Mapping[str, Any], name: str, allowed: Collection[str]) -> str | None:
    value = text(params, name, limit=64)
    if not value:
        return None
    if value not in allowed:
        raise BadInput(f"{name} must be one of: {', '.join(sorted(allowed))}")
    return value


def numbers(values: list[Any], name: str) -> set[int]:
    """Every checked box of a multiple choice (ids)."""
    out: set[int] = set()
    for value in values:
        out.add(number({name: value}, name) or 0)
    out.discard(0)
    return out


def parse_id(value: str) -> int | None:
    """A row id from a form or a path; None if it cannot be one."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def row_id(request: web.Request, name: str = "id") -> int:
    """An id from the path (its route allows digits only); 0, which no row has, when it is
    past what the column holds (so the page is "not found", never a database error)."""
    value = int(request.match_info[name])
    return value if value <= MAX_ID else 0


def bad_request(request: web.Request, problem: BadInput) -> web.Response:
    return error_page(
        request, 400, "This page could not be shown", f"Nothing was changed: {problem}."
    )


def refuses_bad_input(handler: ViewerHandler) -> ViewerHandler:
    """A :class:`BadInput` the handler raises (reading its query or form) is the clear 400
    page of :func:`bad_request`."""

    @functools.wraps(handler)
    async def guarded(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        try:
            return await handler(request, viewer)
        except BadInput as problem:
            return bad_request(request, problem)

    return guarded


def not_found(request: web.Request) -> web.Response:
    return error_page(
        request, 404, "Not found", "It may have been removed, or it is not yours to see."
    )


def hide_phones_for(viewer: Viewer, region: str) -> Callable[[str], str]:
    """What people wrote (texts, answers, a provider's error), as ``viewer`` may see it: an
    organiser as written; anyone else with every phone number in it hidden (a leader never
    sees a number, even one a person typed into a text)."""
    if viewer.roles.organiser:
        return lambda words: words
    return lambda words: redact_phones(words, region) if words else words

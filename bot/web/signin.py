"""Signing in and out: ``/sign-in`` (a phone number), ``/sign-in/code`` (the code sent to
it), ``/sign-in/link/TOKEN`` (an operator's one-time link: opening it shows a button, only
the button's POST uses it, so a link preview cannot) and ``/sign-out``.

The answer to a phone number is the same page whoever it belongs to; the rules are in
bot/web/auth.py."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app_keys import CLOCK, DB, SETTINGS, wake_outbox
from bot.web import auth
from bot.web.keys import VIEWER
from bot.web.pages import error_page, render, see_other, signed_in, url
from bot.web.security import (
    PENDING,
    SESSION,
    clear_cookie,
    client_address,
    device_label,
    read_cookie,
    set_cookie,
)
from bot.web.viewer import Viewer
from config.phones import BadPhone, normalise_phone
from storage.console import CODE_DIGITS, client_key, normalise_code

routes = web.RouteTableDef()


async def _field(request: web.Request, name: str) -> str:
    """A posted text field, trimmed (anything else, a file, counts as empty)."""
    value = (await request.post()).get(name, "")
    return value.strip()[:200] if isinstance(value, str) else ""


@routes.get("/sign-in", name="console.sign_in")
async def sign_in_page(request: web.Request) -> web.StreamResponse:
    if request.get(VIEWER) is not None:
        raise see_other(url(request, "console.today"))
    return render(
        request,
        "sign_in.html",
        {"phone": "", "errors": {}, "signed_out": "signed-out" in request.query},
    )


@routes.post("/sign-in", name="console.sign_in_post")
async def ask_for_code(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    phone = await _field(request, "phone")
    error = ""
    e164 = ""
    if not phone:
        error = "Enter your mobile phone number"
    else:
        try:
            e164 = normalise_phone(phone, settings.default_region)
        except BadPhone:
            error = "Enter a phone number like 07700 900123, or with its country code"
    if error:
        return render(
            request, "sign_in.html", {"phone": phone, "errors": {"phone": error}}, status=400
        )
    async with request.app[DB].session() as session:
        asked = await auth.ask_for_code(
            session,
            settings,
            phone=e164,
            client=client_key(client_address(request)),
            now=request.app[CLOCK].now(),
        )
    if asked.token is None:
        return _too_many(request)
    wake_outbox(request.app)
    response = see_other(url(request, "console.sign_in_code"))
    set_cookie(response, settings, PENDING, asked.token, max_age=settings.console_code_minutes * 60)
    raise response


def _code_page(
    request: web.Request, *, code: str = "", error: str = "", status: int = 200
) -> web.Response:
    settings = request.app[SETTINGS]
    return render(
        request,
        "sign_in_code.html",
        {
            "code": code,
            "errors": {"code": error} if error else {},
            "minutes": settings.console_code_minutes,
            "digits": CODE_DIGITS,
        },
        status=status,
    )


def _too_many(request: web.Request) -> web.Response:
    minutes = request.app[SETTINGS].console_lockout_minutes
    return error_page(
        request,
        429,
        "Too many tries",
        f"For your security, signing in is paused. Wait {minutes} minutes, then ask for a new "
        "code. If you need to get in sooner, ask the person who runs turnout for a sign-in link.",
    )


@routes.get("/sign-in/code", name="console.sign_in_code")
async def code_page(request: web.Request) -> web.StreamResponse:
    if request.get(VIEWER) is not None:
        raise see_other(url(request, "console.today"))
    if not read_cookie(request, PENDING):
        raise see_other(url(request, "console.sign_in"))
    return _code_page(request)


@routes.post("/sign-in/code", name="console.sign_in_code_post")
async def enter_code(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    typed = await _field(request, "code")
    token = read_cookie(request, PENDING)
    if not token:
        return _expired(request)
    if len(normalise_code(typed)) != CODE_DIGITS:
        return _code_page(
            request,
            code=typed,
            error=f"Enter the {CODE_DIGITS}-digit code from the message we sent you",
            status=400,
        )
    async with request.app[DB].session() as session:
        entered = await auth.enter_code(
            session,
            settings,
            token=token,
            code=typed,
            client=client_key(client_address(request)),
            user_agent=device_label(request.headers.get("User-Agent", "")),
            now=request.app[CLOCK].now(),
        )
        if entered.outcome == "signed_in":
            await _end_current(request, session)
    if entered.outcome == "signed_in":
        assert entered.session_token is not None
        raise _signed_in(request, entered.session_token)
    if entered.outcome == "wrong":
        return _code_page(
            request,
            code=typed,
            error="That code is not right. Check the message and try again",
            status=400,
        )
    if entered.outcome == "locked":
        response = _too_many(request)
        clear_cookie(response, settings, PENDING)
        return response
    return _expired(request)


def _expired(request: web.Request) -> web.Response:
    response = error_page(
        request,
        400,
        "That code has expired",
        "Codes work once, for a few minutes. Ask for a new code.",
    )
    clear_cookie(response, request.app[SETTINGS], PENDING)
    return response


async def _end_current(request: web.Request, session: AsyncSession) -> None:
    """A browser signing in again leaves its previous session signed out, not dangling."""
    viewer = request.get(VIEWER)
    if viewer is not None:
        await auth.sign_out(session, viewer.current, request.app[CLOCK].now())


def _signed_in(request: web.Request, session_token: str) -> web.HTTPSeeOther:
    settings = request.app[SETTINGS]
    response = see_other(url(request, "console.today"))
    set_cookie(
        response,
        settings,
        SESSION,
        session_token,
        max_age=settings.console_session_max_days * 24 * 3600,
    )
    clear_cookie(response, settings, PENDING)
    return response


@routes.get("/sign-in/link/{token}", name="console.sign_in_link")
async def link_page(request: web.Request) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        person = await auth.link_holder(
            session, request.match_info["token"], request.app[CLOCK].now()
        )
    if person is None:
        return _link_gone(request)
    return render(request, "sign_in_link.html", {"name": person.name.strip() or "you"})


@routes.post("/sign-in/link/{token}", name="console.sign_in_link_post")
async def use_link(request: web.Request) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        entered = await auth.use_link(
            session,
            request.app[SETTINGS],
            token=request.match_info["token"],
            user_agent=device_label(request.headers.get("User-Agent", "")),
            now=request.app[CLOCK].now(),
        )
        if entered.outcome == "signed_in":
            await _end_current(request, session)
    if entered.session_token is None:
        return _link_gone(request)
    raise _signed_in(request, entered.session_token)


def _link_gone(request: web.Request) -> web.Response:
    return error_page(
        request,
        404,
        "This sign-in link has expired",
        "Sign-in links work once, for a few minutes. Ask for a code instead, or ask the person "
        "who runs turnout for a new link.",
    )


@routes.post("/sign-out", name="console.sign_out")
@signed_in
async def sign_out(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with request.app[DB].session() as session:
        await auth.sign_out(session, viewer.current, request.app[CLOCK].now())
    response = see_other(url(request, "console.sign_in") + "?signed-out")
    clear_cookie(response, request.app[SETTINGS], SESSION)
    raise response

"""The console's guard, around every console request (never the webhooks or /healthz):

* the viewer: the session cookie's live session and its person's roles (bot/web/auth.py);
* CSRF: every form carries ``csrf_token``; a signed-in viewer's is derived from their session
  token (HMAC), a visitor's is a random cookie matched by the form (double submit); every
  unsafe method is checked;
* Origin: an unsafe request whose Origin (or, without one, Referer) is not
  TURNOUT_PUBLIC_URL's is refused (403, with a page that says why);
* headers: a CSP without inline script or style, no framing, nosniff, a same-origin referrer;
* errors: a console page never shows a traceback; a 404 and a 500 get a page of their own.

Cookies are HttpOnly, SameSite=Lax, path /, and Secure with a ``__Host-`` name when the public
URL is https.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from bot.app_keys import CLOCK, DB, SETTINGS
from bot.web import auth
from bot.web.keys import CSRF_TOKEN, IS_CONSOLE, NEW_CSRF, VIEWER
from bot.web.pages import SAFE_METHODS, Handler, error_page
from bot.web.viewer import viewer_for
from config.settings import Settings

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
SESSION, PENDING, CSRF = "session", "signin", "csrf"
NOT_CONSOLE = ("/webhooks/", "/healthz")

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


# -- cookies ---------------------------------------------------------------------------------


def cookie_name(settings: Settings, base: str) -> str:
    return ("__Host-" if settings.secure_cookies else "") + "turnout_" + base


def read_cookie(request: web.Request, base: str) -> str:
    return request.cookies.get(cookie_name(request.app[SETTINGS], base), "")


def set_cookie(
    response: web.StreamResponse, settings: Settings, base: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        cookie_name(settings, base),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
    )


def clear_cookie(response: web.StreamResponse, settings: Settings, base: str) -> None:
    response.del_cookie(
        cookie_name(settings, base),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
    )


def session_csrf(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"console csrf", hashlib.sha256).hexdigest()


# -- the client ------------------------------------------------------------------------------


def client_address(request: web.Request) -> str:
    """The client's address: the peer's, or behind a trusted proxy (TURNOUT_TRUST_FORWARDED_FOR)
    the last address the proxy added to X-Forwarded-For."""
    if request.app[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.remote or ""


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS", "Firefox"),
    ("CriOS", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "Mac"),
    ("Macintosh", "Mac"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """A short, recognisable name for a device ("Firefox on Android"), not the raw header."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "A browser")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    label = f"{browser} on {system}" if system else browser
    return re.sub(r"[^\w .,-]", "", label)[:100]


# -- checks ----------------------------------------------------------------------------------


def _origin(value: str) -> str | None:
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: web.Request) -> bool:
    """An unsafe request comes from our own pages: its Origin (or, when a browser sends none,
    its Referer) is TURNOUT_PUBLIC_URL's. With neither, the CSRF token alone decides."""
    expected = request.app[SETTINGS].public_origin
    origin = request.headers.get("Origin")
    if origin is not None:
        return _origin(origin) == expected  # "null" (a sandboxed or privacy context) fails
    referer = request.headers.get("Referer")
    if referer is not None:
        return _origin(referer) == expected
    return True


def is_console(request: web.Request) -> bool:
    route = request.match_info.route
    if (route.name or "").startswith("console."):
        return True
    # No route matched: a console 404 page, unless it was meant for a webhook.
    return route.resource is None and not request.path.startswith(NOT_CONSOLE)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_console(request):
        return await handler(request)
    request[IS_CONSOLE] = True
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:  # a redirect, mostly
        _give_csrf_cookie(request, exc)
        raise
    _give_csrf_cookie(request, response)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        await _load_viewer(request)
        if request.method not in SAFE_METHODS:
            if not same_origin(request):
                log.warning("console: cross-origin %s %s refused", request.method, request.path)
                return error_page(
                    request,
                    403,
                    "This request came from another website",
                    "The form was sent from a page that is not part of this console, so it "
                    "was refused and nothing was changed. Open the console's own page and try "
                    "again.",
                )
            form = await request.post()
            given = form.get(CSRF_FIELD, "")
            if not isinstance(given, str) or not hmac.compare_digest(
                given.encode(), request[CSRF_TOKEN].encode()
            ):
                return error_page(
                    request,
                    403,
                    "This form has expired",
                    "Nothing was changed. The page may have been open for too long, or cookies "
                    "may be switched off in your browser. Go back, reload the page and try again.",
                )
        return await handler(request)
    except web.HTTPNotFound:
        return error_page(
            request, 404, "Page not found", "Check the web address, or go back to Today."
        )
    except web.HTTPException:
        raise
    except Exception:
        log.exception("console: unhandled error on %s %s", request.method, request.path)
        return error_page(
            request,
            500,
            "Sorry, something went wrong",
            "Nothing more was changed. Try again in a moment; if it keeps happening, tell the "
            "person who runs turnout.",
        )


def _give_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """A visitor without a CSRF cookie gets the one this page's forms carry."""
    new_csrf = request.get(NEW_CSRF)
    if new_csrf is not None and not response.prepared:
        set_cookie(response, request.app[SETTINGS], CSRF, new_csrf, max_age=24 * 3600)


async def _load_viewer(request: web.Request) -> None:
    app = request.app
    settings = app[SETTINGS]
    token = read_cookie(request, SESSION)
    current = None
    if token:
        async with app[DB].session() as session:
            current = await auth.current(session, settings, token, app[CLOCK].now())
            if current is not None:
                request[VIEWER] = await viewer_for(session, current, session_csrf(token))
    if current is not None:
        request[CSRF_TOKEN] = request[VIEWER].csrf_token
        return
    anonymous = read_cookie(request, CSRF)
    if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", anonymous):
        anonymous = secrets.token_urlsafe(32)
        request[NEW_CSRF] = anonymous
    request[CSRF_TOKEN] = anonymous


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """The security headers, on every console response (static files and streams too)."""
    if not request.get(IS_CONSOLE):
        return
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.app[SETTINGS].secure_cookies:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")

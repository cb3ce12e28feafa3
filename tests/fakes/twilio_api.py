"""A fake Twilio REST API on 127.0.0.1: the Messages resource, as the twilio library calls it.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` takes the real form fields (``To``,
``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``), checks HTTP basic auth
(account SID and auth token), and answers 201 with the real JSON shape (``sid`` "SM" + 32 hex,
``status`` "queued", or "accepted" for a messaging service). ``GET`` on the same path lists
messages (``To`` / ``From`` filters, newest first, paged with ``PageSize`` / ``Page``), which the
sender uses to settle unknown outcomes. Every request is recorded.

Failures are programmable: ``fail_next`` queues exact answers; ``failures`` sets a share of
calls answering 429, 500 or timing out (the message is created, or not, then the answer comes
too late); ``permanent`` maps a number to an error code (21610, 21211, 21614); ``rate`` caps
accepted messages per second (a token bucket; over the cap answers 429, code 20429).

In tests: ``async with FakeTwilioApi(clock=clock) as api:`` then point TURNOUT_TWILIO_API_URL (or
``TwilioSms(api_url=...)``) at ``api.url``. As a process (the benchmark):
``python -m tests.fakes.twilio_api --rate 500`` prints its URL and serves ``GET /_fake/stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import random
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from config.clock import Clock, SystemClock
from tests.fakes.loopback import LoopbackServer

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token"
API_VERSION = "2010-04-01"

ERRORS = {
    21610: "Attempt to send to unsubscribed recipient",
    21211: "The 'To' number {to} is not a valid phone number.",  # Twilio quotes the number
    21614: "'To' number is not a valid mobile number",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20003: "Authenticate",
    21602: "Message body is required.",
    21604: "A 'To' phone number is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
}


@dataclass(frozen=True)
class Failure:
    """One programmed answer: an HTTP error, or ``timeout`` (answer after ``delay`` seconds;
    ``creates`` says whether the message was created before the late answer)."""

    kind: str  # "429" | "500" | "timeout" | "error"
    code: int | None = None
    status: int = 400
    creates: bool = True
    delay: float = 1.0


@dataclass
class Shares:
    """Shares of calls (0..1) that fail, drawn from a seeded random generator."""

    too_many: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    timeout_creates: float = 0.5  # of the timeouts, the share where the message was created
    timeout_delay: float = 1.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    auth_ok: bool
    status: int
    at: float  # time.monotonic()


@dataclass
class FakeTwilioApi(LoopbackServer):
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    clock: Clock = field(default_factory=SystemClock)
    rate: float | None = None  # accepted messages per second
    burst: float | None = None  # bucket size; default a tenth of a second's worth
    seed: int = 1
    failures: Shares = field(default_factory=Shares)
    permanent: dict[str, int] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._script: deque[Failure] = deque()
        self._rng = random.Random(self.seed)
        self._tokens = 0.0
        self._refilled = time.monotonic()
        self.throttled = 0
        self._arrived = asyncio.Event()

    # -- programming and reading ----------------------------------------------------------------

    def fail_next(self, failure: Failure, times: int = 1) -> None:
        self._script.extend([failure] * times)

    def created_to(self, to: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == to]

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def duplicates(self) -> int:
        """Messages created beyond the first for the same (To, Body)."""
        counts = Counter((m["to"], m["body"]) for m in self.messages)
        return sum(n - 1 for n in counts.values() if n > 1)

    def stats(self) -> dict[str, Any]:
        accepted = [r.at for r in self.requests if r.method == "POST" and r.status == 201]
        span = (max(accepted) - min(accepted)) if len(accepted) > 1 else 0.0
        return {
            "posts": len(self.posts()),
            "accepted": len(accepted),
            "throttled": self.throttled,
            "duplicates": self.duplicates(),
            "first": min(accepted, default=0.0),
            "last": max(accepted, default=0.0),
            "span": span,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.messages.clear()
        self.throttled = 0

    # -- serving --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{sid}}/Messages.json"
        app.router.add_post(base, self._create)
        app.router.add_get(base, self._list)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_post("/_fake/reset", self._reset)
        return app

    def _auth_ok(self, request: web.Request, sid: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid == sid and secrets.compare_digest(password, self.auth_token)

    def _record(self, request: web.Request, form: dict[str, str], ok: bool, status: int) -> None:
        self.requests.append(
            Recorded(request.method, request.path, form, ok, status, time.monotonic())
        )

    async def _create(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not self._auth_ok(request, sid):
            self._record(request, form, False, 401)
            return _error(401, 20003)
        failure = self._script.popleft() if self._script else self._draw()
        if failure is None:
            for field_name, code in (("To", 21604), ("Body", 21602)):
                if not form.get(field_name):
                    self._record(request, form, True, 400)
                    return _error(400, code)
            if not (form.get("From") or form.get("MessagingServiceSid")):
                self._record(request, form, True, 400)
                return _error(400, 21603)
            code = self.permanent.get(form["To"])
            if code is not None:
                failure = Failure("error", code=code, status=400)
            elif not self._take_token():
                self.throttled += 1
                failure = Failure("429")
        if failure is None:
            self._record(request, form, True, 201)
            return web.json_response(self._new_message(form), status=201)
        if failure.kind == "timeout":
            if failure.creates:
                self._new_message(form)
            self._record(request, form, True, 0)
            await asyncio.sleep(failure.delay)
            return _error(500, 20500)
        status = {"429": 429, "500": 500}.get(failure.kind, failure.status)
        code = failure.code or {429: 20429, 500: 20500}.get(status, 21211)
        self._record(request, form, True, status)
        return _error(status, code, to=form.get("To", ""))

    def _draw(self) -> Failure | None:
        f = self.failures
        x = self._rng.random()
        if x < f.too_many:
            return Failure("429")
        x -= f.too_many
        if x < f.server_error:
            return Failure("500")
        x -= f.server_error
        if x < f.timeout:
            creates = self._rng.random() < f.timeout_creates
            return Failure("timeout", creates=creates, delay=f.timeout_delay)
        return None

    def _take_token(self) -> bool:
        if self.rate is None:
            return True
        size = self.burst if self.burst is not None else max(1.0, self.rate / 10)
        now = time.monotonic()
        self._tokens = min(size, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _new_message(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = _rfc2822(self.clock.now())
        service = form.get("MessagingServiceSid")
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        body = form["Body"]
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service and not form.get("From") else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": form["To"],
            "uri": f"{uri}.json",
        }
        self.messages.append(message)
        self._arrived.set()
        return message

    async def wait_for_messages(self, count: int) -> None:
        """Return once ``count`` messages have been created: an event, not a poll (bound it
        with ``asyncio.wait_for``)."""
        while len(self.messages) < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def _list(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        ok = self._auth_ok(request, sid)
        self._record(request, dict(request.query), ok, 200 if ok else 401)
        if not ok:
            return _error(401, 20003)
        q = request.query
        found = [
            m
            for m in reversed(self.messages)
            if ("To" not in q or m["to"] == q["To"]) and ("From" not in q or m["from"] == q["From"])
        ]
        size = int(q.get("PageSize", "50"))
        page = int(q.get("Page", "0"))
        chunk = found[page * size : (page + 1) * size]
        base = f"/{API_VERSION}/Accounts/{sid}/Messages.json"
        more = (page + 1) * size < len(found)
        filters = "".join(f"&{k}={v}" for k, v in q.items() if k not in ("Page", "PageSize"))
        return web.json_response(
            {
                "messages": chunk,
                "end": page * size + len(chunk) - 1,
                "first_page_uri": f"{base}?PageSize={size}&Page=0{filters}",
                "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}{filters}"
                if more
                else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": None,
                "start": page * size,
                "uri": f"{base}?PageSize={size}&Page={page}{filters}",
            }
        )

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})


def _error(status: int, code: int, *, to: str = "") -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": ERRORS.get(code, "Error").format(to=to),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def _rfc2822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=False)


async def _serve(args: argparse.Namespace) -> None:
    api = FakeTwilioApi(rate=args.rate, burst=args.burst)
    url = await api.start(args.port)
    print(url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=None, help="messages per second")
    parser.add_argument("--burst", type=float, default=None, help="bucket size (messages)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()

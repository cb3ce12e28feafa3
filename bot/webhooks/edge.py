"""What every webhook does with a request before anything in it means anything: read the whole
body (bounded in size and in time), parse it strictly, and check each field it uses against what
its column and type can hold.

A refusal is raised as an aiohttp HTTP exception whose text is the reason, in one line:

* 400: malformed (not UTF-8, not the declared format, a field we use is missing, too long, not
  ASCII digits, out of its 64-bit (or 32-bit key) range, JSON nested too deeply, NaN or
  Infinity, a duplicated key, a body over the limit);
* 408: the body did not all arrive within ``Settings.body_timeout_seconds``.

Fields a webhook only records (Twilio's ``To``, a message's text, Telegram names and titles) are
not refused: the column types clamp and normalise them (storage.models.base.CleanString), so
that storing cannot fail on content. Text PostgreSQL cannot hold (NUL, unpaired surrogates) is
likewise normalised there, in one place, not here.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict

from bot.app_keys import SETTINGS

FORM = "application/x-www-form-urlencoded"
# Telegram's updates nest a few levels (an update, a message, the message it replies to, its
# chat, ...): 32 is far more than any real one and far less than what breaks a parser.
MAX_JSON_DEPTH = 32
INT64 = (-(2**63), 2**63 - 1)
# Our tables' own ids (outbox ids we put in status callback URLs) are 32-bit on PostgreSQL.
INT32 = (-(2**31), 2**31 - 1)


def refuse(reason: str) -> NoReturn:
    """Answer 400 with ``reason``."""
    raise web.HTTPBadRequest(text=reason + "\n")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, however many pieces it arrives in: read to the end, refused as
    soon as it is longer than ``limit`` bytes (before reading anything when Content-Length says
    so), and refused with 408 unless it has all arrived within the body timeout."""
    if request.content_length is not None and request.content_length > limit:
        refuse("request body too large")
    body = bytearray()
    try:
        async with asyncio.timeout(request.app[SETTINGS].body_timeout_seconds):
            while chunk := await request.content.readany():
                body += chunk
                if len(body) > limit:
                    refuse("request body too large")
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="request body not received in time\n") from None
    except (web.RequestPayloadError, ConnectionError):
        # Malformed chunked encoding, or the client went away before the end.
        refuse("request body incomplete")
    return bytes(body)


async def read_form(request: web.Request, limit: int) -> MultiDict[str]:
    """The body as a strictly decoded ``application/x-www-form-urlencoded`` form."""
    if request.content_type != FORM:
        refuse(f"expected {FORM}")
    raw = await read_body(request, limit)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        refuse("request body is not valid UTF-8 form data")
    return MultiDict(pairs)


def single(form: MultiDict[str], name: str) -> str | None:
    """The value of a field we act on, which must not be given twice (which one would count?)."""
    values = form.getall(name, [])
    if len(values) > 1:
        refuse(f"{name} given more than once")
    return values[0] if values else None


def identifier(value: str, name: str, max_length: int = 64) -> str:
    """A provider's id (a MessageSid): 1 to ``max_length`` printable ASCII characters."""
    if not 0 < len(value) <= max_length or not all("!" <= ch <= "~" for ch in value):
        refuse(f"{name} must be 1 to {max_length} printable ASCII characters")
    return value


def ascii_int(value: str, bounds: tuple[int, int]) -> int | None:
    """``value`` as an int if it is ASCII digits (an optional leading minus) within
    ``bounds``; else None. Python's ``int()`` alone also takes spaces, underscores and other
    scripts' digits, and ``str.isdigit()`` is true for "²", which ``int()`` refuses."""
    digits = value[1:] if value.startswith("-") else value
    if not digits or len(digits) > 19 or not (digits.isascii() and digits.isdigit()):
        return None
    number = int(value)
    return number if bounds[0] <= number <= bounds[1] else None


class _Refused(ValueError):
    """Raised by the JSON parser's hooks; the message is the reason."""


def _int64(text: str) -> int:
    # The parser hands over ASCII digits; past 19 of them no value can fit.
    number = int(text) if len(text) <= 20 else INT64[1] + 1
    if not INT64[0] <= number <= INT64[1]:
        raise _Refused("a JSON integer is out of the 64-bit range")
    return number


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _Refused("a JSON number is out of range")
    return number


def _no_constant(text: str) -> NoReturn:
    raise _Refused(f"{text} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("a JSON object has a duplicated key")
    return obj


def parse_json_object(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """``raw`` as a JSON object, strictly: UTF-8 (no BOM), no NaN or Infinity (PostgreSQL's
    JSON refuses them), every integer within 64 bits, every number finite, no duplicated key,
    at most ``max_depth`` levels of objects and arrays. Strings may hold anything JSON can
    escape, NUL and unpaired surrogates included: the update is stored losslessly as JSON, and
    the text columns its contents reach normalise them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        refuse("request body is not UTF-8")
    try:
        data = json.loads(
            text,
            parse_int=_int64,
            parse_float=_finite,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_keys,
        )
    except _Refused as exc:
        refuse(str(exc))
    except RecursionError:
        refuse("JSON nested too deeply")
    except ValueError:
        refuse("request body is not JSON")
    if not isinstance(data, dict):
        refuse("expected a JSON object")
    if _depth(data) > max_depth:
        refuse("JSON nested too deeply")
    return data


def _depth(data: Any) -> int:
    """How many levels of objects and arrays ``data`` has (without recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node)
    return deepest

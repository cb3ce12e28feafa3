"""What every CLI command shares besides its runtime (bot/cli/runtime.py: settings, database,
clock): the event loop, table printing, logging."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from config.text import table as table  # the commands print with it
from storage.people import redact_phones

P = ParamSpec("P")
T = TypeVar("T")


def run(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body in a fresh event loop."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(func(*args, **kwargs))

    return wrapper


class RedactingFormatter(logging.Formatter):
    """The last guard: a phone number that reached a log message or an exception's text (a
    provider's error quoting it, a database error quoting a row) is hidden before it is
    written. Only the message and the traceback are read: the timestamp is left alone."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = redact_phones(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return redact_phones(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact_phones(super().formatStack(stack_info))


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    # At INFO these log request URLs; Bot API URLs carry the bot token.
    for noisy in ("httpx", "httpcore", "twilio.http_client", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

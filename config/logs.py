"""Logging: one event a line, as text or JSON, and never a phone number or a token, at any level.

``setup_logging(settings)`` (every long-running command calls it) does three things:

1. Caps the third-party loggers that print URLs, query strings, bodies or SQL parameters
   (:data:`LIBRARY_CAPS`), whatever the level asked for: the twilio library logs each request's
   query parameters (a reconcile lookup's ``To`` number) at INFO, httpx and python-telegram-bot
   log Bot API URLs (which carry the token) and whole updates (shared contacts), SQLAlchemy's
   engine logs statements with their parameters. The caps are the real protection: these
   records are never made. (SQL errors, which carry their parameters into any traceback, are
   handled at the source too: ``hide_parameters`` on every engine, storage/db.py.)
2. Installs one handler on the root logger writing one event a line: ``text`` (for people) or
   ``json`` (TURNOUT_LOG_FORMAT=json, for a log shipper), with the structured fields
   :data:`FIELDS` that callers pass as ``extra=`` (``log.info("...", extra={"outbox_id": 7})``).
3. As defence in depth, that handler's formatter hides anything phone-like
   (``config.phones.redact_phones``) and the configured secrets in the message and the
   traceback. It works on a copy: other handlers (a test's log capture) still see the record
   as it was made, so a test can prove the sources themselves are clean.

Use::

    setup_logging(settings)                  # TURNOUT_LOG_LEVEL, TURNOUT_LOG_FORMAT
    log.info("outbox %d sent", row.id, extra={"outbox_id": row.id, "person_id": row.person_id})
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from config.phones import redact_phones
from config.settings import Settings

# Logger -> the lowest level it may ever log at. A parent's cap covers its children unless a
# child has a level of its own; the twilio clients are named so that one set explicitly below
# the cap (the library never does, but an operator's config might) is capped all the same.
LIBRARY_CAPS: dict[str, int] = {
    "twilio": logging.WARNING,
    "twilio.http_client": logging.WARNING,  # request URL and query parameters at INFO
    "twilio.async_http_client": logging.WARNING,  # the same, for the client turnout uses
    "httpx": logging.WARNING,  # request URLs at INFO (Bot API URLs carry the token)
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,  # API URLs, parameters and whole updates at DEBUG
    "aiohttp.access": logging.WARNING,  # request lines with query strings
    "aiohttp.client": logging.WARNING,
    "sqlalchemy": logging.WARNING,  # statements and their parameters at INFO and DEBUG
    "sqlalchemy.engine": logging.WARNING,
    "aiosqlite": logging.WARNING,  # each statement with its parameters at DEBUG
    "asyncpg": logging.WARNING,
    "apscheduler": logging.WARNING,  # a line a second from the metronome at INFO
}

# The structured fields callers pass with ``extra=``: ids only, never an address.
FIELDS = ("outbox_id", "inbound_id", "person_id", "worker")
# Twilio resource ids (messages, accounts, services): two letters and 32 hex digits.
_PROVIDER_ID = re.compile(r"\b([A-Z]{2}[0-9a-f]{32})\b")
HIDDEN_SECRET = "[secret hidden]"  # noqa: S105 (what a secret is replaced with)


def cap_library_loggers() -> None:
    """Hold every logger in :data:`LIBRARY_CAPS` at its cap or above (idempotent; a level set
    higher on purpose is kept). Called by :func:`setup_logging`, and by the components that
    start those libraries, so a program that never calls ``setup_logging`` is covered too."""
    for name, cap in LIBRARY_CAPS.items():
        logger = logging.getLogger(name)
        if logger.level < cap:  # NOTSET (0) included: it would inherit the root's level
            logger.setLevel(cap)


class _SafeFormatter(logging.Formatter):
    """Renders a copy of the record with phone-like numbers and secrets hidden in the message,
    the traceback and the stack; subclasses lay the event out on one line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is hidden whole. One of a few
        # characters would hide those characters in every line: too short to be worth it.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def hide(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, HIDDEN_SECRET)
        # Provider ids are kept whole (a run of digits inside a hex SID is no phone number):
        # the odd pieces of the split are the ids.
        pieces = _PROVIDER_ID.split(text)
        return "".join(p if i % 2 else redact_phones(p) for i, p in enumerate(pieces))

    def parts(self, record: logging.LogRecord) -> tuple[str, str | None]:
        """(message, traceback or None), both hidden; the record itself is left untouched."""
        message = self.hide(record.getMessage())
        trace = None
        if record.exc_info:
            trace = self.formatException(record.exc_info)
        elif record.exc_text:
            trace = record.exc_text
        if record.stack_info:
            stack = self.formatStack(record.stack_info)
            trace = f"{trace}\n{stack}" if trace else stack
        return message, (self.hide(trace) if trace else None)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The structured fields given (:data:`FIELDS`), text values hidden like the rest."""
        return {
            name: self.hide(value) if isinstance(value, str) else value
            for name in FIELDS
            if (value := getattr(record, name, None)) is not None
        }


class TextFormatter(_SafeFormatter):
    """``2026-03-10 10:00:00,123 INFO scheduler.delivery.sender: outbox 7: sent [outbox_id=7]``; a
    traceback follows on the same line, its line breaks written as ``\\n``."""

    def format(self, record: logging.LogRecord) -> str:
        message, trace = self.parts(record)
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {message}"
        fields = self.fields(record)
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        if trace:
            line += "\n" + trace
        return line.replace("\r", "").replace("\n", "\\n")


class JsonFormatter(_SafeFormatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    the structured fields that were given, and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        message, trace = self.parts(record)
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for name, value in self.fields(record).items():
            event[name] = value if isinstance(value, int | float | bool) else str(value)
        if trace:
            event["exception"] = trace
        return json.dumps(event, ensure_ascii=False, default=str)


class TurnoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler :func:`setup_logging` installs (and replaces when called again)."""


def setup_logging(settings: Settings, *, stream: IO[str] | None = None) -> TurnoutHandler:
    """Configure logging for a turnout process (see the module docstring). ``stream`` defaults
    to stderr. Calling it again replaces the handler it installed before."""
    cap_library_loggers()
    secrets = [s.get() for s in settings.secrets()]
    formatter = JsonFormatter(secrets) if settings.log_format == "json" else TextFormatter(secrets)
    handler = TurnoutHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, TurnoutHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler

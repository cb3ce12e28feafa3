"""Settings: every knob is a ``TURNOUT_*`` environment variable (a ``.env`` file is read too).

Usage::

    settings = Settings.from_env()          # reads os.environ (+ .env)
    settings = Settings.from_env({"TURNOUT_PORT": "9000"})   # tests pass a mapping

A wrong value raises :class:`SettingsError` naming the variable, so startup stops with a clear
message instead of failing later. Secrets are wrapped in :class:`Secret` and print as stars.
Each secret ``X`` may also be given as ``X_FILE`` (a path whose content is the value).
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers
from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///turnout.db"
LANGUAGES = ("en", "cy", "pl")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A string that never prints itself (logs, reprs, tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    alliance_name: str = "Turnout Citizens"
    default_region: str = "GB"
    default_language: str = "en"
    default_timezone: str = "Europe/London"
    twilio_account_sid: str = ""
    twilio_auth_token: Secret = field(default_factory=lambda: Secret(""))
    twilio_from: str = ""
    twilio_api_url: str = ""
    sms_rate_per_second: float = 10.0
    # What one SMS segment costs, for the console's estimate before an invitation goes out.
    sms_price: float = 0.04
    # Sending (scheduler/delivery/sender.py): Telegram's overall cap (its limit is about 30/s),
    # retries for transient provider errors (exponential backoff with full jitter from BASE up to
    # MAX seconds), how long a worker's claim on a row lasts, and how long after a lost claim the
    # provider is asked whether the message went out before it is sent again.
    telegram_rate_per_second: float = 25.0
    send_max_attempts: int = 8
    send_backoff_seconds: float = 5.0
    send_backoff_max_seconds: float = 1800.0
    send_lease_seconds: int = 60
    reconcile_after_seconds: int = 120
    telegram_bot_token: Secret = field(default_factory=lambda: Secret(""))
    telegram_webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    telegram_api_url: str = ""
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    digest_time: time = time(8, 0)
    # Planning (scheduler/planner.py, scheduler/digest/): reminders are planned this far
    # ahead of their due time; an institution with no RSVP for this many days is "idle" in the
    # digest; leaders get a daily chase nudge for an action starting within this many days.
    plan_ahead_minutes: int = 15
    idle_days: int = 3
    leader_nudge_days: int = 14
    # Listening (scheduler/listening.py): hours without an answer before the one nudge a person
    # gets in a campaign (a new campaign's default; 0 = never nudge), and seconds within which a
    # second text right after an answer is joined to it (people split an answer over texts).
    listening_nudge_hours: int = 72
    listening_join_seconds: int = 15
    run_worker_in_server: bool = True
    # TURNOUT_NOW: the server, the worker and every command start their clock at this moment and
    # let it run from there (config/clock.py: RunningClock), e.g. to try the sandbox by day at
    # night. Unset (None): the system clock.
    now: datetime | None = None
    # The organiser console (bot/web/): a sign-in code lasts this many minutes, an operator's
    # sign-in link this many; a person (or, four times over, a client address) gets this many
    # codes and wrong tries per lockout window; a session ends after this many idle hours, and
    # after this many days whatever happens. Behind a TLS proxy, trust its X-Forwarded-For to
    # tell clients apart (their address is otherwise the proxy's).
    console_code_minutes: int = 10
    console_link_minutes: int = 15
    console_max_attempts: int = 5
    console_lockout_minutes: int = 15
    console_session_idle_hours: int = 72
    console_session_max_days: int = 30
    trust_forwarded_for: bool = False
    # The web server (bot/app.py server_options): a connection must deliver a request's headers
    # within HEADER seconds of opening (or of the previous response), which also closes idle
    # keep-alive connections then; a request's body must arrive within BODY seconds.
    header_timeout_seconds: float = 75.0
    body_timeout_seconds: float = 15.0
    sandbox_auth_token: Secret = field(default_factory=lambda: Secret("sandbox-auth-token"))
    log_level: str = "INFO"
    # Log lines as text or JSON (config/logs.py); the port a separate ``turnout worker`` serves
    # /metrics on (0: none; ``turnout serve`` serves /metrics on its own port); how recent a
    # worker's heartbeat must be for /readyz to answer 200 (0: not checked).
    log_format: str = "text"
    metrics_port: int = 0
    ready_worker_seconds: int = 60
    # Data protection (README, "Data protection"): the short privacy notice PRIVACY texts back
    # (empty: a default naming what is kept); the key erased numbers are hashed with so an
    # import never brings them back (storage/suppression.py); how many days free text
    # (inbound texts, listening answers, follow-up notes) is kept before the daily job redacts
    # it (0: kept until erased).
    privacy_notice: str = ""
    suppression_secret: Secret = field(default_factory=lambda: Secret(""))
    retain_text_days: int = 730

    @property
    def twilio_enabled(self) -> bool:
        """Real Twilio only when both credentials are set; otherwise the sandbox channel."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def sms_provider(self) -> str:
        return "twilio" if self.twilio_enabled else "sandbox"

    @property
    def webhook_auth_token(self) -> Secret:
        """The token inbound Twilio webhooks are signed with (the sandbox has its own)."""
        return self.twilio_auth_token if self.twilio_enabled else self.sandbox_auth_token

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    def secrets(self) -> list[Secret]:
        """Every secret setting (logs hide their values wherever they turn up)."""
        return [
            self.twilio_auth_token,
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.sandbox_auth_token,
            self.suppression_secret,
        ]

    @property
    def public_origin(self) -> str:
        """``scheme://host[:port]`` of TURNOUT_PUBLIC_URL: what a browser's Origin header must
        be for the console to accept a form from it."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def secure_cookies(self) -> bool:
        """Console cookies are Secure (and ``__Host-`` named) when the public URL is https."""
        return self.public_url.lower().startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
    ) -> Settings:
        env: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        env.update(os.environ if environ is None else environ)
        return cls._parse(env)

    @classmethod
    def _parse(cls, env: Mapping[str, str]) -> Settings:
        r = _Reader(env)
        host = r.text("HOST", cls.host)
        port = r.integer("PORT", cls.port, lo=1, hi=65535)
        zone = r.timezone("DEFAULT_TIMEZONE", cls.default_timezone)
        settings = cls(
            database_url=r.database_url("DATABASE_URL", DEFAULT_DATABASE_URL),
            host=host,
            port=port,
            public_url=r.url("PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            alliance_name=r.text("ALLIANCE_NAME", cls.alliance_name),
            default_region=r.region("DEFAULT_REGION", cls.default_region),
            default_language=r.choice("DEFAULT_LANGUAGE", cls.default_language, LANGUAGES),
            default_timezone=zone,
            twilio_account_sid=r.text("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=r.secret("TWILIO_AUTH_TOKEN"),
            twilio_from=r.text("TWILIO_FROM", ""),
            twilio_api_url=r.url("TWILIO_API_URL", "", optional=True).rstrip("/"),
            sms_rate_per_second=r.number("SMS_RATE_PER_SECOND", cls.sms_rate_per_second),
            sms_price=r.number("SMS_PRICE", cls.sms_price),
            telegram_rate_per_second=r.number(
                "TELEGRAM_RATE_PER_SECOND", cls.telegram_rate_per_second
            ),
            send_max_attempts=r.integer("SEND_MAX_ATTEMPTS", cls.send_max_attempts, lo=1, hi=100),
            send_backoff_seconds=r.number("SEND_BACKOFF_SECONDS", cls.send_backoff_seconds),
            send_backoff_max_seconds=r.number(
                "SEND_BACKOFF_MAX_SECONDS", cls.send_backoff_max_seconds
            ),
            send_lease_seconds=r.integer(
                "SEND_LEASE_SECONDS", cls.send_lease_seconds, lo=30, hi=3600
            ),
            reconcile_after_seconds=r.integer(
                "RECONCILE_AFTER_SECONDS", cls.reconcile_after_seconds, lo=30, hi=86400
            ),
            telegram_bot_token=r.secret("TELEGRAM_BOT_TOKEN"),
            telegram_webhook_secret=r.secret("TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_url=r.url("TELEGRAM_API_URL", "", optional=True).rstrip("/"),
            quiet_start=r.clock_time("QUIET_START", cls.quiet_start),
            quiet_end=r.clock_time("QUIET_END", cls.quiet_end),
            digest_time=r.clock_time("DIGEST_TIME", cls.digest_time),
            plan_ahead_minutes=r.integer(
                "PLAN_AHEAD_MINUTES", cls.plan_ahead_minutes, lo=0, hi=24 * 60
            ),
            idle_days=r.integer("IDLE_DAYS", cls.idle_days, lo=1, hi=60),
            leader_nudge_days=r.integer("LEADER_NUDGE_DAYS", cls.leader_nudge_days, lo=0, hi=365),
            listening_nudge_hours=r.integer(
                "LISTENING_NUDGE_HOURS", cls.listening_nudge_hours, lo=0, hi=24 * 60
            ),
            listening_join_seconds=r.integer(
                "LISTENING_JOIN_SECONDS", cls.listening_join_seconds, lo=0, hi=3600
            ),
            run_worker_in_server=r.flag("RUN_WORKER_IN_SERVER", True),
            now=r.moment("NOW", zone=zone),
            console_code_minutes=r.integer(
                "CONSOLE_CODE_MINUTES", cls.console_code_minutes, lo=1, hi=60
            ),
            console_link_minutes=r.integer(
                "CONSOLE_LINK_MINUTES", cls.console_link_minutes, lo=1, hi=24 * 60
            ),
            console_max_attempts=r.integer(
                "CONSOLE_MAX_ATTEMPTS", cls.console_max_attempts, lo=1, hi=100
            ),
            console_lockout_minutes=r.integer(
                "CONSOLE_LOCKOUT_MINUTES", cls.console_lockout_minutes, lo=1, hi=24 * 60
            ),
            console_session_idle_hours=r.integer(
                "CONSOLE_SESSION_IDLE_HOURS", cls.console_session_idle_hours, lo=1, hi=24 * 90
            ),
            console_session_max_days=r.integer(
                "CONSOLE_SESSION_MAX_DAYS", cls.console_session_max_days, lo=1, hi=365
            ),
            trust_forwarded_for=r.flag("TRUST_FORWARDED_FOR", False),
            header_timeout_seconds=r.number("HEADER_TIMEOUT_SECONDS", cls.header_timeout_seconds),
            body_timeout_seconds=r.number("BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds),
            log_level=r.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            log_format=r.choice("LOG_FORMAT", cls.log_format, ("text", "json")),
            metrics_port=r.integer("METRICS_PORT", cls.metrics_port, lo=0, hi=65535),
            ready_worker_seconds=r.integer(
                "READY_WORKER_SECONDS", cls.ready_worker_seconds, lo=0, hi=86400
            ),
            privacy_notice=r.text("PRIVACY_NOTICE", cls.privacy_notice),
            suppression_secret=r.secret("SUPPRESSION_SECRET"),
            retain_text_days=r.integer("RETAIN_TEXT_DAYS", cls.retain_text_days, lo=0, hi=36500),
        )
        if settings.twilio_account_sid and not settings.twilio_auth_token:
            raise SettingsError(
                "TURNOUT_TWILIO_AUTH_TOKEN is required with TURNOUT_TWILIO_ACCOUNT_SID"
            )
        if settings.twilio_enabled and not settings.twilio_from:
            raise SettingsError(
                "TURNOUT_TWILIO_FROM is required with Twilio credentials "
                "(an E.164 number such as +447700900000 or a messaging service SID MG...)"
            )
        if settings.twilio_from and not (
            settings.twilio_from.startswith("MG") or _possible_e164(settings.twilio_from)
        ):
            raise SettingsError(
                f"TURNOUT_TWILIO_FROM must be an E.164 number or a messaging service SID "
                f"(MG...), got {settings.twilio_from!r}"
            )
        if settings.sms_price < 0:
            raise SettingsError("TURNOUT_SMS_PRICE must not be negative")
        if settings.sms_rate_per_second <= 0:
            raise SettingsError("TURNOUT_SMS_RATE_PER_SECOND must be greater than 0")
        if not 0 < settings.telegram_rate_per_second <= 30:
            raise SettingsError(
                "TURNOUT_TELEGRAM_RATE_PER_SECOND must be greater than 0 and at most 30 "
                "(Telegram's own limit)"
            )
        if not 0 < settings.send_backoff_seconds <= settings.send_backoff_max_seconds:
            raise SettingsError(
                "TURNOUT_SEND_BACKOFF_SECONDS must be greater than 0 and at most "
                "TURNOUT_SEND_BACKOFF_MAX_SECONDS"
            )
        for name, value in (
            ("HEADER_TIMEOUT_SECONDS", settings.header_timeout_seconds),
            ("BODY_TIMEOUT_SECONDS", settings.body_timeout_seconds),
        ):
            if not 0 < value <= 3600:
                raise SettingsError(f"TURNOUT_{name} must be greater than 0 and at most 3600")
        _check_telegram(settings)
        return settings


def _check_telegram(settings: Settings) -> None:
    """The webhook secret must be what Telegram accepts as ``secret_token`` (1-256 of
    A-Z a-z 0-9 _ -), or setWebhook fails far from here. (The bot token is checked by Telegram
    itself at startup: getMe.)"""
    secret = settings.telegram_webhook_secret.get()
    if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise SettingsError(
            "TURNOUT_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
            "(what Telegram accepts as a secret token)"
        )


def _possible_e164(value: str) -> bool:
    if not value.startswith("+"):
        return False
    try:
        return bool(phonenumbers.is_possible_number(phonenumbers.parse(value, None)))
    except phonenumbers.NumberParseException:
        return False


class _Reader:
    """Reads ``TURNOUT_<NAME>`` values; every error names the variable."""

    PREFIX = "TURNOUT_"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.get(self.PREFIX + name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def _fail(self, name: str, message: str) -> SettingsError:
        return SettingsError(f"{self.PREFIX}{name}: {message}")

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def secret(self, name: str) -> Secret:
        value = self._raw(name)
        path = self._raw(name + "_FILE")
        if value is not None and path is not None:
            raise self._fail(
                name, f"set either {self.PREFIX}{name} or {self.PREFIX}{name}_FILE, not both"
            )
        if path is not None:
            try:
                return Secret(Path(path).read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise self._fail(name + "_FILE", f"cannot read {path}: {exc.strerror}") from exc
        return Secret(value or "")

    def integer(self, name: str, default: int, *, lo: int, hi: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self._fail(name, f"expected a whole number, got {value!r}") from None
        if not lo <= number <= hi:
            raise self._fail(name, f"expected a number from {lo} to {hi}, got {number}")
        return number

    def number(self, name: str, default: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise self._fail(name, f"expected a number, got {value!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise self._fail(name, f"expected true or false, got {value!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value not in choices:
            raise self._fail(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, default: str, *, optional: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self._fail(name, f"expected an http(s) URL, got {value!r}")
        return value

    def database_url(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        if value.startswith("sqlite:"):
            value = "sqlite+aiosqlite:" + value[len("sqlite:") :]
        elif value.startswith(("postgres://", "postgresql://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
            raise self._fail(
                name, "expected sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db"
            )
        return value

    def region(self, name: str, default: str) -> str:
        value = (self._raw(name) or default).upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise self._fail(name, f"expected a region code such as GB, got {value!r}")
        return value

    def timezone(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise self._fail(name, f"unknown time zone {value!r}") from None
        return value

    def moment(self, name: str, *, zone: str) -> datetime | None:
        """An ISO date and time (``2026-12-01 14:00``, ``2026-12-01T14:00:00+00:00``); without
        an offset it is a local time in ``zone``."""
        value = self._raw(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self._fail(
                name, f"expected a date and time such as 2026-12-01 14:00, got {value!r}"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zoneinfo.ZoneInfo(zone))

    def clock_time(self, name: str, default: time) -> time:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise self._fail(name, f"expected a time such as 21:00, got {value!r}") from None

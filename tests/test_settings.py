"""Settings: defaults, validation that names the variable, secrets that never print, .env files."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from config.settings import DEFAULT_DATABASE_URL, Secret, Settings, SettingsError

TWILIO = {
    "TURNOUT_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TURNOUT_TWILIO_AUTH_TOKEN": "auth-token-value",
    "TURNOUT_TWILIO_FROM": "+447700900000",
}


def load(**env: str) -> Settings:
    return Settings.from_env(env, env_file=None)


def test_it_has_working_defaults_without_any_environment() -> None:
    settings = load()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.default_region == "GB"
    assert settings.default_language == "en"
    assert settings.default_timezone == "Europe/London"
    assert (settings.quiet_start, settings.quiet_end) == (time(21, 0), time(9, 0))
    assert settings.digest_time == time(8, 0)
    assert settings.run_worker_in_server is True
    assert settings.log_level == "INFO"
    assert settings.now is None  # the system clock
    assert not settings.twilio_enabled
    assert settings.sms_provider == "sandbox"
    assert not settings.telegram_enabled


def test_it_does_not_read_the_process_environment_when_given_a_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TURNOUT_PORT", "9999")
    assert load().port == 8080


def test_it_reads_good_values() -> None:
    settings = load(
        TURNOUT_PORT="9000",
        TURNOUT_PUBLIC_URL="https://turnout.example.org/",
        TURNOUT_DEFAULT_TIMEZONE="Europe/Warsaw",
        TURNOUT_DEFAULT_LANGUAGE="cy",
        TURNOUT_DEFAULT_REGION="gb",
        TURNOUT_QUIET_START="20:30",
        TURNOUT_RUN_WORKER_IN_SERVER="false",
        TURNOUT_ALLIANCE_NAME="  Leicester Citizens  ",
    )
    assert settings.port == 9000
    assert settings.public_url == "https://turnout.example.org"
    assert settings.default_timezone == "Europe/Warsaw"
    assert settings.default_language == "cy"
    assert settings.default_region == "GB"
    assert settings.quiet_start == time(20, 30)
    assert settings.run_worker_in_server is False
    assert settings.alliance_name == "Leicester Citizens"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TURNOUT_PORT", "abc"),
        ("TURNOUT_PORT", "70000"),
        ("TURNOUT_PORT", "0"),
        ("TURNOUT_DATABASE_URL", "mysql://x"),
        ("TURNOUT_DEFAULT_TIMEZONE", "Mars/Base"),
        ("TURNOUT_DEFAULT_TIMEZONE", "../../etc/passwd"),
        ("TURNOUT_DEFAULT_LANGUAGE", "fr"),
        ("TURNOUT_DEFAULT_REGION", "UK"),
        ("TURNOUT_QUIET_START", "25:00"),
        ("TURNOUT_QUIET_END", "9am"),
        ("TURNOUT_DIGEST_TIME", "noon"),
        ("TURNOUT_RUN_WORKER_IN_SERVER", "maybe"),
        ("TURNOUT_PUBLIC_URL", "turnout.example.org"),
        ("TURNOUT_SMS_RATE_PER_SECOND", "fast"),
        ("TURNOUT_SMS_RATE_PER_SECOND", "0"),
        ("TURNOUT_LOG_LEVEL", "LOUD"),
        ("TURNOUT_TWILIO_FROM", "12345"),
        ("TURNOUT_NOW", "tomorrow at 2"),
        ("TURNOUT_NOW", "2026-12-01 25:00"),
    ],
)
def test_a_bad_value_stops_startup_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load(**{variable: value})


def test_turnout_now_is_a_local_time_in_the_default_zone_unless_it_names_an_offset() -> None:
    assert load(TURNOUT_NOW="2026-07-01 14:00").now == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    warsaw = load(TURNOUT_NOW="2026-07-01 14:00", TURNOUT_DEFAULT_TIMEZONE="Europe/Warsaw")
    assert warsaw.now == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    explicit = load(TURNOUT_NOW="2026-07-01T14:00:00+00:00")
    assert explicit.now == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


def test_a_twilio_account_without_its_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN") as caught:
        load(TURNOUT_TWILIO_ACCOUNT_SID=TWILIO["TURNOUT_TWILIO_ACCOUNT_SID"])
    assert "TWILIO_ACCOUNT_SID" in str(caught.value)


def test_twilio_credentials_without_a_sender_are_refused() -> None:
    env = {k: v for k, v in TWILIO.items() if k != "TURNOUT_TWILIO_FROM"}
    with pytest.raises(SettingsError, match="TURNOUT_TWILIO_FROM"):
        load(**env)


def test_twilio_is_used_when_fully_configured() -> None:
    settings = load(**TWILIO)
    assert settings.twilio_enabled and settings.sms_provider == "twilio"
    assert settings.webhook_auth_token.get() == "auth-token-value"
    assert load(**{**TWILIO, "TURNOUT_TWILIO_FROM": "MG" + "0" * 32}).twilio_from.startswith("MG")


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-value\n", encoding="utf-8")
    settings = load(TURNOUT_TELEGRAM_BOT_TOKEN_FILE=str(token_file))
    assert settings.telegram_bot_token.get() == "file-token-value"
    assert settings.telegram_enabled


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TURNOUT_TELEGRAM_BOT_TOKEN_FILE"):
        load(TURNOUT_TELEGRAM_BOT_TOKEN_FILE=str(tmp_path / "absent"))


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("x", encoding="utf-8")
    with pytest.raises(SettingsError, match="TURNOUT_TELEGRAM_BOT_TOKEN"):
        load(TURNOUT_TELEGRAM_BOT_TOKEN="y", TURNOUT_TELEGRAM_BOT_TOKEN_FILE=str(token_file))


def test_a_secret_never_prints_its_value() -> None:
    secret = Secret("hunter2-token")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert secret.get() == "hunter2-token"
    assert secret and not Secret("")
    settings = load(**TWILIO, TURNOUT_TELEGRAM_BOT_TOKEN="123:telegram-token-value")
    assert "auth-token-value" not in repr(settings)
    assert "telegram-token-value" not in repr(settings)


def test_it_reads_a_dotenv_file_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# local settings\nTURNOUT_PORT=9100\nTURNOUT_ALLIANCE_NAME='Brighton & Hove Citizens'\n",
        encoding="utf-8",
    )
    settings = Settings.from_env({}, env_file=env_file)
    assert settings.port == 9100
    assert settings.alliance_name == "Brighton & Hove Citizens"
    assert Settings.from_env({"TURNOUT_PORT": "9200"}, env_file=env_file).port == 9200


def test_a_missing_dotenv_file_is_not_an_error(tmp_path: Path) -> None:
    assert Settings.from_env({}, env_file=tmp_path / "absent.env").port == 8080


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("postgres://u:p@db:5432/turnout", "postgresql+asyncpg://u:p@db:5432/turnout"),
        ("postgresql://u@db/turnout", "postgresql+asyncpg://u@db/turnout"),
        ("postgresql+asyncpg://u@db/turnout", "postgresql+asyncpg://u@db/turnout"),
        ("sqlite:///data/turnout.db", "sqlite+aiosqlite:///data/turnout.db"),
        ("sqlite+aiosqlite:///turnout.db", "sqlite+aiosqlite:///turnout.db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(given: str, normalised: str) -> None:
    settings = load(TURNOUT_DATABASE_URL=given)
    assert settings.database_url == normalised
    assert settings.is_sqlite == normalised.startswith("sqlite")

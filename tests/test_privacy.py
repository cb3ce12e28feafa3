"""Phone numbers never reach logs, error columns or group chats."""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException

from bot.channels.twilio_sms import classify
from storage.people import mask_phone, redact_phones


def test_a_twilio_error_quoting_the_number_is_stored_without_it() -> None:
    exc = TwilioRestException(
        400,
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
        msg="The 'To' number +447700900123 is not a valid phone number.",
        code=21211,
    )
    error = classify(exc)
    assert error.permanent and error.effect == "invalid"
    assert "900123" not in str(error) and "[number hidden]" in str(error)


def test_redaction_catches_the_usual_ways_of_writing_a_number() -> None:
    for number in ("+447700900123", "07700 900123", "07700-900-123", "447700900123"):
        assert redact_phones(f"call {number} now") == "call [number hidden] now"
    assert redact_phones("COMMIT 40 for 2026") == "COMMIT 40 for 2026"


def test_masked_phones_keep_only_the_ends() -> None:
    assert mask_phone("+447700900123") == "+44*******123"
    assert mask_phone(None) == "-"

"""People: phone normalisation and lookup."""

from __future__ import annotations

import re
from datetime import datetime

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Person


class BadPhone(ValueError):
    pass


def normalise_phone(raw: str, region: str) -> str:
    """E.164 for a number typed any usual way (``07700 900123``, ``+44 7700 900123``).

    Accepts *possible* numbers, not only *valid* ones: Ofcom's drama range (07700 900xxx),
    used in tests and demos, is possible but deliberately not valid.
    """
    text = raw.strip()
    if not text:
        raise BadPhone("phone number is empty")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise BadPhone(f"not a phone number ({exc._msg})") from None
    # IS_POSSIBLE_LOCAL_ONLY ("0770") is not enough: we need a number that can be dialled.
    if (
        phonenumbers.is_possible_number_with_reason(number)
        != phonenumbers.ValidationResult.IS_POSSIBLE
    ):
        raise BadPhone("not a possible phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# Ten or more digits, optionally with a leading + and single spaces or hyphens between them.
PHONE_LIKE = re.compile(r"\+?\d(?:[ -]?\d){9,}")
HIDDEN = "[number hidden]"


def redact_phones(text: str) -> str:
    """Free text (a provider's error message, a group post) with every phone-like number hidden."""
    return PHONE_LIKE.sub(HIDDEN, text)


def mask_phone(phone: str | None) -> str:
    """For logs: never a whole number. ``+447700900123`` -> ``+44******123``."""
    if not phone:
        return "-"
    return phone[:3] + "*" * max(len(phone) - 6, 0) + phone[-3:]


async def person_by_phone(session: AsyncSession, phone: str) -> Person | None:
    result = await session.scalars(select(Person).where(Person.phone == phone))
    return result.first()


def new_person(
    *,
    phone: str | None,
    name: str = "",
    language: str,
    timezone: str,
    consent: str,
    consent_source: str,
    now: datetime,
) -> Person:
    return Person(
        name=name,
        phone=phone,
        phone_status="ok",
        language=language,
        timezone=timezone,
        consent=consent,
        consent_source=consent_source,
        consent_at=now,
        telegram_status="ok",
        created_at=now,
    )


def apply_delivery_effect(person: Person, effect: str | None, now: datetime) -> None:
    """What a provider's permanent error tells us about a person (one place for the sender and
    the status callbacks): unsubscribed at the carrier, a bad number, or a blocked bot."""
    if effect == "opted_out":
        if person.consent != "opted_out":
            person.consent = "opted_out"
            person.consent_source = "carrier"
            person.consent_at = now
    elif effect in ("invalid", "not_mobile"):
        person.phone_status = effect
    elif effect == "blocked":
        person.telegram_status = "blocked"

"""Erase a person: every personal field in every table deleted or irreversibly anonymised,
everything queued for them cancelled, the counts kept right.

    report = await erase(session, person, secret=settings.suppression_secret,
                         region=settings.default_region, now=now)

* The ``people`` row stays, anonymous (no name, number, Telegram id, date of birth or adult),
  with ``erased_at`` set, so their memberships, invitations, RSVPs and attendance still count
  in past rollups as one anonymous person each: identity is detached, the counts are not
  touched.
* Their texts (and the raw text kept beside them), the messages we sent them (bodies and
  addresses), their listening answers, follow-up notes about them, consent words, Telegram
  updates, link codes, sign-in codes and console sessions are blanked or deleted; queued
  messages are cancelled.
* Then every text and JSON column of every other table is searched for their number (any way
  it is written), their Telegram id and their name: a text quoting their number or id is
  replaced whole by ``[erased]`` (a leader's ``LOG DOORSTEP 07700 900123 YES: ...`` holds
  their words), their name wherever it stands (a chase list naming them).
* Audit entries they made are signed "erased person" (the one change the PostgreSQL trigger
  allows); entries never quote names, numbers or message text (storage/audit.py).
* A suppression entry (storage/suppression.py) keeps a later import from bringing the number
  back.

The scan reads every text column of every table once (a LIKE filter first): seconds on a large
database, for something done rarely and on request.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import JSON, ColumnElement, String, Table, Text, cast, delete, func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from config.phones import LONG_DIGIT_RUN
from config.settings import Secret
from storage import consent
from storage.models import Base, Person
from storage.subject import HOLDINGS, Finder, Subject, mentions, subject_of
from storage.suppression import key_of, suppress

ERASED = "[erased]"
ERASED_ACTOR = "erased person"
# Tables erase() deals with itself (the person's row; the audit log: only its signature may
# change; suppressions: hashes).
NOT_SCANNED = {"people", "audit_log", "suppressions"}


@dataclass
class Erasure:
    person_id: int
    already: bool = False
    cancelled: int = 0
    changed: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        if self.already:
            return [f"person #{self.person_id} was already erased"]
        rows = ", ".join(f"{table} {n}" for table, n in sorted(self.changed.items()))
        return [
            f"person #{self.person_id} erased; {self.cancelled} queued messages cancelled",
            f"rows changed: {rows or 'none'}",
        ]


class Scrubber:
    """Finds and replaces one person's number (any format), Telegram id and name in text."""

    def __init__(
        self, *, phone: str | None, telegram_user_id: int | None, names: list[str], region: str
    ) -> None:
        self.phone = phone
        self.region = region
        self.nsn = ""
        if phone:
            number = phonenumbers.parse(phone, None)
            self.nsn = str(phonenumbers.national_significant_number(number))
        self.telegram = str(telegram_user_id) if telegram_user_id is not None else ""
        self.telegram_id = telegram_user_id
        self.names = [n for n in {n.strip() for n in names} if len(n) >= 2]
        self._tg = (
            re.compile(rf"(?<!\d){re.escape(self.telegram)}(?!\d)") if self.telegram else None
        )
        self._names = [re.compile(re.escape(n), re.IGNORECASE) for n in self.names]

    def needles(self) -> list[str]:
        """Short strings every mention contains (lower case): a cheap first filter in SQL."""
        found = [n.lower() for n in self.names]
        if self.nsn:
            found.append(self.nsn[-3:])
        if self.telegram:
            found.append(self.telegram)
        return found

    def _phone_spans(self, text: str) -> list[tuple[int, int]]:
        if not self.nsn:
            return []
        spans = [
            m.span()
            for m in LONG_DIGIT_RUN.finditer(text)
            if re.sub(r"\D", "", m.group()).endswith(self.nsn)
        ]
        for match in phonenumbers.PhoneNumberMatcher(
            text, self.region, leniency=phonenumbers.Leniency.POSSIBLE
        ):
            if str(phonenumbers.national_significant_number(match.number)) == self.nsn:
                spans.append((match.start, match.end))
        return spans

    def text(self, value: str) -> str:
        """A text that quotes their number or Telegram id is about them (a leader's ``LOG
        DOORSTEP 07700 900123 YES: what they said``): all of it goes. Their name is replaced
        where it stands (a chase list keeps the other names)."""
        if self._phone_spans(value) or (self._tg is not None and self._tg.search(value)):
            return ERASED
        for pattern in self._names:
            value = pattern.sub(ERASED, value)
        return value

    def value(self, value: Any) -> Any:
        """A column's value (text, or JSON of any shape) with every mention replaced."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.telegram_id is not None
            and value == self.telegram_id
        ):
            return 0
        return value


def _finder(table: str) -> Finder:
    return next(finder for name, _how, finder in HOLDINGS if name == table)


def _t(name: str) -> Table:
    return Base.metadata.tables[name]


async def _set(
    session: AsyncSession, report: Erasure, table: str, where: ColumnElement[bool], **values: Any
) -> None:
    t = _t(table)
    result = await session.execute(sql_update(t).where(where).values(**values))
    report.changed[table] += int(getattr(result, "rowcount", 0) or 0)


async def _delete(
    session: AsyncSession, report: Erasure, table: str, where: ColumnElement[bool]
) -> None:
    result = await session.execute(delete(_t(table)).where(where))
    report.changed[table] += int(getattr(result, "rowcount", 0) or 0)


async def erase(
    session: AsyncSession, person: Person, *, secret: Secret, region: str, now: datetime
) -> Erasure:
    """Erase ``person`` (in the caller's transaction). Needs the suppression secret when they
    have a number."""
    report = Erasure(person.id)
    if person.erased_at is not None:
        report.already = True
        return report
    if person.phone:
        key_of(person.phone, secret)  # fails before anything changes when no secret is set
    s = subject_of(person)
    scrub = Scrubber(
        phone=person.phone,
        telegram_user_id=person.telegram_user_id,
        names=[person.name, person.adult_name or ""],
        region=region,
    )
    await _own_rows(session, report, s, now)
    await _telegram_rows(session, report, s)
    if person.phone:
        await suppress(session, person.phone, secret, at=now)
    audit = _t("audit_log")
    await _set(
        session,
        report,
        "audit_log",
        audit.c.actor_person_id == s.person_id,
        actor_label=ERASED_ACTOR,
    )
    consent.change(session, person, "opted_out", source="erased", at=now)
    person.name = ""
    person.phone = None
    person.telegram_user_id = None
    person.telegram_status = "ok"
    person.alliance_role = None
    person.under_16 = False
    person.born_on = None
    person.adult_name = None
    person.adult_relation = None
    person.adult_consent_at = None
    person.erased_at = now
    await session.flush()
    await _scan(session, report, scrub)
    return report


async def _own_rows(session: AsyncSession, report: Erasure, s: Subject, now: datetime) -> None:
    outbox = _t("outbox")
    mine = _finder("outbox")(s)
    result = await session.execute(
        sql_update(outbox)
        .where(mine)
        .where(outbox.c.status.in_(("queued", "sending", "unknown")))
        .values(status="cancelled", error_code="erased", updated_at=now)
    )
    report.cancelled = int(getattr(result, "rowcount", 0) or 0)
    await _set(
        session, report, "outbox", mine, body="", to_address="", payload=None, error_message=None
    )
    await _set(
        session, report, "delivery_events", _finder("delivery_events")(s), error_message=None
    )
    await _set(
        session,
        report,
        "inbound_messages",
        _finder("inbound_messages")(s),
        body="",
        body_original=None,
        sender="",
        error=None,
    )
    inbound = _t("inbound_messages")
    await _set(
        session,
        report,
        "inbound_messages",
        _finder("inbound_messages")(s) & (inbound.c.inbox_status == "open"),
        inbox_status="done",  # nothing left for an organiser to read
    )
    events = _t("consent_events")
    await _set(session, report, "consent_events", events.c.person_id == s.person_id, words=None)
    answers = _t("listening_answers")
    await _set(session, report, "listening_answers", answers.c.person_id == s.person_id, body="")
    follow_ups = _t("listening_follow_ups")
    await _set(
        session, report, "listening_follow_ups", follow_ups.c.person_id == s.person_id, note=""
    )
    await _set(
        session, report, "listening_follow_ups", follow_ups.c.by_id == s.person_id, by_name=""
    )
    # Still counted with their institutions, but no longer leading anything.
    memberships = _t("memberships")
    await _set(
        session, report, "memberships", memberships.c.person_id == s.person_id, role="member"
    )
    for table in ("console_sessions", "sign_in_codes", "sign_in_attempts", "pending_questions"):
        await _delete(session, report, table, _t(table).c.person_id == s.person_id)
    # Links made for them, a spreadsheet still waiting with their number, texts given to them:
    await _delete(session, report, "console_uploads", _finder("console_uploads")(s))
    links = _t("capability_links")
    await _delete(session, report, "capability_links", links.c.person_id == s.person_id)
    await _set(
        session,
        report,
        "capability_links",
        links.c.created_by_id == s.person_id,
        created_by_id=None,
    )
    assigned = _t("inbox_assignments")
    await _delete(session, report, "inbox_assignments", assigned.c.assigned_to_id == s.person_id)
    await _set(
        session,
        report,
        "inbox_assignments",
        assigned.c.assigned_by_id == s.person_id,
        assigned_by_id=None,
    )


async def _telegram_rows(session: AsyncSession, report: Erasure, s: Subject) -> None:
    codes = _t("telegram_link_codes")
    await _delete(session, report, "telegram_link_codes", codes.c.person_id == s.person_id)
    updates = _t("telegram_updates")
    rows = (
        await session.execute(
            select(updates.c.id, updates.c.raw).where(_finder("telegram_updates")(s))
        )
    ).all()
    theirs = [row.id for row in rows if mentions(row.raw, s)]
    if theirs:
        await _delete(session, report, "telegram_updates", updates.c.id.in_(theirs))
    if s.telegram_user_id is None:
        return
    tg = s.telegram_user_id
    await _set(
        session, report, "telegram_link_codes", codes.c.used_by_user_id == tg, used_by_user_id=None
    )
    await _set(
        session, report, "telegram_link_codes", codes.c.used_in_chat_id == tg, used_in_chat_id=None
    )
    groups = _t("telegram_groups")
    await _set(
        session, report, "telegram_groups", groups.c.linked_by_user_id == tg, linked_by_user_id=None
    )
    keys = [f"user:{tg}", f"chat:{tg}"]
    for table in ("telegram_code_attempts", "send_rate_buckets"):
        t = _t(table)
        await _delete(session, report, table, or_(*(t.c.key.endswith(k) for k in keys)))


def _scanned_columns(table: Table) -> list[Any]:
    columns = []
    for column in table.columns:
        if column.primary_key:
            continue
        kind = column.type
        impl = getattr(kind, "impl", kind)
        if isinstance(kind, JSON) or isinstance(impl, String | Text | JSON):
            columns.append(column)
    return columns


async def _scan(session: AsyncSession, report: Erasure, scrub: Scrubber) -> None:
    """Every other mention, in every text and JSON column of every table."""
    needles = scrub.needles()
    if not needles:
        return
    for table in Base.metadata.sorted_tables:
        if table.name in NOT_SCANNED:
            continue
        columns = _scanned_columns(table)
        if not columns:
            continue
        keys = list(table.primary_key.columns)
        near = or_(*(func.lower(cast(c, Text)).like(f"%{n}%") for c in columns for n in needles))
        rows = (await session.execute(select(*keys, *columns).where(near))).mappings().all()
        for row in rows:
            changes = {}
            for column in columns:
                old = row[column.name]
                new = scrub.value(old)
                if new != old:
                    changes[column.name] = new
            if changes:
                where = [k == row[k.name] for k in keys]
                await session.execute(sql_update(table).where(*where).values(**changes))
                report.changed[table.name] += 1

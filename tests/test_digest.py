"""The organisers' daily digest, its chart, and the leaders' nudges, on a hand-built dataset.

Thursday 12 March 2026, 08:00 in London. The assembly is on Thursday 19 March at 18:00.
- St Mary's Church, committed 40: Ann yes +2, Bea yes, Cy yes, Di maybe, Ed no, Flo silent.
- Al-Noor Mosque, committed 25: Gul yes, Hana yes, Ira and Jo silent.
- Highfields Primary, no commitment: Kit and Lou invited five days ago, never replied (idle).
- No institution: Kay yes, Lee maybe.
Yesterday's snapshot had St Mary's at 1 confirmed (Cy), Al-Noor at 1 (Hana), nobody else.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from config.settings import Settings
from scheduler.digest.build import build_digest
from scheduler.digest.chart import render_chart
from scheduler.digest.plan import plan_digests
from scheduler.digest.render import render_sms, render_text
from scheduler.digest.snapshots import snapshot_counts
from storage.commitments import set_commitment
from storage.db import Database
from storage.models import (
    Action,
    InboundMessage,
    Institution,
    Invitation,
    OutboxAttachment,
    OutboxMessage,
    RollupSnapshot,
    RsvpEvent,
)
from storage.rollup import action_rollup
from tests import factories as f

NOW = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=5)
PNG = b"\x89PNG\r\n\x1a\n"


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


async def build(db: Database) -> Action:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", CREATED)
        mosque = await f.institution(s, "Al-Noor Mosque", CREATED)
        school = await f.institution(s, "Highfields Primary", CREATED, kind="school")
        action = await f.action(
            s, CREATED, starts_in=datetime(2026, 3, 19, 18, tzinfo=UTC) - CREATED
        )
        for inst, number in ((mary, 40), (mosque, 25)):
            await set_commitment(
                s,
                action_id=action.id,
                institution_id=inst.id,
                number=number,
                set_by_id=None,
                channel="sms",
                now=CREATED,
            )
        n = 0

        async def member(
            name: str,
            inst: Institution | None,
            response: str | None,
            at: datetime | None,
            guests: int = 0,
        ) -> None:
            nonlocal n
            n += 1
            person = await f.person(s, name, n, CREATED, institution=inst)
            inv = await f.invite(s, action, person, CREATED)
            if response is not None and at is not None:
                inv.response, inv.guests, inv.responded_at = response, guests, at
                s.add(
                    RsvpEvent(
                        invitation_id=inv.id, response=response, guests=guests, channel="sms", at=at
                    )
                )

        await member("Ann Patel", mary, "yes", ago(17), guests=2)
        await member("Bea Cole", mary, "yes", ago(16))
        await member("Cy Evans", mary, "yes", ago(40))
        await member("Di Moss", mary, "maybe", ago(15))
        await member("Ed Pike", mary, "no", ago(44))
        await member("Flo Reed", mary, None, None)
        await member("Gul Aziz", mosque, "yes", ago(12))
        await member("Hana Said", mosque, "yes", ago(45))
        await member("Ira Lund", mosque, None, None)
        await member("Jo Marsh", mosque, None, None)
        await member("Kit Shaw", school, None, None)
        await member("Lou Tran", school, None, None)
        await member("Kay Ng", None, "yes", ago(14))
        await member("Lee Ford", None, "maybe", ago(13))
        # Yesterday's snapshot, as plan_digests would have stored it.
        rollup = await action_rollup(s, action)
        counts = snapshot_counts(rollup)
        for key in counts:
            counts[key].update(yes=0, guests=0, maybe=0, no=0)
        counts[str(mary.id)]["yes"] = 1
        counts[str(mosque.id)]["yes"] = 1
        counts["total"]["yes"] = 2
        s.add(
            RollupSnapshot(action_id=action.id, day=ago(24).date(), taken_at=ago(24), counts=counts)
        )
        # The inbox and the outbox of the last day (and older, which does not count).
        for at, status in (
            (ago(12), "open"),
            (ago(3), "open"),
            (ago(30), "open"),
            (ago(2), "none"),
        ):
            s.add(
                InboundMessage(
                    channel="sms",
                    provider="twilio",
                    provider_id=f"SM{at}",
                    sender=f.phone(99),
                    body="the damp",
                    received_at=at,
                    inbox_status=status,
                )
            )
        for at, status, code in (
            (ago(20), "failed", "21211"),
            (ago(1), "undelivered", "30003"),
            (ago(72), "failed", "21610"),
            (ago(5), "cancelled", "too_late"),
            (ago(5), "cancelled", "superseded"),
        ):
            s.add(
                OutboxMessage(
                    dedupe_key=f"old:{at}:{status}:{code}",
                    channel="sms",
                    to_address=f.phone(98),
                    body="x",
                    template="invite",
                    status=status,
                    error_code=code,
                    not_before=at,
                    created_at=at,
                    updated_at=at,
                )
            )
    return action


async def organisers_and_leaders(db: Database) -> dict[str, int]:
    """Olu (organiser, Telegram), Pam (organiser, SMS), Pat (leads Al-Noor), Quinn (St Mary's)."""
    async with db.session() as s:
        mary, mosque = 1, 2
        olu = await f.person(
            s,
            "Olu Ade",
            50,
            CREATED,
            institution=await s.get_one(Institution, mary),
            role="organiser",
        )
        olu.telegram_user_id = 700100
        pam = await f.person(
            s,
            "Pam Hart",
            51,
            CREATED,
            institution=await s.get_one(Institution, mosque),
            role="organiser",
        )
        pat = await f.person(
            s,
            "Pat Bloom",
            52,
            CREATED,
            institution=await s.get_one(Institution, mosque),
            role="leader",
        )
        quinn = await f.person(
            s,
            "Quinn Roy",
            53,
            CREATED,
            institution=await s.get_one(Institution, mary),
            role="leader",
        )
        return {"olu": olu.id, "pam": pam.id, "pat": pat.id, "quinn": quinn.id}


async def test_the_digest_numbers_match_the_hand_count(db: Database, settings: Settings) -> None:
    await build(db)
    async with db.session() as s:
        digest = await build_digest(s, settings, NOW)
    (item,) = digest.actions
    rows = {r.institution: r for r in item.rollup.rows}
    mary, mosque, school = (
        rows["St Mary's Church"],
        rows["Al-Noor Mosque"],
        rows["Highfields Primary"],
    )
    assert (mary.committed, mary.yes, mary.guests, mary.maybe, mary.no, mary.not_replied) == (
        40,
        3,
        2,
        1,
        1,
        1,
    )
    assert (mary.confirmed, mary.gap) == (5, 35)
    assert (mosque.committed, mosque.yes, mosque.not_replied, mosque.gap) == (25, 2, 2, 23)
    assert (school.committed, school.not_replied, school.gap) == (None, 2, None)
    loose = item.rollup.no_institution
    assert (loose.yes, loose.maybe, loose.not_replied) == (1, 1, 0)
    totals = item.rollup.totals
    assert (totals.committed, totals.confirmed, totals.maybe, totals.no, totals.not_replied) == (
        65,
        8,
        2,
        1,
        5,
    )
    assert [item.change_for(r) for r in (mary, mosque, school, loose, totals)] == [4, 1, 0, 1, 6]
    assert item.since == datetime(2026, 3, 11).date()
    assert [r.institution for r in item.idle] == ["Highfields Primary"]
    assert (digest.inbox_replies, digest.failed_messages, digest.dropped_messages) == (2, 2, 1)


async def test_the_text_digest_is_a_readable_table(db: Database, settings: Settings) -> None:
    await build(db)
    async with db.session() as s:
        text = render_text(await build_digest(s, settings, NOW))
    lines = text.splitlines()
    assert lines[0] == "Leicester Citizens turnout digest, Thu 12 Mar 08:00"
    assert "Accountability Assembly (assembly), Thu 19 Mar 18:00 at De Montfort Hall" in text
    row = next(line for line in lines if line.startswith("St Mary's Church"))
    assert row.split()[3:] == ["40", "3", "2", "1", "1", "1", "+4", "35"]
    total = next(line for line in lines if line.startswith("Total"))
    # The gap is the sum of the shortfalls (35 + 23), not 65 - 8: the no-institution yes
    # must not hide an institution behind.
    assert total.split()[1:] == ["65", "6", "2", "2", "1", "5", "+6", "58"]
    unique = next(line for line in lines if line.startswith("Unique people"))
    assert unique.split()[2:] == ["-", "6", "2", "2", "1", "5", "-", "-"]
    assert "Total adds up the rows: a person in two institutions counts in both" in text
    assert next(line for line in lines if line.startswith("No institution")).split()[2:] == [
        "-",
        "1",
        "0",
        "1",
        "0",
        "0",
        "+1",
        "-",
    ]
    assert "Change since Wed 11 Mar. Not moved for 3 days: Highfields Primary." in text
    assert "Inbox replies since yesterday: 2" in text
    assert "Failed messages since yesterday: 2 (1 more dropped as too late)" in text
    assert "+44" not in text  # never a phone number


async def test_the_sms_digest_is_compact(db: Database, settings: Settings) -> None:
    await build(db)
    async with db.session() as s:
        text = render_sms(await build_digest(s, settings, NOW))
    assert text == (
        "Accountability Assembly Thu 19 Mar: 8/65 confirmed (+6), 58 short, 2 maybe, 5 no reply. "
        "Behind: St Mary's Church 5/40, Al-Noor Mosque 2/25. Quiet 3d: Highfields Primary.\n"
        "Inbox 2. Failed 2."
    )


async def test_the_chart_is_a_png(db: Database, settings: Settings) -> None:
    await build(db)
    async with db.session() as s:
        digest = await build_digest(s, settings, NOW)
    png = render_chart(digest.actions[0])
    assert png.startswith(PNG)
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width == 800 and 200 < height < 600
    assert render_chart(digest.actions[0]) == png  # same numbers, same bytes


async def test_plan_digests_sends_each_organiser_one_digest_a_day_and_leaders_their_own_numbers(
    db: Database, settings: Settings
) -> None:
    action = await build(db)
    ids = await organisers_and_leaders(db)
    early = await plan_digests(db, settings, NOW - timedelta(minutes=1))  # 07:59: nothing
    assert (early.digests, early.charts, early.nudges, early.snapshots) == (0, 0, 0, 0)

    report = await plan_digests(db, settings, NOW)
    assert (report.digests, report.charts, report.nudges, report.snapshots) == (2, 1, 2, 1)
    again = await plan_digests(db, settings, NOW + timedelta(minutes=5))
    assert (again.digests, again.charts, again.nudges, again.snapshots) == (0, 0, 0, 0)

    async with db.session() as s:
        rows = {
            r.dedupe_key: r
            for r in await s.scalars(
                select(OutboxMessage).where(OutboxMessage.person_id.in_(ids.values()))
            )
        }
        attachment = await s.scalar(select(OutboxAttachment))
        snapshots = list(await s.scalars(select(RollupSnapshot).order_by(RollupSnapshot.day)))
    olu = rows[f"digest:2026-03-12:{ids['olu']}"]
    assert (olu.channel, olu.to_address, olu.kind, olu.not_before) == (
        "telegram",
        "700100",
        "system",
        NOW,
    )
    assert olu.body.startswith(
        "Leicester Citizens turnout, Thu 12 Mar\nLeicester Citizens turnout digest"
    )
    chart = rows[f"digest:2026-03-12:{ids['olu']}:chart:{action.id}"]
    assert chart.body == "Accountability Assembly: committed vs confirmed, Thu 12 Mar"
    assert attachment is not None and attachment.outbox_id == chart.id
    assert attachment.content_type == "image/png" and attachment.data.startswith(PNG)
    pam = rows[f"digest:2026-03-12:{ids['pam']}"]
    assert pam.channel == "sms" and "8/65 confirmed (+6)" in pam.body
    assert not any(k.startswith(f"digest:2026-03-12:{ids['pam']}:chart") for k in rows)

    pat = rows[f"nudge:2026-03-12:2:{ids['pat']}"]
    quinn = rows[f"nudge:2026-03-12:1:{ids['quinn']}"]
    assert pat.body == (
        "Al-Noor Mosque, Accountability Assembly on Thu 19 Mar 18:00: committed 25, yes 2 (+0), "
        "maybe 0, not replied 2. Text COUNT for more."
    )
    assert "St Mary" not in pat.body and "Highfields" not in pat.body
    assert quinn.body.startswith("St Mary's Church,") and "Al-Noor" not in quinn.body
    # Leaders are residents too: quiet hours hold the nudge until 09:00.
    assert (pat.kind, pat.not_before) == ("bulk", NOW + timedelta(hours=1))
    assert [(sn.day.isoformat(), sn.action_id) for sn in snapshots] == [
        ("2026-03-11", action.id),
        ("2026-03-12", action.id),
    ]

    # The next morning: a new digest, compared with this morning's snapshot.
    async with db.session() as s:
        kit = await s.scalar(select(Invitation).where(Invitation.person_id == 11))
        assert kit is not None
        kit.response, kit.responded_at = "yes", NOW + timedelta(hours=3)
    tomorrow = NOW + timedelta(days=1)
    assert (await plan_digests(db, settings, tomorrow)).digests == 2
    async with db.session() as s:
        digest = await build_digest(s, settings, tomorrow)
        count = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like("digest:2026-03-13:%"))
        )
    assert count == 3  # two digests and Olu's chart
    school = next(r for r in digest.actions[0].rollup.rows if r.institution == "Highfields Primary")
    assert digest.actions[0].change_for(school) == 1 and digest.actions[0].since == NOW.date()


async def test_a_digest_missed_for_more_than_twelve_hours_waits_for_the_next_day(
    db: Database, settings: Settings
) -> None:
    await build(db)
    await organisers_and_leaders(db)
    report = await plan_digests(db, settings, NOW + timedelta(hours=13))  # 21:00
    assert (report.digests, report.nudges) == (0, 0)

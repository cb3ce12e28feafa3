"""The per-institution rollup: committed vs confirmed vs attended."""

from __future__ import annotations

from datetime import timedelta

from bot.cli.actions import rollup_table
from config.clock import FakeClock
from storage.commitments import set_commitment
from storage.db import Database
from storage.models import Attendance, Headcount, Membership
from storage.rollup import NO_INSTITUTION, action_rollup
from tests import factories as f


async def test_it_counts_each_institution_the_no_institution_row_and_unique_people(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Noor Mosque", now)
        quiet = await f.institution(s, "Judgemeadow Community College", now, kind="school")
        action = await f.action(s, now)
        other = await f.action(s, now, slug="training", title="Leaders training")
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary, role="leader")
        bilal = await f.person(s, "Bilal Khan", 2, now, institution=mosque)
        cara = await f.person(s, "Cara Jones", 3, now, institution=mary)
        dev = await f.person(s, "Dev Mistry", 4, now, institution=mary)
        eve = await f.person(s, "Eve Walsh", 5, now)  # no institution
        walk_in = await f.person(s, "Femi Ade", 6, now)  # no institution, not invited
        # Ann belongs to both the church and the mosque: counted in both rows, once in unique.
        s.add(Membership(person_id=ann.id, institution_id=mosque.id, role="member", created_at=now))
        invs = {p.id: await f.invite(s, action, p, now) for p in (ann, bilal, cara, dev, eve)}
        other_inv = await f.invite(s, other, bilal, now)
        for person, response, guests in (
            (ann, "yes", 2),
            (bilal, "maybe", 0),
            (cara, "no", 0),
            (eve, "yes", 1),
        ):
            invs[person.id].response = response
            invs[person.id].guests = guests
        other_inv.response = "yes"  # another action: must not leak in
        await set_commitment(
            s,
            action_id=action.id,
            institution_id=mary.id,
            number=40,
            set_by_id=ann.id,
            channel="sms",
            now=now,
        )
        await set_commitment(
            s,
            action_id=action.id,
            institution_id=mary.id,
            number=45,
            set_by_id=ann.id,
            channel="sms",
            now=now + timedelta(hours=1),
        )
        for person in (ann, walk_in):
            s.add(Attendance(action_id=action.id, person_id=person.id, source="checkin", at=now))
        # A leader's headcounts on the day: the latest one counts, kept apart from check-ins.
        for number in (30, 37):
            s.add(
                Headcount(
                    action_id=action.id,
                    institution_id=mary.id,
                    number=number,
                    recorded_by_id=ann.id,
                    channel="telegram",
                    at=now,
                )
            )
        await s.flush()
        rollup = await action_rollup(s, action)

    by_name = {r.institution: r for r in rollup.rows}
    assert list(by_name) == ["Al-Noor Mosque", "Judgemeadow Community College", "St Mary's Church"]
    church = rollup.row_for(mary.id)
    assert (church.committed, church.yes, church.guests, church.no, church.not_replied) == (
        45,
        1,
        2,
        1,
        1,
    )
    assert church.attended == 1 and church.headcount == 37
    assert church.confirmed == 3 and church.gap == 42
    mosque_row = rollup.row_for(mosque.id)
    assert (mosque_row.yes, mosque_row.maybe, mosque_row.committed, mosque_row.gap) == (
        1,
        1,
        None,
        None,
    )
    idle = rollup.row_for(quiet.id)
    assert idle.invited == 0 and idle.attended == 0
    loose = rollup.no_institution
    assert loose.institution == NO_INSTITUTION
    assert (loose.yes, loose.guests, loose.attended) == (1, 1, 1)
    # Ann counts in two rows (her yes and her attendance); unique counts her once.
    assert rollup.totals.yes == 3 and rollup.unique_yes == 2
    assert rollup.totals.attended == 3 and rollup.unique_attended == 2
    assert rollup.totals.committed == 45
    assert rollup.totals.headcount == 37 and rollup.row_for(mosque.id).headcount is None


async def test_a_leaders_view_has_only_their_institution(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        await f.institution(s, "Al-Noor Mosque", now)
        action = await f.action(s, now)
        rollup = await action_rollup(s, action, institution_id=mary.id)
    assert [r.institution for r in rollup.rows] == ["St Mary's Church"]


async def test_the_total_gap_is_the_sum_of_shortfalls_and_unique_people_sit_beside_it(
    db: Database, clock: FakeClock
) -> None:
    """St Mary's is 3 ahead of its pledge and the mosque 8 behind: the total gap is 8, not the
    net 5 that would hide the mosque. Ann, in both, counts in both rows and once in unique."""
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Noor Mosque", now)
        action = await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary, role="leader")
        s.add(Membership(person_id=ann.id, institution_id=mosque.id, role="member", created_at=now))
        people = [ann] + [
            await f.person(s, name, n, now, institution=mary)
            for n, name in ((2, "Bilal Khan"), (3, "Cara Jones"))
        ]
        people.append(await f.person(s, "Dev Mistry", 4, now, institution=mosque))
        for p, (response, guests) in zip(
            people, [("yes", 1), ("yes", 0), ("yes", 1), ("maybe", 0)], strict=True
        ):
            inv = await f.invite(s, action, p, now)
            inv.response, inv.guests = response, guests
        for inst, number in ((mary, 2), (mosque, 10)):
            await set_commitment(
                s,
                action_id=action.id,
                institution_id=inst.id,
                number=number,
                set_by_id=ann.id,
                channel="sms",
                now=now,
            )
        await s.flush()
        rollup = await action_rollup(s, action)

    church, mosque_row = rollup.row_for(mary.id), rollup.row_for(mosque.id)
    assert (church.confirmed, church.gap) == (5, -3)  # per institution: as before
    assert (mosque_row.confirmed, mosque_row.gap) == (2, 8)
    totals = rollup.totals
    assert (totals.committed, totals.yes, totals.confirmed, totals.maybe) == (12, 4, 7, 1)
    assert totals.gap == 8
    unique = rollup.unique
    assert (unique.institution, unique.yes, unique.guests, unique.confirmed) == (
        "Unique people",
        3,
        2,
        5,
    )
    assert (unique.maybe, unique.no, unique.not_replied, unique.committed, unique.gap) == (
        1,
        0,
        0,
        None,
        None,
    )

    lines = rollup_table(rollup).splitlines()
    assert lines[0].split() == [
        "institution",
        "committed",
        "yes",
        "+guests",
        "confirmed",
        "maybe",
        "no",
        "not",
        "replied",
        "attended",
        "counted",
        "gap",
    ]
    total = next(line for line in lines if line.startswith("Total"))
    assert total.split()[1:] == ["12", "4", "3", "7", "1", "0", "0", "0", "-", "8"]
    beside = lines[lines.index(total) + 1]
    assert beside.split()[2:] == ["-", "3", "2", "5", "1", "0", "0", "0", "-", "-"]
    assert " ".join(lines[-3:]) == (
        "Total adds up the rows: a person in two institutions counts in both; Unique people "
        "counts each person once. The total gap is the sum of the shortfalls of institutions "
        "behind their pledge."
    )


async def test_with_no_pledge_anywhere_the_total_gap_is_blank(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.institution(s, "St Mary's Church", now)
        rollup = await action_rollup(s, await f.action(s, now))
    assert (rollup.totals.committed, rollup.totals.gap) == (0, None)

"""A small alliance on Telegram for tests: two institutions with linked groups, an organiser,
a leader of each, a member, and a stranger nobody has linked; one action under way soon, with
invitations. Phones are in Ofcom's drama range; Telegram ids are made up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from config.clock import FakeClock
from storage.db import Database
from storage.models import Action, Institution, Person
from storage.telegram import link_group
from tests import factories as f
from tests.fakes.telegram_updates import group, private, user

GROUP_A = -1001
GROUP_B = -1002


@dataclass
class World:
    mary: Institution
    mosque: Institution
    action: Action
    people: dict[str, Person]
    users: dict[str, dict[str, Any]]

    def dm(self, who: str) -> dict[str, Any]:
        return private(self.users[who])

    @property
    def group_a(self) -> dict[str, Any]:
        return group(GROUP_A, "St Mary's leaders and members")

    @property
    def group_b(self) -> dict[str, Any]:
        return group(GROUP_B, "Al-Madina Mosque")


ROLES = {
    # key: (name, phone n, telegram id, institution, role)
    "organiser": ("Olu Adeyemi", 1, 9001, "mary", "organiser"),
    "leader_a": ("Grace Okafor", 2, 9002, "mary", "leader"),
    "leader_b": ("Imran Hussain", 3, 9003, "mosque", "leader"),
    "member": ("Ann Patel", 4, 9004, "mary", "member"),
}


async def build_world(
    db: Database, clock: FakeClock, *, starts_in: timedelta = timedelta(hours=1)
) -> World:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Madina Mosque", now)
        insts = {"mary": mary, "mosque": mosque}
        action = await f.action(s, now, starts_in=starts_in)
        people: dict[str, Person] = {}
        users: dict[str, dict[str, Any]] = {}
        for key, (name, n, uid, inst, role) in ROLES.items():
            p = await f.person(s, name, n, now, institution=insts[inst], role=role)
            p.telegram_user_id = uid
            people[key] = p
            first, last = name.split()
            users[key] = user(uid, first, last)
        users["stranger"] = user(9005, "Sam", "Stranger")
        # Invited and not replied: two at St Mary's (one imported with a number for a name),
        # one at the mosque.
        people["bola"] = await f.person(s, "Bola Ade", 10, now, institution=mary)
        people["numbername"] = await f.person(s, "+447700900011", 11, now, institution=mary)
        people["yusuf"] = await f.person(s, "Yusuf Khan", 12, now, institution=mosque)
        for p in people.values():
            await f.invite(s, action, p, now)
        await link_group(
            s,
            chat_id=GROUP_A,
            institution_id=mary.id,
            title="St Mary's",
            language="en",
            user_id=9001,
            now=now,
        )
        await link_group(
            s,
            chat_id=GROUP_B,
            institution_id=mosque.id,
            title="Mosque",
            language="en",
            user_id=9001,
            now=now,
        )
    return World(mary, mosque, action, people, users)

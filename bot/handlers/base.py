"""What every handler receives and returns. Handlers never know which provider a message came
from: they get a person, the stored inbound row, the time, and a session; they return drafts
(template + placeholders) that the pipeline writes to the outbox as replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from config.messages import format_when
from storage.models import Action, InboundMessage, Person
from storage.outbox import Draft


@dataclass
class Context:
    session: AsyncSession
    person: Person
    inbound: InboundMessage
    now: datetime
    alliance: str
    # True when this message created the person (a number we did not know).
    new_person: bool = False
    drafts: list[Draft] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return self.inbound.channel

    def reply(self, template: str, **params: object) -> None:
        self.drafts.append(Draft(template, params))

    def when(self, action: Action) -> str:
        return format_when(action.starts_at, self.person.language, self.person.timezone)

    @property
    def first_name(self) -> str:
        return (self.person.name.split() or ["there"])[0]

"""What every handler receives and gives back.

A handler gets a :class:`Context`: who is speaking (a person, or nobody we know: a Telegram user
not linked yet), through which channel, in which place (a private conversation, or a Telegram
group and the institution it is linked to), in which language, at what time, and the session;
and, from the router, the state it decided on (:attr:`Context.state`: what is open for the
person, read once). It never knows which provider a message came from.

It answers with :meth:`Context.reply`: neutral :class:`Reply` values (a template and its
placeholders, and optionally buttons, an attachment, or an RSVP card to post or to edit in
place), which the channel renders: the inbound pipeline writes words (SMS as TwiML: buttons
dropped, the SMS wording says "reply YES"), the Telegram adapter text with inline keyboards,
cards and photos (bot/telegram/render.py). Where a channel words a message differently (a
command with a slash, a table on several lines) the template is the channel's
(config.messages.channel_template); the handler names the meaning once.

A tap on a button is acknowledged where it was tapped (:meth:`Context.acknowledge`: Telegram's
answer to the callback query).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from config.messages import channel_template, format_when, render
from config.settings import Settings
from storage.conversation import OpenState
from storage.models import Action, InboundMessage, Institution, Person
from storage.roles import NOBODY, Roles, roles_of


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (the digest chart): a photo with the text as its caption
    where the channel shows pictures; dropped where it does not."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RsvpButtons:
    """Yes / Maybe / No / +1 guest, answering ``action_id`` (on a card: the card's action)."""

    action_id: int


@dataclass(frozen=True)
class ContactButton:
    """ "Share my phone number": how someone we do not know links their account."""


Buttons = RsvpButtons | ContactButton


@dataclass(frozen=True)
class Card:
    """An RSVP card for an institution's group: ``card_id`` None posts a new one; otherwise the
    card already posted is edited in place (its counts changed)."""

    action_id: int
    institution_id: int
    card_id: int | None = None


@dataclass(frozen=True)
class Reply:
    template: str
    params: Mapping[str, Any]
    buttons: Buttons | None = None
    attachment: Attachment | None = None
    card: Card | None = None


@dataclass(frozen=True)
class Group:
    """A Telegram group: the institution it is linked to fixes the institution a command is
    about and the audience (names only, nothing personal); None while it is not linked."""

    chat_id: int
    institution: Institution | None
    language: str


@dataclass
class Context:
    session: AsyncSession
    person: Person | None  # None: nobody we know (Telegram, not linked)
    channel: str  # sms | telegram
    now: datetime
    settings: Settings
    group: Group | None = None  # None: a private conversation
    # The message as stored by the inbound pipeline (store first); None for a Telegram command
    # answered in its turn (the update itself is stored).
    inbound: InboundMessage | None = None
    # True when this message created the person (a number we did not know).
    new_person: bool = False
    # The channel shows tables and pictures (Telegram), or short words only (SMS).
    rich: bool = False
    # A link that opens a private chat with the bot (Telegram), with a /start payload.
    deep_link: Callable[[str], str] | None = None
    replies: list[Reply] = field(default_factory=list)
    ack: Reply | None = None
    # What is open for the person, as the router read it (for the intents that need it).
    state: OpenState | None = None
    _roles: Roles | None = None

    # -- who, where -----------------------------------------------------------------------

    @property
    def me(self) -> Person:
        """The person speaking; the handlers that need one are only run with one."""
        assert self.person is not None, "this handler needs a known person"
        return self.person

    @property
    def first_name(self) -> str:
        name = self.person.name if self.person is not None else ""
        return (name.split() or ["there"])[0]

    @property
    def alliance(self) -> str:
        return self.settings.alliance_name

    @property
    def language(self) -> str:
        if self.group is not None:
            return self.group.language
        if self.person is not None:
            return self.person.language
        return self.settings.default_language

    @property
    def timezone(self) -> str:
        if self.group is None and self.person is not None:
            return self.person.timezone
        return self.settings.default_timezone

    @property
    def open(self) -> OpenState:
        """The router's read of what is open (for the handlers that need it)."""
        assert self.state is not None, "the router reads the open state for this intent"
        return self.state

    async def roles(self) -> Roles:
        """Who leads what, for this person (storage.roles), read once per message."""
        if self._roles is None:
            self._roles = await roles_of(self.session, self.person) if self.person else NOBODY
        return self._roles

    def link(self, payload: str = "link") -> str:
        return self.deep_link(payload) if self.deep_link is not None else ""

    # -- answering ------------------------------------------------------------------------

    def reply(
        self,
        template: str,
        *,
        buttons: Buttons | None = None,
        attachment: Attachment | None = None,
        card: Card | None = None,
        **params: Any,
    ) -> None:
        self.replies.append(Reply(template, params, buttons, attachment, card))

    def acknowledge(self, template: str, **params: Any) -> None:
        """A short answer where a button was tapped (never a message of its own)."""
        self.ack = Reply(template, params)

    def keep_for_organiser(self) -> None:
        """The message lands in the organiser inbox."""
        if self.inbound is not None:
            self.inbound.inbox_status = "open"

    def text(self, template: str, **params: Any) -> str:
        """A template in this conversation's language and channel's wording (a line of a list,
        a button's label)."""
        key = channel_template(template, self.channel)
        return render(key, self.language, alliance=self.alliance, **params)

    def when(self, action: Action) -> str:
        return format_when(action.starts_at, self.language, self.timezone)

    def command(self, word: str) -> str:
        """How this channel spells a command in an example: ``/commit`` or ``COMMIT``."""
        return f"/{word}" if self.channel == "telegram" else word.upper()


def unknown_caller(ctx: Context) -> None:
    """Someone we do not know (Telegram, not linked) asked for something that needs a person:
    in private, the way to link (share their number); in a group, a link to a private chat."""
    if ctx.group is not None:
        ctx.reply("tg_who_are_you", link=ctx.link())
    else:
        ctx.reply("tg_welcome", buttons=ContactButton())

"""All tables. Each domain area has its own module; importing this package registers them all
on ``Base.metadata`` (which Alembic compares against the migrations)."""

from storage.models.base import Base, UTCDateTime
from storage.models.core import (
    ACTION_KINDS,
    CONSENT_STATES,
    INSTITUTION_KINDS,
    INSTITUTION_STATUSES,
    OUTBOX_STATUSES,
    RESPONSES,
    ROLES,
    Action,
    Attendance,
    Commitment,
    CommitmentEvent,
    DeliveryEvent,
    InboundMessage,
    Institution,
    Invitation,
    Membership,
    OutboxMessage,
    Person,
    RsvpEvent,
)

__all__ = [
    "ACTION_KINDS",
    "CONSENT_STATES",
    "INSTITUTION_KINDS",
    "INSTITUTION_STATUSES",
    "OUTBOX_STATUSES",
    "RESPONSES",
    "ROLES",
    "Action",
    "Attendance",
    "Base",
    "Commitment",
    "CommitmentEvent",
    "DeliveryEvent",
    "InboundMessage",
    "Institution",
    "Invitation",
    "Membership",
    "OutboxMessage",
    "Person",
    "RsvpEvent",
    "UTCDateTime",
]

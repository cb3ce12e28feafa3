"""Worker heartbeats: which workers are alive, and which one leads
(scheduler/delivery/worker.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class WorkerHeartbeat(Base):
    """One row per running worker, written every few seconds with the worker's clock and
    deleted when it stops; rows of workers that died are pruned after a while. /readyz asks
    whether any is recent; /metrics shows how long ago each was seen."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    leader: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime]
    last_seen: Mapped[datetime]

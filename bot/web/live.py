"""Live numbers over server-sent events: a small hub that is state-based, not event-based.

A *topic* is ``kind:argument`` (``today:``, ``action:42``); a page module registers a
:class:`Feed` per kind: a cheap ``version(argument)`` query and a ``snapshot(argument, scope)``
that renders the current state for a viewer's scope. Subscribers never receive events, only the
latest state: on connecting (so a page that reconnects catches up at once), and again whenever
the version has changed. Intermediate states are skipped, never queued.

One poller per topic per process, shared by every open page: it asks for the version every
``interval`` seconds, or at once when poked (``hub.poke()``, e.g. by the inbound pipeline after
a commit, so the webhook's own process is instant; changes made in another process arrive
through the poll). A snapshot is rendered once per version and scope, however many pages
watch it. The poller stops when its last subscriber leaves.

``stream(request, hub, topic, scope)`` serves a topic as ``text/event-stream`` (aiohttp-sse):
one ``snapshot`` event per state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

log = logging.getLogger(__name__)

Scope = frozenset[int] | None  # None: the whole alliance (an organiser)
DEFAULT_INTERVAL = 0.5


@dataclass(frozen=True)
class Feed:
    version: Callable[[str], Coroutine[Any, Any, Hashable]]
    snapshot: Callable[[str, Scope], Coroutine[Any, Any, str]]


@dataclass
class _Topic:
    name: str
    feed: Feed
    argument: str
    version: Hashable = None
    serial: int = 0  # bumped on every change of version
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: int = 0
    poller: asyncio.Task[None] | None = None
    ready: asyncio.Future[None] | None = None
    cache: dict[Scope, tuple[int, asyncio.Task[str]]] = field(default_factory=dict)


class LiveHub:
    def __init__(self, *, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self._feeds: dict[str, Feed] = {}
        self._topics: dict[str, _Topic] = {}
        self._closed = False

    def add_feed(self, kind: str, feed: Feed) -> None:
        self._feeds[kind] = feed

    def poke(self, topic: str | None = None) -> None:
        """Check now (one topic, or every open one) instead of at the next poll."""
        for name, t in self._topics.items():
            if topic is None or name == topic:
                t.wake.set()

    def poke_all(self) -> None:
        self.poke()

    @property
    def pollers(self) -> int:
        """Running pollers (one per watched topic)."""
        return sum(1 for t in self._topics.values() if t.poller is not None)

    async def watch(self, topic: str, scope: Scope) -> AsyncGenerator[str]:
        """The topic's state for ``scope`` now, then each time it changes, until the hub
        closes (or the caller stops iterating)."""
        t = await self._join(topic)
        try:
            seen = -1
            while not self._closed:
                if t.serial == seen:
                    await t.changed.wait()
                    continue
                seen = t.serial
                yield await self._snapshot(t, scope)
        finally:
            self._leave(t)

    async def close(self) -> None:
        """Stop every poller and end every watcher (server shutdown)."""
        self._closed = True
        for t in list(self._topics.values()):
            t.changed.set()
            if t.poller is not None:
                t.poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t.poller
                t.poller = None

    # -- inside ---------------------------------------------------------------------------

    async def _join(self, name: str) -> _Topic:
        if self._closed:
            raise RuntimeError("the live hub is closed")
        kind, _, argument = name.partition(":")
        feed = self._feeds.get(kind)
        if feed is None:
            raise KeyError(f"no live feed for {name!r}")
        t = self._topics.get(name)
        if t is None:
            t = self._topics[name] = _Topic(name, feed, argument)
        t.subscribers += 1
        if t.poller is None:
            t.ready = asyncio.get_running_loop().create_future()
            t.poller = asyncio.create_task(self._poll(t), name=f"live:{name}")
        assert t.ready is not None
        try:
            # The first version is read before the first snapshot: no change falls between.
            await asyncio.shield(t.ready)
        except BaseException:
            self._leave(t)
            raise
        return t

    def _leave(self, t: _Topic) -> None:
        t.subscribers -= 1
        if t.subscribers > 0:
            return
        if t.poller is not None:
            t.poller.cancel()
        self._topics.pop(t.name, None)
        for _, task in t.cache.values():
            task.cancel()

    async def _poll(self, t: _Topic) -> None:
        first = True
        while True:
            try:
                version = await t.feed.version(t.argument)
            except Exception:
                log.exception("live topic %s: version query failed", t.name)
                version = t.version
            if first:
                t.version = version
                first = False
                assert t.ready is not None
                if not t.ready.done():
                    t.ready.set_result(None)
            elif version != t.version:
                t.version = version
                t.serial += 1
                changed, t.changed = t.changed, asyncio.Event()
                changed.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(t.wake.wait(), self.interval)
            t.wake.clear()

    async def _snapshot(self, t: _Topic, scope: Scope) -> str:
        cached = t.cache.get(scope)
        if cached is None or cached[0] != t.serial:
            task = asyncio.create_task(t.feed.snapshot(t.argument, scope))
            cached = t.cache[scope] = (t.serial, task)
        return await asyncio.shield(cached[1])


async def stream(
    request: web.Request, hub: LiveHub, topic: str, scope: Scope, *, event: str = "snapshot"
) -> web.StreamResponse:
    """Serve ``topic`` to one EventSource until the client goes or the hub closes."""
    async with sse_response(request) as response:
        states = hub.watch(topic, scope)

        async def pump() -> None:
            async for state in states:
                await response.send(state, event=event)

        sending = asyncio.create_task(pump())
        gone = asyncio.create_task(response.wait())
        try:
            await asyncio.wait({sending, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sending, gone):
                task.cancel()
            for task in (sending, gone):
                with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                    await task
            await states.aclose()
            if sending.done() and not sending.cancelled() and sending.exception() is not None:
                log.warning("live topic %s: stream ended: %s", topic, sending.exception())
    return response

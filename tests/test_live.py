"""The live hub: state, not events. One poller per topic shared by every watcher, a snapshot
rendered once per version and scope, a poke checks at once, a new watcher starts from the
current state, and the poller stops with its last watcher."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Hashable

from bot.web.live import Feed, LiveHub, Scope


class Numbers:
    """A fake feed: a version the test moves, snapshots that say what they were made from."""

    def __init__(self) -> None:
        self.version = 0
        self.version_reads = 0
        self.snapshots: Counter[tuple[str, Scope]] = Counter()

    async def read_version(self, argument: str) -> Hashable:
        self.version_reads += 1
        return (argument, self.version)

    async def snapshot(self, argument: str, scope: Scope) -> str:
        self.snapshots[(argument, scope)] += 1
        return f"{argument} v{self.version} {sorted(scope) if scope is not None else 'all'}"


def hub_with(numbers: Numbers, interval: float = 3600) -> LiveHub:
    hub = LiveHub(interval=interval)
    hub.add_feed("action", Feed(numbers.read_version, numbers.snapshot))
    return hub


async def take(states: AsyncGenerator[str]) -> str:
    return await asyncio.wait_for(anext(states), 5)


async def test_watchers_of_one_topic_share_one_poller_and_one_snapshot_per_version() -> None:
    numbers = Numbers()
    hub = hub_with(numbers)
    a, b = hub.watch("action:42", None), hub.watch("action:42", None)
    assert await take(a) == "42 v0 all"
    assert await take(b) == "42 v0 all"
    assert hub.pollers == 1
    numbers.version = 1
    hub.poke("action:42")
    assert (await take(a), await take(b)) == ("42 v1 all", "42 v1 all")
    assert numbers.snapshots[("42", None)] == 2  # v0 and v1, each rendered once
    await a.aclose()
    await b.aclose()
    assert hub.pollers == 0
    await hub.close()


async def test_each_scope_gets_its_own_snapshot() -> None:
    numbers = Numbers()
    hub = hub_with(numbers)
    leader, organiser = hub.watch("action:1", frozenset({3})), hub.watch("action:1", None)
    assert await take(leader) == "1 v0 [3]"
    assert await take(organiser) == "1 v0 all"
    await leader.aclose()
    await organiser.aclose()
    await hub.close()


async def test_a_poke_checks_at_once_and_an_unchanged_version_sends_nothing() -> None:
    numbers = Numbers()
    hub = hub_with(numbers)  # an hour between polls: only pokes move it
    states = hub.watch("action:7", None)
    await take(states)
    reads = numbers.version_reads
    hub.poke()  # nothing changed
    for _ in range(100):
        if numbers.version_reads > reads:
            break
        await asyncio.sleep(0)
    assert numbers.version_reads == reads + 1
    pending = asyncio.ensure_future(anext(states))
    await asyncio.sleep(0)
    assert not pending.done()
    numbers.version = 5
    hub.poke()
    assert await asyncio.wait_for(pending, 5) == "7 v5 all"
    await states.aclose()
    await hub.close()


async def test_changes_in_between_are_skipped_a_watcher_gets_the_latest_state() -> None:
    numbers = Numbers()
    hub = hub_with(numbers)
    states = hub.watch("action:9", None)
    await take(states)
    numbers.version = 1
    hub.poke()
    await asyncio.sleep(0.01)
    numbers.version = 2
    hub.poke()
    await asyncio.sleep(0.01)
    assert await take(states) == "9 v2 all"
    late = hub.watch("action:9", None)  # a page that reconnects starts from now
    assert await take(late) == "9 v2 all"
    await states.aclose()
    await late.aclose()
    await hub.close()


async def test_the_poll_finds_a_change_nobody_poked() -> None:
    numbers = Numbers()
    hub = hub_with(numbers, interval=0.01)
    states = hub.watch("action:3", None)
    await take(states)
    numbers.version = 8
    assert await take(states) == "3 v8 all"
    await states.aclose()
    await hub.close()


async def test_closing_the_hub_ends_every_watcher() -> None:
    numbers = Numbers()
    hub = hub_with(numbers)
    states = hub.watch("action:1", None)
    await take(states)
    pending = asyncio.ensure_future(anext(states))
    await asyncio.sleep(0)
    await hub.close()
    try:
        await asyncio.wait_for(pending, 5)
        raise AssertionError("the watcher should have ended")
    except StopAsyncIteration:
        pass
    assert hub.pollers == 0

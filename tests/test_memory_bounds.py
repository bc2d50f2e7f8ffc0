"""Bounded memory: every per-channel, per-user and per-conversation structure evicts or expires, and nothing
that is in use (a held lock, a running story session or trivia game) is ever dropped. Deterministic: fake
clocks, events instead of sleeps, real SQLite files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App, build_app
from bot.config import Settings
from bot.discord.channels import ChannelDirectory
from bot.discord.personas_out import UNAVAILABLE_RETRY_S, PersonaPoster
from bot.keyed import KeyedLocks
from bot.limits import SlidingWindow, TokenBuckets
from bot.story import StoryService
from bot.trivia.service import GameOptions, TriviaService
from db.chat.models import Memory
from personas.factbase import load_fact_base
from personas.story import load_story
from tests.clock import FakeClock

BASE = load_fact_base()


async def _app(tmp_path: Path, name: str, cache_size: int) -> App:
    return await build_app(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/{name}.db", chat_cache_size=cache_size)
    )


@pytest_asyncio.fixture
async def small_app(tmp_path: Path) -> AsyncIterator[App]:
    app = await _app(tmp_path, "small", 2)
    yield app
    await app.close()


# ---------------------------------------------------------------------------------------------- keyed locks


async def test_a_keyed_lock_serialises_one_key_under_eviction_pressure() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside: list[str] = []
    first_in, release_first = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with locks.hold("k"):
            inside.append("first in")
            first_in.set()
            await release_first.wait()
            inside.append("first out")

    async def second() -> None:
        async with locks.hold("k"):
            inside.append("second in")

    one = asyncio.create_task(first())
    await first_in.wait()
    two = asyncio.create_task(second())
    for _ in range(3):
        await asyncio.sleep(0)  # the second task is now waiting on the lock of "k"
    for number in range(10_000):  # thousands of other keys come and go meanwhile
        async with locks.hold(f"other-{number}"):
            pass
    assert len(locks) == 1 and locks.busy("k"), "only the held key keeps a lock"
    assert inside == ["first in"], "the waiting task did not get in"
    release_first.set()
    await asyncio.gather(one, two)
    assert inside == ["first in", "first out", "second in"]
    assert len(locks) == 0, "a lock nobody holds or waits for is gone"


async def test_a_lock_is_kept_while_a_task_waits_even_after_its_holder_left() -> None:
    locks: KeyedLocks[int] = KeyedLocks()
    holder_in, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with locks.hold(1):
            holder_in.set()
            await release.wait()

    async def waiter(name: str) -> None:
        async with locks.hold(1):
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    held = asyncio.create_task(holder())
    await holder_in.wait()
    waiters = [asyncio.create_task(waiter(name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(held, *waiters)
    assert order == ["a in", "a out", "b in", "b out", "c in", "c out"], "never two inside at once"
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_no_lock_behind() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    holder_in, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with locks.hold("k"):
            holder_in.set()
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("k"):
            raise AssertionError("a cancelled waiter never gets in")

    held = asyncio.create_task(holder())
    await holder_in.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await held
    assert len(locks) == 0


# ---------------------------------------------------------------------------------------------- rate limits


async def test_the_sliding_window_forgets_quiet_channels_and_caps_its_keys() -> None:
    clock = FakeClock()
    window = SlidingWindow(5, 5.0, clock=clock, max_keys=100)
    for channel in range(50):
        await window.wait(channel)
    assert len(window) == 50
    clock.advance(5.0)
    assert window.delay("new") == 0.0 and len(window) == 0, "a key whose last event is a period old is gone"
    for channel in range(1_000):
        await window.wait(channel)
    assert len(window) == 100, "at most max_keys, the least recently active dropped"
    for _ in range(4):
        await window.wait(999)
    assert window.delay(999) == 5.0, "the busiest key keeps its events and its limit"


def test_token_buckets_keep_the_recently_used_keys() -> None:
    buckets = TokenBuckets(1, 10.0, clock=FakeClock(), max_keys=2)
    assert buckets.take("a") and buckets.take("b")
    assert not buckets.take("a"), "a is used again, so b is now the least recent"
    assert buckets.take("c")
    assert not buckets.take("a"), "a was kept (still empty)"
    assert buckets.take("b"), "b was dropped, so it starts full again"


# ---------------------------------------------------------------------------------------------- chat


async def test_the_conversation_cache_is_an_lru(small_app: App) -> None:
    chat = small_app.chat
    await chat.reply("u:a", "channel:1", "hi", persona="john")
    await chat.reply("u:b", "channel:1", "hi", persona="john")
    await chat.reply("u:a", "channel:1", "hi again", persona="john")  # a is now the most recent
    await chat.reply("u:c", "channel:1", "hi", persona="john")
    assert chat.cached() == 2
    assert chat.is_cached("u:a", "channel:1", "john")
    assert not chat.is_cached("u:b", "channel:1", "john"), "the least recently used went"
    assert chat.is_cached("u:c", "channel:1", "john")


SCRIPT = (
    ("u:ann", "Who is Dyson?"),
    ("u:bob", "When is Judgment Day?"),
    ("u:cy", "hi"),
    ("u:ann", "what happened to him?"),
    ("u:bob", "and then?"),
    ("u:cy", "What is the T-1000 made of?"),
    ("u:ann", "why?"),
    ("u:bob", "tell me more"),
    ("u:ann", "and then?"),
    ("u:ann", "tell me more"),
)


async def test_an_evicted_conversation_is_reloaded_with_its_memory(tmp_path: Path) -> None:
    """The same turns give the same replies whether conversations stay cached or are evicted between turns."""
    replies: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    for size in (1, 100):
        app = await _app(tmp_path, f"size{size}", size)
        try:
            replies[size] = []
            for user, text in SCRIPT:
                reply = await app.chat.reply(user, "channel:1", text, persona="sarah")
                replies[size].append((reply.text, reply.fact_ids))
            assert app.chat.cached() == min(size, 3)
            async with app.sessions() as session:
                turns = sorted((await session.scalars(select(Memory.turn))).all())
            assert turns == [2, 3, 5], "every turn's memory was stored"
        finally:
            await app.close()
    assert replies[1] == replies[100]
    assert replies[1][3][1], "the follow-up 'what happened to him?' was answered from the reloaded memory"


async def test_concurrent_turns_of_one_conversation_stay_in_order_while_the_cache_churns(small_app: App) -> None:
    chat = small_app.chat
    same = [chat.reply("u:ann", "channel:1", f"hi {n}", persona="john") for n in range(6)]
    others = [chat.reply(f"u:{n}", "channel:2", "hi", persona="john") for n in range(20)]
    await asyncio.gather(*same, *others)
    async with small_app.sessions() as session:
        turns = sorted((await session.scalars(select(Memory.turn))).all())
    assert turns == [1] * 20 + [6], "six turns of one conversation, none lost or run alongside another"
    assert chat.cached() <= 2


async def test_remembered_ids_are_one_object_however_many_conversations_hold_them(small_app: App) -> None:
    """Cached memories hold the fact ids and line keys they share with other conversations, not copies of them:
    a memory grows by a pointer per remembered id, whether it was read back from the database or built by a turn."""
    chat = small_app.chat
    users = ("u:a", "u:b", "u:c", "u:d")
    first = {}
    for user in users:  # with two conversations cached, each of these is evicted before its next turn
        first[user] = await chat.reply(user, "channel:1", "Who is Dyson?", persona="john")
    for user in users:
        await chat.reply(user, "channel:1", "When is Judgment Day?", persona="john")
    cached = [chat._cache[(user, "channel:1", "john")].memory for user in users[2:]]
    for user in users[:2]:  # read back from the database for this turn
        await chat.reply(user, "channel:1", "thanks", persona="john")
    reloaded = [chat._cache[(user, "channel:1", "john")].memory for user in users[:2]]
    memories = cached + reloaded
    for field in ("said_facts", "used_lines", "entities"):
        by_value: dict[str, set[int]] = {}
        for memory in memories:
            for item in getattr(memory, field):
                by_value.setdefault(item, set()).add(id(item))
        shared = {value for value, objects in by_value.items() if len(objects) == 1}
        assert by_value and shared == set(by_value), f"{field}: one string object per value"
    said = first[users[0]].fact_ids
    assert said and set(said) <= set(reloaded[0].said_facts), "the reloaded memory is the stored one"


async def test_default_personas_are_bounded_and_read_back(small_app: App) -> None:
    chat = small_app.chat
    await chat.set_default_persona("u:a", "sarah")
    for user in ("u:b", "u:c", "u:d"):
        await chat.set_default_persona(user, "t800")
    reply = await chat.reply("u:a", "channel:1", "hi")
    assert reply.persona.id == "sarah", "an evicted default is read back from the database"


# ---------------------------------------------------------------------------------------------- database


async def test_a_burst_of_first_messages_reads_over_a_few_connections(tmp_path: Path) -> None:
    """N + k users whose defaults are not cached, all at once: their reads share a query instead of taking a
    connection each, so the pool never opens connections beyond its size only to close them after the burst (each
    a thread and a SQLite connection made and dropped, which fragments the heap)."""
    app = await _app(tmp_path, "burst", 2)
    in_use = peak = 0
    closed: list[object] = []

    def checkout(*_: object) -> None:
        nonlocal in_use, peak
        in_use += 1
        peak = max(peak, in_use)

    def checkin(*_: object) -> None:
        nonlocal in_use
        in_use -= 1

    event.listen(app.engine.sync_engine, "checkout", checkout)
    event.listen(app.engine.sync_engine, "checkin", checkin)
    event.listen(app.engine.sync_engine, "close", lambda connection, _: closed.append(connection))
    try:
        users = [f"u:{number}" for number in range(60)]
        for user in users[::2]:
            await app.chat.set_default_persona(user, "sarah")
        for _ in range(2):  # the second time, the first burst's defaults are evicted (two cached)
            replies = await asyncio.gather(*(app.chat.reply(user, "channel:1", "hi") for user in users))
            assert [reply.persona.id for reply in replies] == ["sarah", "john"] * 30, "each user's own default"
        assert peak <= 3, "one read, one conversation opener, one turn writer at a time"
        assert closed == [], "no connection opened for the burst and closed after it"
    finally:
        await app.close()


# ---------------------------------------------------------------------------------------------- discord caches


async def test_channel_settings_are_an_lru(sessions: async_sessionmaker[AsyncSession]) -> None:
    directory = ChannelDirectory(sessions, max_channels=2)
    await directory.set_auto_persona(1, 9, "sarah")
    await directory.get(2)
    await directory.get(1)
    await directory.get(3)
    assert directory.is_cached(1) and directory.is_cached(3) and not directory.is_cached(2)
    await directory.get(2)
    assert not directory.is_cached(1)
    assert (await directory.get(1)).auto_persona == "sarah", "read back from the database"


def test_the_poster_bounds_webhooks_and_expires_refusals() -> None:
    clock = FakeClock()
    poster = PersonaPoster(client=None, channels=None, max_channels=3, clock=clock)  # type: ignore[arg-type]
    for channel in range(10):
        poster._webhooks[channel] = object()  # type: ignore[assignment]
        poster._mark_unavailable(channel)
    assert sorted(poster._webhooks) == [7, 8, 9]
    assert len(poster._unavailable) == 3
    clock.advance(UNAVAILABLE_RETRY_S - 1)
    assert 9 in poster._unavailable
    clock.advance(1)
    assert 9 not in poster._unavailable, "a refused channel is tried again after the retry period"
    assert len(poster._locks) == 0


# ---------------------------------------------------------------------------------------------- games


async def test_a_running_story_session_is_never_dropped(sessions: async_sessionmaker[AsyncSession]) -> None:
    service = StoryService(sessions, asyncio.Lock(), load_story(BASE), BASE, clock=FakeClock())
    opened = await service.open_lobby("channel:keep", "u:host", turn_order="list")
    await service.join(opened.session_id, "u:host", "host", "john")
    await service.begin(opened.session_id, "u:host")
    for number in range(30):  # many other sessions open and end around it
        scope = f"channel:{number}"
        other = await service.open_lobby(scope, f"u:{number}", turn_order="list")
        await service.join(other.session_id, f"u:{number}", "p", "sarah")
        await service.end(scope, f"u:{number}")
    store: Any = service._store
    assert store.held_locks() == 0, "no lock outlives its use"
    assert [row.scope for row in store.rows()] == ["channel:keep"], "ended sessions are dropped, the running one kept"
    running = await service.session_in("channel:keep")
    assert running is not None and running.id == opened.session_id
    option = load_story(BASE).scene(1).decision.options[0].id
    chosen = await service.choose(opened.session_id, 1, "u:host", option)
    assert chosen.posts, "the kept session goes on"


async def test_a_running_trivia_game_is_never_dropped(sessions: async_sessionmaker[AsyncSession]) -> None:
    service = TriviaService(sessions, BASE, clock=FakeClock())
    await service.start(1, 7, "u:ann", GameOptions(questions=3), seed=1)
    for channel in range(2, 32):  # many other games start and stop around it
        await service.start(channel, 7, "u:bob", GameOptions(questions=1), seed=channel)
        await service.stop(channel, "u:bob")
    assert service.is_playing(1) and service.running() == 1

"""The repositories and the group-commit TurnWriter on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.batching import Batcher
from db.chat import (
    ChannelRepository,
    ConversationRepository,
    DuplicateMessageError,
    TurnRecord,
    UserRepository,
)
from db.chat.models import ChannelSettings, Conversation, Memory, Message, User
from db.common import StaleWrite, StorageError
from db.engine import create_engine, create_session_factory
from db.outbox import NewPost, OutboxRepository
from db.outbox.models import OutboxPost
from db.turn_writer import TurnWriter

SNOWFLAKE = 1_234_567_890_123_456_789
MAX_BIGINT = 2**63 - 1

Sessions = async_sessionmaker[AsyncSession]


async def count(sessions: Sessions, model: Any, *where: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def conversation(sessions: Sessions, external_id: str, scope: str = "dm", persona: str = "john") -> int:
    async with sessions.begin() as session:
        return (await ConversationRepository(session).load_or_create(external_id, scope, persona)).conversation_id


def turn(
    conversation_id: int,
    number: int,
    *,
    persona: str = "john",
    discord_message_id: int | None = None,
    user_text: str | None = None,
    reply_text: str | None = None,
    fact_ids: Sequence[str] = ("mall.t1000", "road.truck"),
) -> TurnRecord:
    return TurnRecord(
        conversation_id=conversation_id,
        persona=persona,
        user_text=f"question {number}" if user_text is None else user_text,
        reply_text=f"answer {number}" if reply_text is None else reply_text,
        fact_ids=fact_ids,
        turn=number,
        memory={"entities": ["t1000", f"e{number}"], "turn": number, "nested": {"facts": list(fact_ids)}},
        discord_message_id=discord_message_id,
    )


async def write(sessions: Sessions, *turns: TurnRecord) -> None:
    async with sessions.begin() as session:
        await ConversationRepository(session).write_turns(list(turns))


# --- users -----------------------------------------------------------------------------------------------


async def test_ensure_is_idempotent(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        users = UserRepository(session)
        first = await users.ensure("discord:1")
        assert await users.ensure("discord:1") == first
        other = await users.ensure("discord:2")
    async with sessions.begin() as session:
        assert await UserRepository(session).ensure("discord:1") == first
    assert other != first
    assert await count(sessions, User) == 2
    assert await count(sessions, User, User.external_id == "discord:1") == 1


class _InsertBarrierSession(AsyncSession):
    """A session whose INSERTs wait until every racing session has reached its INSERT.

    ``ensure`` selects, then inserts when nothing was found: holding the INSERTs at a barrier makes every
    session miss the row in its SELECT and then insert it at the same time, the race ``ensure`` must survive.
    """

    barrier: asyncio.Barrier

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(statement, "is_insert", False):
            await asyncio.wait_for(self.barrier.wait(), timeout=10)
        return await super().execute(statement, *args, **kwargs)


@pytest.mark.parametrize("racers", [2, 4])
async def test_concurrent_ensure_of_the_same_user_does_not_fail(migrated_engine: AsyncEngine, racers: int) -> None:
    _InsertBarrierSession.barrier = asyncio.Barrier(racers)
    racing = async_sessionmaker(migrated_engine, class_=_InsertBarrierSession, expire_on_commit=False)

    async def ensure() -> int:
        async with racing.begin() as session:
            return await UserRepository(session).ensure("discord:42")

    ids = await asyncio.wait_for(asyncio.gather(*(ensure() for _ in range(racers))), timeout=30)

    assert len(set(ids)) == 1
    sessions = create_session_factory(migrated_engine)
    assert await count(sessions, User, User.external_id == "discord:42") == 1
    async with sessions() as session:
        assert await session.scalar(select(User.id).where(User.external_id == "discord:42")) == ids[0]


async def test_default_persona_is_remembered(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        users = UserRepository(session)
        assert await users.default_persona("discord:7") is None
        await users.set_default_persona("discord:7", "t800")
        await users.set_default_persona("discord:7", "sarah")
    async with sessions() as session:
        assert await UserRepository(session).default_persona("discord:7") == "sarah"
    assert await count(sessions, User) == 1


# --- conversations -----------------------------------------------------------------------------------------


async def test_load_or_create_creates_user_conversation_and_memory_once(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        conversations = ConversationRepository(session)
        assert await conversations.load("local:ann", "console", "john") is None
        state = await conversations.load_or_create("local:ann", "console", "john")
        again = await conversations.load_or_create("local:ann", "console", "john")
    async with sessions.begin() as session:
        later = await ConversationRepository(session).load_or_create("local:ann", "console", "john")
        loaded = await ConversationRepository(session).load("local:ann", "console", "john")

    assert (state.turn, state.memory) == (0, {})
    assert again == later == loaded == state
    assert await count(sessions, User) == 1
    assert await count(sessions, Conversation) == 1
    assert await count(sessions, Memory) == 1
    assert await count(sessions, Message) == 0
    async with sessions() as session:
        memory = await session.get(Memory, state.conversation_id)
        assert memory is not None and (memory.turn, memory.data) == (0, {})


async def test_conversations_are_per_user_scope_and_persona(sessions: Sessions) -> None:
    keys = [("local:ann", "console", "john"), ("local:ann", "console", "sarah"), ("local:ann", "dm", "john")]
    keys += [("local:bob", "console", "john")]
    ids = [await conversation(sessions, *key) for key in keys]
    assert len(set(ids)) == 4
    assert await count(sessions, User) == 2
    assert await count(sessions, Conversation) == 4
    assert await count(sessions, Memory) == 4


async def test_write_turns_stores_two_messages_per_turn_and_updates_memory(sessions: Sessions) -> None:
    conversation_id = await conversation(sessions, "local:ann", "console", "sarah")

    await write(sessions, turn(conversation_id, 1, persona="sarah", fact_ids=["hospital.escape", "mall.t1000"]))

    async with sessions() as session:
        stored = await ConversationRepository(session).messages(conversation_id)
        state = await ConversationRepository(session).load("local:ann", "console", "sarah")
        rows = (await session.scalars(select(Message).order_by(Message.id))).all()
    assert [(m.role, m.persona, m.text, m.fact_ids) for m in stored] == [
        ("user", None, "question 1", []),
        ("persona", "sarah", "answer 1", ["hospital.escape", "mall.t1000"]),
    ]
    assert all(isinstance(m.fact_ids, list) for m in stored)
    assert [row.fact_ids for row in rows] == [[], ["hospital.escape", "mall.t1000"]]
    assert state is not None
    assert state.turn == 1
    assert state.memory == {
        "entities": ["t1000", "e1"],
        "turn": 1,
        "nested": {"facts": ["hospital.escape", "mall.t1000"]},
    }

    await write(sessions, turn(conversation_id, 2, persona="sarah"), turn(conversation_id, 3, persona="sarah"))

    assert await count(sessions, Message) == 6
    async with sessions() as session:
        state = await ConversationRepository(session).load("local:ann", "console", "sarah")
    assert state is not None and state.turn == 3 and state.memory["turn"] == 3  # the last turn of a batch wins


async def test_write_turns_of_nothing_is_a_no_op(sessions: Sessions) -> None:
    await write(sessions)
    assert await count(sessions, Message) == 0


async def test_messages_are_oldest_first_and_limit_keeps_the_newest(sessions: Sessions) -> None:
    conversation_id = await conversation(sessions, "local:ann")
    other = await conversation(sessions, "local:ann", "dm", "t800")
    for number in (1, 2, 3):
        await write(sessions, turn(conversation_id, number), turn(other, number, persona="t800"))

    async with sessions() as session:
        repository = ConversationRepository(session)
        everything = [m.text for m in await repository.messages(conversation_id)]
        newest_three = [m.text for m in await repository.messages(conversation_id, limit=3)]
        newest_one = [m.text for m in await repository.messages(conversation_id, limit=1)]
        beyond = [m.text for m in await repository.messages(conversation_id, limit=100)]
        none = await repository.messages(conversation_id, limit=0)
        unknown = await repository.messages(987654)

    assert everything == ["question 1", "answer 1", "question 2", "answer 2", "question 3", "answer 3"]
    assert newest_three == ["answer 2", "question 3", "answer 3"]
    assert newest_one == ["answer 3"]
    assert beyond == everything
    assert none == []
    assert unknown == []


async def test_last_reply_is_the_newest_persona_message_of_that_user_and_place(sessions: Sessions) -> None:
    ann_dm_john = await conversation(sessions, "local:ann", "dm", "john")
    ann_dm_sarah = await conversation(sessions, "local:ann", "dm", "sarah")
    ann_channel = await conversation(sessions, "local:ann", "channel:1", "john")
    bob_dm = await conversation(sessions, "local:bob", "dm", "john")

    async with sessions() as session:
        assert await ConversationRepository(session).last_reply("local:ann", "dm") is None

    await write(sessions, turn(ann_dm_john, 1, reply_text="john, first", fact_ids=["a"]))
    await write(sessions, turn(ann_dm_sarah, 1, persona="sarah", reply_text="sarah, newest in dm", fact_ids=["b", "c"]))
    await write(sessions, turn(ann_channel, 1, reply_text="ann's channel, newer"))
    await write(sessions, turn(bob_dm, 1, reply_text="bob's dm, newest of all"))

    async with sessions() as session:
        repository = ConversationRepository(session)
        ann_dm = await repository.last_reply("local:ann", "dm")
        ann_in_channel = await repository.last_reply("local:ann", "channel:1")
        bob = await repository.last_reply("local:bob", "dm")
        nobody = await repository.last_reply("local:carol", "dm")
        bob_elsewhere = await repository.last_reply("local:bob", "channel:1")

    assert ann_dm is not None
    assert (ann_dm.role, ann_dm.persona, ann_dm.text, ann_dm.fact_ids) == (
        "persona",
        "sarah",
        "sarah, newest in dm",
        ["b", "c"],
    )
    assert ann_in_channel is not None and ann_in_channel.text == "ann's channel, newer"
    assert bob is not None and bob.text == "bob's dm, newest of all"
    assert nobody is None
    assert bob_elsewhere is None


# --- Discord message ids -------------------------------------------------------------------------------------


async def test_a_discord_message_id_is_stored_once(sessions: Sessions) -> None:
    first = await conversation(sessions, "discord:1", "channel:9", "john")
    second = await conversation(sessions, "discord:2", "channel:9", "t800")
    await write(sessions, turn(first, 1, discord_message_id=SNOWFLAKE, user_text="the original"))

    with pytest.raises(DuplicateMessageError):
        await write(sessions, turn(second, 1, persona="t800", discord_message_id=SNOWFLAKE, user_text="a replay"))
    with pytest.raises(DuplicateMessageError):  # the same id twice in one batch
        await write(
            sessions,
            turn(second, 1, discord_message_id=SNOWFLAKE + 1),
            turn(second, 2, discord_message_id=SNOWFLAKE + 1),
        )

    assert issubclass(DuplicateMessageError, StorageError)
    async with sessions() as session:
        repository = ConversationRepository(session)
        assert [m.text for m in await repository.messages(first)] == ["the original", "answer 1"]
        assert await repository.messages(second) == []
        assert await repository.message_seen(SNOWFLAKE) is True
        assert await repository.message_seen(SNOWFLAKE + 1) is False
        failed_memory = await session.get(Memory, second)
        assert failed_memory is not None and failed_memory.turn == 0  # the failed turn's memory is not written
    assert await count(sessions, Message) == 2
    assert await count(sessions, Message, Message.discord_message_id == SNOWFLAKE) == 1


async def test_a_turn_of_a_forgotten_conversation_is_not_called_a_duplicate(sessions: Sessions) -> None:
    """A turn still in flight when its user runs /forget: the conversation row is gone when the turn lands.

    The Discord listener takes DuplicateMessageError to mean "already answered" and drops the reply silently.
    """
    conversation_id = await conversation(sessions, "discord:1")
    async with sessions.begin() as session:
        await UserRepository(session).forget("discord:1")
    with pytest.raises(StorageError) as raised:
        await write(sessions, turn(conversation_id, 1, discord_message_id=SNOWFLAKE))
    assert await count(sessions, Message) == 0
    assert not isinstance(raised.value, DuplicateMessageError)


async def test_turns_without_a_discord_message_id_do_not_collide(sessions: Sessions) -> None:
    conversation_id = await conversation(sessions, "local:ann")
    await write(sessions, turn(conversation_id, 1), turn(conversation_id, 2))
    await write(sessions, turn(conversation_id, 3))
    assert await count(sessions, Message, Message.discord_message_id.is_(None)) == 6


# --- TurnWriter ------------------------------------------------------------------------------------------------


def _count_commits(engine: AsyncEngine) -> list[int]:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _connection: commits.append(1))
    return commits


async def test_turn_writer_stores_200_concurrent_turns_of_50_conversations(
    migrated_engine: AsyncEngine, sessions: Sessions
) -> None:
    conversations = [await conversation(sessions, f"discord:{SNOWFLAKE + n}", f"channel:{n % 5}") for n in range(50)]
    commits = _count_commits(migrated_engine)
    writer = TurnWriter(sessions)
    turns = [
        turn(conversations[i % 50], i // 50 + 1, discord_message_id=SNOWFLAKE + 10_000 + i, user_text=f"q{i}")
        for i in range(200)
    ]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(writer.write(t) for t in turns)), timeout=60)
    finally:
        await writer.close()

    assert results == [None] * 200
    assert await count(sessions, Message) == 400
    assert await count(sessions, Message, Message.role == "user") == 200
    assert await count(sessions, Message, Message.discord_message_id.is_not(None)) == 200
    async with sessions() as session:
        grouped = await session.execute(select(Message.conversation_id, func.count()).group_by(Message.conversation_id))
        per_conversation = {conversation_id: messages for conversation_id, messages in grouped}
        turns_stored = set((await session.scalars(select(Memory.turn))).all())
        user_texts = set((await session.scalars(select(Message.text).where(Message.role == "user"))).all())
    assert per_conversation == dict.fromkeys(conversations, 8)
    assert turns_stored == {4}  # turns 1..4 of each conversation, applied in order
    assert user_texts == {f"q{i}" for i in range(200)}
    assert 1 <= len(commits) <= 3, f"group commit should batch 200 turns, got {len(commits)} commits"


async def test_turn_writer_write_returns_after_commit(database_url: str, migrated_engine: AsyncEngine) -> None:
    """Right after ``write`` returns, another connection (another engine, even) sees the turn's rows."""
    sessions = create_session_factory(migrated_engine)
    conversations = [await conversation(sessions, f"local:user{n}") for n in range(10)]
    observer = create_engine(database_url)
    observed = create_session_factory(observer)
    writer = TurnWriter(sessions)

    async def write_then_look(n: int) -> int:
        # each conversation's turns go in order: 1, 2, 3 (a turn is computed from the one before)
        await writer.write(turn(conversations[n % 10], n // 10 + 1, discord_message_id=SNOWFLAKE + n))
        async with observed() as session:
            found = await session.scalar(
                select(func.count()).select_from(Message).where(Message.discord_message_id == SNOWFLAKE + n)
            )
            return int(found or 0)

    try:
        assert await write_then_look(0) == 1
        seen = await asyncio.wait_for(asyncio.gather(*(write_then_look(n) for n in range(1, 30))), timeout=60)
    finally:
        await writer.close()
        await observer.dispose()
    assert seen == [1] * 29


async def test_turn_writer_fails_only_the_duplicate_turn_of_a_batch(sessions: Sessions) -> None:
    """Ten turns submitted together (one group commit), the sixth a replay of a stored Discord message."""
    conversations = [await conversation(sessions, f"local:user{n}") for n in range(10)]
    writer = TurnWriter(sessions)
    try:
        await writer.write(turn(conversations[5], 1, discord_message_id=SNOWFLAKE + 5, user_text="original"))
        batch = [
            turn(conversations[n], 2 if n == 5 else 1, discord_message_id=SNOWFLAKE + n, user_text=f"new {n}")
            for n in range(10)
        ]
        results = await asyncio.wait_for(
            asyncio.gather(*(writer.write(t) for t in batch), return_exceptions=True), timeout=60
        )
    finally:
        await writer.close()

    assert isinstance(results[5], DuplicateMessageError)
    assert results[:5] + results[6:] == [None] * 9
    assert await count(sessions, Message) == 2 + 9 * 2
    async with sessions() as session:
        texts = set((await session.scalars(select(Message.text).where(Message.role == "user"))).all())
        turns_by_conversation = dict((await session.execute(select(Memory.conversation_id, Memory.turn))).all())
    assert texts == {"original"} | {f"new {n}" for n in range(10) if n != 5}
    assert turns_by_conversation == dict.fromkeys(conversations, 1)  # the replayed turn 2 of the sixth is not stored


async def test_a_turn_computed_from_an_old_memory_is_refused_and_nothing_of_its_batch_is_lost(
    sessions: Sessions,
) -> None:
    first, second = await conversation(sessions, "local:ann"), await conversation(sessions, "local:bob")
    writer = TurnWriter(sessions)
    try:
        await writer.write(turn(first, 1))
        results = await asyncio.gather(
            writer.write(turn(first, 1, user_text="again from turn 0")),  # another process already wrote turn 1
            writer.write(turn(second, 1)),
            return_exceptions=True,
        )
    finally:
        await writer.close()
    assert isinstance(results[0], StaleWrite) and results[1] is None
    async with sessions() as session:
        texts = (await session.scalars(select(Message.text).where(Message.role == "user"))).all()
    assert sorted(texts) == ["question 1", "question 1"]


async def test_turn_writer_refuses_writes_after_close(sessions: Sessions) -> None:
    conversation_id = await conversation(sessions, "local:ann")
    writer = TurnWriter(sessions)
    await writer.write(turn(conversation_id, 1))
    await writer.close()
    with pytest.raises(StorageError, match="closed"):
        await writer.write(turn(conversation_id, 2))
    assert await count(sessions, Message) == 2


# --- writes nobody waits for: the outbox's removals ----------------------------------------------------------


def _settler(sessions: Sessions, linger_s: float) -> Batcher[str, None]:
    async def settle(keys: Sequence[str]) -> list[None]:
        async with sessions.begin() as session:
            await OutboxRepository(session).settle(keys)
        return [None] * len(keys)

    return Batcher(settle, name="settler", linger_s=linger_s)


async def _store_posts(sessions: Sessions, keys: Sequence[str]) -> None:
    async with sessions.begin() as session:
        await OutboxRepository(session).add([NewPost(key, "chat", SNOWFLAKE, f"reply {key}") for key in keys])


async def test_removals_queued_while_a_batch_lingers_share_its_commit_and_close_commits_them_at_once(
    migrated_engine: AsyncEngine, sessions: Sessions
) -> None:
    keys = [f"r{n}" for n in range(15)]
    await _store_posts(sessions, keys)
    commits = _count_commits(migrated_engine)
    settler = _settler(sessions, linger_s=3600)
    queued = [settler.enqueue(key) for key in keys[:10]]
    await asyncio.sleep(0.05)  # the batch has begun to linger
    queued += [settler.enqueue(key) for key in keys[10:]]
    await asyncio.sleep(0.05)
    assert not any(future.done() for future in queued) and commits == [], "nothing is committed while it lingers"
    await asyncio.wait_for(settler.close(), timeout=30)  # not an hour: what is queued is committed at once
    assert [future.result() for future in queued] == [None] * 15
    assert len(commits) == 1, "every removal queued during the linger went in one transaction"
    assert await count(sessions, OutboxPost) == 0
    with pytest.raises(StorageError, match="closed"):
        settler.enqueue("r99")


async def test_a_lingering_batch_commits_by_itself_after_the_linger(sessions: Sessions) -> None:
    await _store_posts(sessions, ["r1", "r2"])
    settler = _settler(sessions, linger_s=0.05)
    try:
        await asyncio.wait_for(asyncio.gather(settler.enqueue("r1"), settler.submit("r2")), timeout=30)
        assert await count(sessions, OutboxPost) == 0
    finally:
        await settler.close()


# --- forget and export -------------------------------------------------------------------------------------------


async def test_forget_removes_everything_of_the_user_and_nothing_else(sessions: Sessions) -> None:
    ann = [
        await conversation(sessions, "discord:1", scope, persona)
        for scope, persona in (("dm", "john"), ("c:1", "t800"))
    ]
    bob = await conversation(sessions, "discord:2", "dm", "john")
    await write(
        sessions, turn(ann[0], 1, discord_message_id=SNOWFLAKE), turn(ann[0], 2), turn(ann[1], 1, persona="t800")
    )
    await write(sessions, turn(bob, 1, discord_message_id=SNOWFLAKE + 1))

    async with sessions.begin() as session:
        removed = await UserRepository(session).forget("discord:1")
    async with sessions.begin() as session:
        removed_again = await UserRepository(session).forget("discord:1")
        never_there = await UserRepository(session).forget("discord:3")

    assert (removed, removed_again, never_there) == (6, 0, 0)
    assert await count(sessions, User) == 1
    assert await count(sessions, User, User.external_id == "discord:1") == 0
    assert await count(sessions, Conversation, Conversation.id.in_(ann)) == 0
    assert await count(sessions, Memory, Memory.conversation_id.in_(ann)) == 0
    assert await count(sessions, Message, Message.conversation_id.in_(ann)) == 0
    assert await count(sessions, Conversation) == 1
    assert await count(sessions, Memory) == 1
    assert await count(sessions, Message) == 2
    async with sessions() as session:
        assert [m.text for m in await ConversationRepository(session).messages(bob)] == ["question 1", "answer 1"]
        assert await ConversationRepository(session).message_seen(SNOWFLAKE) is False  # the id may come again
        assert await UserRepository(session).export("discord:1") == {"user": "discord:1", "conversations": []}


async def test_export_returns_the_users_conversations_with_messages(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        await UserRepository(session).set_default_persona("discord:1", "sarah")
    dm = await conversation(sessions, "discord:1", "dm", "sarah")
    channel = await conversation(sessions, "discord:1", "channel:5", "t800")
    other = await conversation(sessions, "discord:2", "dm", "sarah")
    await write(sessions, turn(dm, 1, persona="sarah", fact_ids=["f1"]), turn(channel, 1, persona="t800"))
    await write(sessions, turn(dm, 2, persona="sarah", fact_ids=[]), turn(other, 1, user_text="not yours"))

    async with sessions() as session:
        exported = await UserRepository(session).export("discord:1")

    assert exported["user"] == "discord:1"
    assert exported["default_persona"] == "sarah"
    assert isinstance(exported["created_at"], str)
    assert [(c["scope"], c["persona"]) for c in exported["conversations"]] == [("dm", "sarah"), ("channel:5", "t800")]
    first = exported["conversations"][0]
    assert first["memory"]["turn"] == 2
    assert [(m["role"], m["persona"], m["text"], m["fact_ids"]) for m in first["messages"]] == [
        ("user", None, "question 1", []),
        ("persona", "sarah", "answer 1", ["f1"]),
        ("user", None, "question 2", []),
        ("persona", "sarah", "answer 2", []),
    ]
    assert all(isinstance(m["at"], str) for m in first["messages"])
    assert [m["text"] for m in exported["conversations"][1]["messages"]] == ["question 1", "answer 1"]
    assert "not yours" not in repr(exported)


# --- channels and Discord snowflakes --------------------------------------------------------------------------------


async def test_channel_settings_upsert_and_read_back(sessions: Sessions) -> None:
    channel, guild, webhook = SNOWFLAKE, SNOWFLAKE + 1, SNOWFLAKE + 2
    async with sessions.begin() as session:
        channels = ChannelRepository(session)
        assert await channels.get(channel) is None
        await channels.set_auto_persona(channel, guild, "t800")
    async with sessions.begin() as session:
        await ChannelRepository(session).set_webhook(channel, guild, webhook, "tok" * 30)
    async with sessions() as session:
        row = await ChannelRepository(session).get(channel)
        assert row is not None
        assert (row.channel_id, row.guild_id, row.auto_persona, row.webhook_id, row.webhook_token) == (
            channel,
            guild,
            "t800",
            webhook,
            "tok" * 30,
        )

    async with sessions.begin() as session:
        await ChannelRepository(session).set_auto_persona(channel, guild, "sarah")
        await ChannelRepository(session).set_webhook(channel, guild, None, None)
    async with sessions() as session:
        row = await ChannelRepository(session).get(channel)
        assert row is not None
        assert (row.auto_persona, row.webhook_id, row.webhook_token) == ("sarah", None, None)

    async with sessions.begin() as session:
        await ChannelRepository(session).set_auto_persona(channel, guild, None)
        await ChannelRepository(session).set_webhook(MAX_BIGINT, None, MAX_BIGINT - 1, "dm-less")
    async with sessions() as session:
        row = await ChannelRepository(session).get(channel)
        extreme = await ChannelRepository(session).get(MAX_BIGINT)
    assert row is not None and row.auto_persona is None
    assert extreme is not None and (extreme.channel_id, extreme.guild_id, extreme.webhook_id) == (
        MAX_BIGINT,
        None,
        MAX_BIGINT - 1,
    )
    assert await count(sessions, ChannelSettings) == 2


class _ReadTogetherSession(AsyncSession):
    """A session whose ``get`` waits, after reading, for the other racers to have read too (at most 1 s).

    The wait is bounded: an implementation that writes before it reads makes the other racer block on
    the row, so waiting for it forever would deadlock.
    """

    racers = 2
    have_read: list[int]
    everyone_read: asyncio.Event

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        found = await super().get(*args, **kwargs)
        self.have_read.append(1)
        if len(self.have_read) >= self.racers:
            self.everyone_read.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.everyone_read.wait(), timeout=1)
        return found


async def test_concurrent_first_settings_of_a_channel_both_succeed(migrated_engine: AsyncEngine) -> None:
    """/auto in a channel while the first persona reply there caches its webhook: both write a new row."""
    _ReadTogetherSession.have_read, _ReadTogetherSession.everyone_read = [], asyncio.Event()
    racing = async_sessionmaker(migrated_engine, class_=_ReadTogetherSession, expire_on_commit=False)

    async def auto_persona() -> None:
        async with racing.begin() as session:
            await ChannelRepository(session).set_auto_persona(SNOWFLAKE, SNOWFLAKE + 1, "t800")

    async def webhook() -> None:
        async with racing.begin() as session:
            await ChannelRepository(session).set_webhook(SNOWFLAKE, SNOWFLAKE + 1, SNOWFLAKE + 2, "token")

    results = await asyncio.wait_for(asyncio.gather(auto_persona(), webhook(), return_exceptions=True), timeout=30)
    assert list(results) == [None, None]
    async with create_session_factory(migrated_engine)() as session:
        row = await ChannelRepository(session).get(SNOWFLAKE)
    assert row is not None and (row.auto_persona, row.webhook_id) == ("t800", SNOWFLAKE + 2)


@pytest.mark.parametrize("snowflake", [SNOWFLAKE, MAX_BIGINT, 2**53 + 1])
async def test_discord_snowflakes_round_trip(sessions: Sessions, snowflake: int) -> None:
    conversation_id = await conversation(sessions, f"discord:{snowflake}", f"channel:{snowflake}")
    await write(sessions, turn(conversation_id, 1, discord_message_id=snowflake))
    async with sessions.begin() as session:
        await ChannelRepository(session).set_webhook(snowflake, snowflake - 1, snowflake - 2, "t")
    async with sessions() as session:
        assert await ConversationRepository(session).message_seen(snowflake) is True
        assert await ConversationRepository(session).message_seen(snowflake - 1) is False
        stored = await session.scalar(select(Message.discord_message_id).where(Message.discord_message_id.is_not(None)))
        row = await ChannelRepository(session).get(snowflake)
    assert stored == snowflake and type(stored) is int
    assert row is not None and (row.channel_id, row.guild_id, row.webhook_id) == (
        snowflake,
        snowflake - 1,
        snowflake - 2,
    )


# --- hostile text ------------------------------------------------------------------------------------------------

HOSTILE = {
    "sql": "'; DROP TABLE messages; --",
    "sql2": 'Robert"); DELETE FROM users WHERE 1=1; --',
    "placeholders": "%s %(name)s ? :name $1 {0} %% \\",
    "long": ("Judgment Day is August 29, 1997. " * 400)[:10_000],
    "emoji": "🤖💀🔥 👩‍👦 🏍️ ❤️‍🔥 " * 3,
    "rtl": "שלום עולם — مرحبا بالعالم ‮reversed‬",
    "control": "line one\nline two\r\n\ttabbed \u2028 \u0007 \u001b[31mred",
    "combining": "Zalgo: Z̷̢͓a̵l̶g̸o̴ — e\u0301 vs é",
    "quotes": "it's \"quoted\" `back` ''double''",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_text_is_stored_verbatim(sessions: Sessions, name: str) -> None:
    text = HOSTILE[name]
    if name == "long":
        assert len(text) == 10_000
    conversation_id = await conversation(sessions, "local:" + text[:60], text[:64])
    await write(
        sessions,
        turn(conversation_id, 1, user_text=text, reply_text=text[::-1], fact_ids=[text[:40], "ok"]),
    )
    async with sessions() as session:
        stored = await ConversationRepository(session).messages(conversation_id)
        state = await ConversationRepository(session).load("local:" + text[:60], text[:64], "john")
        exported = await UserRepository(session).export("local:" + text[:60])
    assert [m.text for m in stored] == [text, text[::-1]]
    assert stored[1].fact_ids == [text[:40], "ok"]
    assert state is not None and state.memory["nested"]["facts"] == [text[:40], "ok"]
    assert exported["conversations"][0]["scope"] == text[:64]
    assert exported["conversations"][0]["messages"][0]["text"] == text
    assert await count(sessions, Message) == 2  # and every table is still there
    assert await count(sessions, User) == 1


async def test_nul_character_is_stored_the_same_way_on_both_backends(sessions: Sessions) -> None:
    """PostgreSQL text cannot hold U+0000, so every backend stores it as U+FFFD; the rest of the text is kept."""
    conversation_id = await conversation(sessions, "local:ann")
    await write(sessions, turn(conversation_id, 1, user_text="before\x00after", fact_ids=["nul\x00id"]))
    async with sessions() as session:
        stored = await ConversationRepository(session).messages(conversation_id)
    assert stored[0].text == "before\ufffdafter"
    assert stored[1].fact_ids == ["nul\x00id"]

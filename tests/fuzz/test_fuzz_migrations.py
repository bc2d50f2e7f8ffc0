"""Fuzzing stored data through a downgrade of the newest revisions and an upgrade: every surviving row is kept."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.chat import ChannelRepository, ConversationRepository, TurnRecord, UserRepository
from db.engine import create_engine, create_session_factory
from db.migrate import downgrade, upgrade
from db.schema import metadata
from db.story.repository import EventRow, PlayerRow, SessionRow, StoryRepository
from db.trivia.repository import TriviaRepository
from tests.fuzz.conftest import CaseCounter, scaled
from tests.fuzz.harness import LoopThread
from tests.fuzz.strategies import Ids, messages
from tests.test_migrations import dump, revision_steps

IDS = Ids(users=(80351110224678912,), roles=(1,), channels=(2,), bot=3)
TEXT = messages(IDS)
SHORT = messages(IDS, huge=False)
BIG = st.integers(0, 2**63 - 1)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | SHORT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SHORT, inner, max_size=3),
    max_leaves=8,
)


def name(size: int) -> st.SearchStrategy[str]:
    """Text that fits a VARCHAR(size) (PostgreSQL enforces the length)."""
    return SHORT.map(lambda text: text[:size])


TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=80)
"""Webhook tokens come from Discord."""
KEY = st.integers(0, 2**63).map(lambda n: f"discord:{n}") | st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), max_size=80
)
"""User keys: made by the bot from Discord ids, or a console user's name (a command-line argument holds no U+0000)."""
SCOPE = st.builds("{}:{}".format, st.sampled_from(["channel", "dm"]), st.integers(0, 2**63))
"""Where a conversation or story happens: made by the bot from a Discord id."""
TURN = st.fixed_dictionaries(
    {"user": KEY, "scope": SCOPE, "persona": st.sampled_from(["john", "sarah", "t800"])},
    optional={"said": TEXT, "answer": TEXT, "facts": st.lists(SHORT, max_size=3), "memory": JSONISH},
)
GAME = st.fixed_dictionaries(
    {"starter": KEY, "player": KEY, "questions": st.lists(st.dictionaries(SHORT, JSONISH), max_size=3)}
)
STORY = st.fixed_dictionaries(
    {"scope": SCOPE, "player": name(40), "text": TEXT, "state": st.dictionaries(SHORT, JSONISH, max_size=3)}
)
DATA = st.fixed_dictionaries(
    {
        "turns": st.lists(TURN, max_size=6),
        "games": st.lists(GAME, max_size=2),
        "lists": st.lists(st.tuples(name(40), name(200), TEXT), max_size=2),
        "stories": st.lists(STORY, max_size=2),
        "channels": st.lists(st.tuples(BIG, st.none() | BIG, TOKEN), max_size=3),
    }
)


NOTHING: dict[str, Any] = {"turns": [], "games": [], "lists": [], "stories": [], "channels": []}


async def store(sessions: async_sessionmaker[AsyncSession], data: dict[str, Any]) -> int:
    """Store the generated rows through the repositories; returns how many rows that made."""
    made = 0
    async with sessions.begin() as session:
        users, conversations = UserRepository(session), ConversationRepository(session)
        for turn_number, turn in enumerate(data["turns"], 1):
            await users.set_default_persona(turn["user"], turn["persona"])
            state = await conversations.load_or_create(turn["user"], turn["scope"], turn["persona"])
            record = TurnRecord(
                state.conversation_id,
                turn["persona"],
                turn.get("said", ""),
                turn.get("answer", "..."),
                turn.get("facts", []),
                state.turn + 1,  # the conversation's next turn (a turn is written on the memory it was computed from)
                {"free": turn.get("memory")},
                discord_message_id=turn_number if turn_number % 2 else None,
            )
            await conversations.write_turns([record])
            made += 4
        trivia = TriviaRepository(session)
        for number, game in enumerate(data["games"]):
            created = await trivia.create_game(
                {
                    "guild_id": number,
                    "channel_id": number,
                    "active_channel": number,
                    "starter": game["starter"],
                    "host": "t800",
                    "mode": "choice",
                    "seconds": 30,
                    "target_score": None,
                    "idle_s": 600,
                    "lists": ["plot"],
                    "questions": game["questions"],
                    "status": "running",
                    "end_reason": None,
                    "question_index": 0,
                    "phase": "asking",
                    "asked_at_ms": 0,
                    "deadline_ms": 1,
                    "hints": 0,
                    "last_activity_ms": 0,
                    "paused_at_ms": None,
                }
            )
            await trivia.record_choice(created.id, 0, game["player"], 1, True, 10, 5)
            made += 2
        for number, (list_name, author, description) in enumerate(data["lists"]):
            values = {"author": author, "description": description, "config": {}, "questions": [{"q": description}]}
            await trivia.save_list(number, list_name, values)
            await trivia.save_settings(number, {"lists": [list_name], "host": "john"})
            made += 2
        story = StoryRepository(session)
        for story_data in data["stories"]:
            row = SessionRow(0, story_data["scope"], None, None, "vote", 60, 120, "running", False, "lobby", 1, None,
                             0, 0, None, None, 0, story_data["state"], 1)  # fmt: skip
            try:
                async with session.begin_nested():
                    session_id = await story.create_session(row)
            except Exception:  # two stories generated for the same place: one is stored
                continue
            [player] = await story.add_players(
                [(session_id, PlayerRow(0, None, story_data["player"], "john", 0, True))]
            )
            await story.add_events(session_id, [EventRow(1, 1, "narration", story_data["text"], 0, player_id=player)])
            made += 3
        channels = ChannelRepository(session)
        for channel_id, guild_id, token in data["channels"]:
            await channels.set_webhook(channel_id, guild_id, channel_id, token)
            made += 1
    return made


async def clear(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            await connection.execute(delete(table))


def test_stored_rows_survive_a_downgrade_and_upgrade(database_url: str, cases: CaseCounter) -> None:
    parents = [parent for _, parent in revision_steps()[:2]]  # below the newest revision, and the one before
    with LoopThread() as loop:
        engine = create_engine(database_url)
        sessions = create_session_factory(engine)
        try:
            loop.call(lambda: upgrade(engine), timeout=120)

            @settings(max_examples=scaled(15))
            @given(data=DATA, parent=st.sampled_from(parents))
            @example(data={**NOTHING, "lists": [("", "\x00", "")]}, parent=parents[0])  # PostgreSQL refused U+0000
            def check(data: dict[str, Any], parent: str) -> None:
                async def run() -> int:
                    await clear(engine)
                    made = await store(sessions, data)
                    before = await dump(engine)
                    await downgrade(engine, parent)
                    kept = await dump(engine)
                    await upgrade(engine)
                    after = await dump(engine)
                    for table in kept:
                        assert len(kept[table]) == len(before[table]), f"the downgrade to {parent} lost rows of {table}"
                        assert after[table] == before[table], f"a downgrade to {parent} and back changed {table}"
                    return made

                cases.add(loop.call(run, timeout=120))

            check()
        finally:
            loop.call(engine.dispose)

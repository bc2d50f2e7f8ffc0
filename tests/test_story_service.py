"""StoryService on real SQLite and PostgreSQL databases with an injected clock: turns, votes, pauses, restarts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.chat import ChatService
from bot.story import StoryConfig, StoryRefusal, StoryService
from db.common import StaleWrite
from db.story.models import StoryEvent, StoryPlayer, StorySession
from db.turn_writer import TurnWriter
from personas.engine import GroundedEngine
from personas.factbase import load_fact_base
from personas.knowledge import Knowledge
from personas.roster import PERSONAS
from personas.story import load_story
from tests.clock import FakeClock

BASE = load_fact_base()
STORY = load_story(BASE)
LATER_QUESTIONS = (
    "what happens at the steel mill?",
    "how does the T-1000 die?",
    "what happens to Dyson?",
    "how does it all end?",
    "who is Dyson?",
    "what happens at the mall?",
    "and then?",
)


def make_service(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, **config: Any
) -> tuple[StoryService, asyncio.Lock]:
    lock = asyncio.Lock()
    return StoryService(sessions, lock, STORY, BASE, clock=clock, config=StoryConfig(**config)), lock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> StoryService:
    return make_service(sessions, clock, turn_seconds=60, pause_seconds=600)[0]


def options(scene: int, role: str = "fighter") -> list[str]:
    """The ids of the options a scene offers when it is told to ``role``."""
    return [option.id for option in STORY.scene(scene).decision.options_for(role)]


def label(scene: int, option_id: str, role: str) -> str:
    return STORY.scene(scene).decision.option(option_id).label.told_to(role)


async def lobby(service: StoryService, order: str, *players: tuple[str, str], scope: str = "channel:1") -> int:
    opened = await service.open_lobby(scope, "u:host", turn_order=order, vote_seconds=30)
    for user, role in players:
        await service.join(opened.session_id, user, user.split(":")[1], role)
    return opened.session_id


async def count(engine: AsyncEngine, model: type[object], *where: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_vote_session_with_three_players_reaches_the_epilogue(
    service: StoryService, migrated_engine: AsyncEngine
) -> None:
    sid = await lobby(service, "vote", ("u:host", "sarah"), ("u:ann", "john"), ("u:bob", "fighter"))
    started = await service.begin(sid, "u:host")
    assert [post.persona for post in started.posts if post.persona] == ["t800"]  # John and Sarah are played
    assert started.posts[-1].prompt is not None and started.posts[-1].prompt.kind == "vote"
    last = started
    for scene in range(1, 9):
        first, second = options(scene)[:2]
        await service.choose(sid, scene, "u:ann", first)
        await service.choose(sid, scene, "u:bob", second)
        last = await service.choose(sid, scene, "u:host", second)
        assert "3 of 3" in last.reply
    epilogue = last.posts[-1]
    assert epilogue.title == "Epilogue"
    assert not epilogue.text.lower().startswith("epilogue")  # said once, as the title
    for name in ("host (Sarah Connor)", "ann (John Connor)", "bob (resistance fighter)"):
        assert name in epilogue.text
    # The arrival addresses John: it was told to ann, and everyone voted on ann's options, as her buttons said them.
    assert "told to ann (John Connor)" in started.posts[0].title
    assert f"ann (John Connor): {STORY.scene(1).title}: {label(1, options(1)[0], 'john')};" in epilogue.text
    assert f"host (Sarah Connor): {STORY.scene(1).title}: {label(1, options(1)[1], 'john')};" in epilogue.text
    # The state is told to each reader: Sarah's player reads of her own weapons as hers.
    weapons = STORY.flags["carry"].values["weapons"]
    assert weapons.told_to("sarah") != weapons.told_to("john")
    assert f"host: {weapons.told_to('sarah')}" in epilogue.text
    assert f"ann, bob: {weapons.told_to('john')}" in epilogue.text
    async with AsyncSession(migrated_engine) as session:
        row = (await session.scalars(select(StorySession))).one()
    assert row.status == "ended" and row.active_scope is None and row.scene == 8
    assert row.state["flags"]["carry"] == "weapons" and row.state["flags"]["goodbye"] == "beg"
    assert await count(migrated_engine, StoryEvent, StoryEvent.kind == "vote") == 24
    assert await count(migrated_engine, StoryEvent, StoryEvent.kind == "decision") == 8
    assert await service.session_in("channel:1") is None
    with pytest.raises(StoryRefusal, match=r"already made|over"):
        await service.choose(sid, 8, "u:ann", options(8)[0])


async def test_list_order_rotates_enforces_turns_skips_the_idle_and_pauses(
    service: StoryService, clock: FakeClock
) -> None:
    sid = await lobby(service, "list", ("u:ann", "john"), ("u:bob", "sarah"))
    await service.begin(sid, "u:host")
    with pytest.raises(StoryRefusal, match="Not your turn: it is ann's call"):
        await service.choose(sid, 1, "u:bob", options(1)[0])
    with pytest.raises(StoryRefusal, match="not playing"):
        await service.choose(sid, 1, "u:eve", options(1)[0])
    await service.choose(sid, 1, "u:ann", options(1)[0])
    with pytest.raises(StoryRefusal, match="already made"):
        await service.choose(sid, 1, "u:ann", options(1)[0])
    clock.advance(59)
    assert await service.tick() == []
    clock.advance(2)
    [tick] = await service.tick()
    assert "bob took too long and is skipped" in tick.posts[0].text
    assert "ann, it is your call" in tick.posts[-1].text
    clock.advance(61)
    [paused] = await service.tick()
    assert "paused" in paused.posts[-1].text
    row = await service.session_in("channel:1")
    assert row is not None and row.paused and row.deadline_ms is None
    clock.advance(3600)
    assert await service.tick() == []
    resumed = await service.choose(sid, 2, "u:bob", options(2)[1])  # any click resumes; bob's turn again
    assert "resumes" in resumed.reply
    row = await service.session_in("channel:1")
    assert row is not None and row.scene == 3 and not row.paused


async def test_natural_order_lets_the_addressed_role_act_first(service: StoryService) -> None:
    sid = await lobby(service, "natural", ("u:ann", "fighter"), ("u:bob", "sarah"), ("u:cid", "john"))
    started = await service.begin(sid, "u:host")
    assert "cid, it is your call" in started.posts[-1].text  # the arrival addresses John
    await service.choose(sid, 1, "u:cid", options(1)[0])
    row = await service.session_in("channel:1")
    assert row is not None and row.scene == 2
    assert service.describe(row, service.now_ms()).endswith("Waiting for cid, 60 s left.")  # the mall: John first
    await service.choose(sid, 2, "u:cid", options(2)[0])
    row = await service.session_in("channel:1")
    assert row is not None
    assert "Waiting for bob" in service.describe(row, service.now_ms())  # the hospital addresses Sarah


async def test_a_tie_is_broken_by_the_host(service: StoryService, clock: FakeClock) -> None:
    sid = await lobby(service, "vote", ("u:ann", "john"), ("u:bob", "sarah"))
    await service.begin(sid, "u:host")  # the host does not play
    await service.choose(sid, 1, "u:ann", options(1)[0])
    tied = await service.choose(sid, 1, "u:bob", options(1)[1])
    assert tied.posts[-1].prompt is not None and tied.posts[-1].prompt.kind == "tiebreak"
    with pytest.raises(StoryRefusal, match="host is breaking the tie"):
        await service.choose(sid, 1, "u:ann", options(1)[0])
    status = (await service.status("channel:1")).reply
    assert "Host: the host (not playing)." in status and "Waiting for the host to break a tie" in status
    broken = await service.choose(sid, 1, "u:host", options(1)[1])
    assert "The host broke the tie" in broken.posts[0].text
    row = await service.session_in("channel:1")
    assert row is not None and row.state["flags"]["lookout"] == "freeway" and row.scene == 2
    # A host who votes breaks a tie with that vote, and a vote closes when its time is up.
    await service.choose(sid, 2, "u:ann", options(2)[2])
    clock.advance(31)
    [closed] = await service.tick()
    assert "Time is up" in closed.posts[0].text
    row = await service.session_in("channel:1")
    assert row is not None and row.state["flags"]["hurt"] == "t800"


async def test_a_restart_mid_vote_keeps_the_votes_and_the_time_left(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    first, _ = make_service(sessions, clock)
    sid = await lobby(first, "vote", ("u:ann", "john"), ("u:bob", "sarah"), ("u:cid", "t800"))
    await first.begin(sid, "u:host")
    clock.advance(10)
    await first.choose(sid, 1, "u:ann", options(1)[2])
    await first.choose(sid, 1, "u:bob", options(1)[2])
    assert await first.suspend() == 1
    await first.close()
    clock.advance(500)  # the bot is down for a while
    second, _ = make_service(sessions, clock)
    assert await second.restart_clocks() == 1
    row = await second.session_in("channel:1")
    assert row is not None
    assert row.state["votes"] == {str(p.id): options(1)[2] for p in row.players if p.user in ("u:ann", "u:bob")}
    assert row.deadline_ms == int(clock.now * 1000) + 20_000
    assert "Votes: 2 of 3, 20 s left." in second.describe(row, second.now_ms())
    done = await second.choose(sid, 1, "u:cid", options(1)[0])
    assert "The votes are in" in done.posts[0].text
    row = await second.session_in("channel:1")
    assert row is not None and row.scene == 2 and row.state["flags"]["lookout"] == "hospital"


async def test_a_player_leaving_passes_the_turn_and_the_host_role(service: StoryService) -> None:
    opened = await service.open_lobby("channel:1", "u:ann", turn_order="list")
    for user, role in (("u:ann", "john"), ("u:bob", "sarah"), ("u:cid", "fighter")):
        await service.join(opened.session_id, user, user[2:], role)
    sid = opened.session_id
    await service.begin(sid, "u:ann")
    left = await service.leave("channel:1", "u:ann")
    texts = [post.text for post in left.posts]
    assert texts[0] == "ann leaves the story." and texts[1] == "bob is the host now."
    assert "bob, it is your call" in texts[-1]
    with pytest.raises(StoryRefusal, match="not playing"):
        await service.choose(sid, 1, "u:ann", options(1)[0])
    await service.choose(sid, 1, "u:bob", options(1)[0])
    with pytest.raises(StoryRefusal, match="Only the host"):
        await service.skip("channel:1", "u:cid")
    await service.skip("channel:1", "u:bob")  # bob is the host now
    row = await service.session_in("channel:1")
    assert row is not None and row.host == "u:bob" and "Waiting for bob" in service.describe(row, 0)
    await service.leave("channel:1", "u:bob")
    ended = await service.leave("channel:1", "u:cid")
    assert "Everyone has left" in ended.posts[-1].text
    assert await service.session_in("channel:1") is None


async def test_host_only_commands_and_one_session_per_place(service: StoryService) -> None:
    sid = await lobby(service, "vote", ("u:ann", "john"))
    with pytest.raises(StoryRefusal, match="already running"):
        await service.open_lobby("channel:1", "u:ann")
    with pytest.raises(StoryRefusal, match="Only the host"):
        await service.begin(sid, "u:ann")
    with pytest.raises(StoryRefusal, match="already played by ann"):
        await service.join(sid, "u:bob", "bob", "john")
    await service.begin(sid, "u:ann", can_moderate=True)
    with pytest.raises(StoryRefusal, match="Only the host"):
        await service.end("channel:1", "u:ann")
    ended = await service.end("channel:1", "u:mod", can_moderate=True)
    assert ended.posts[0].title == "Epilogue" and "The story ends here." == ended.posts[-1].text
    assert (await service.open_lobby("channel:1", "u:ann")).reply == "The lobby is open."


async def test_two_places_at_once_and_one_player_in_both(service: StoryService) -> None:
    one = await lobby(service, "vote", ("u:ann", "john"), scope="channel:1")
    two = await lobby(service, "list", ("u:ann", "sarah"), ("u:bob", "t800"), scope="channel:2")
    await asyncio.gather(service.begin(one, "u:host"), service.begin(two, "u:host"))
    await asyncio.gather(service.choose(one, 1, "u:ann", options(1)[1]), service.choose(two, 1, "u:ann", options(1)[2]))
    first, second = await service.session_in("channel:1"), await service.session_in("channel:2")
    assert first is not None and second is not None
    assert (first.scene, first.state["flags"]["lookout"]) == (2, "freeway")
    assert (second.scene, second.state["flags"]["lookout"]) == (2, "hospital")
    assert "Waiting for bob" in service.describe(second, 0)


async def test_forget_me_leaves_a_former_player_in_the_transcript(
    service: StoryService, migrated_engine: AsyncEngine
) -> None:
    sid = await lobby(service, "list", ("u:ann", "john"), ("u:bob", "sarah"))
    await service.begin(sid, "u:host")
    await service.choose(sid, 1, "u:ann", options(1)[0])
    assert await service.forget("u:ann") == 1
    transcript = await service.transcript("channel:1")
    assert {"name": "a former player", "role": "john", "active": False} in transcript["players"]
    choices = [e for e in transcript["events"] if e["kind"] == "choice"]
    assert choices[0]["player"] == "a former player" and choices[0]["option"] == options(1)[0]
    assert "u:ann" not in str(transcript) and "ann" not in [p["name"] for p in transcript["players"]]
    assert await count(migrated_engine, StoryPlayer, StoryPlayer.user == "u:ann") == 0
    row = await service.session_in("channel:1")
    assert row is not None and "Waiting for bob" in service.describe(row, 0)


async def test_inactivity_pauses_a_lobby_and_status_resumes_it(service: StoryService, clock: FakeClock) -> None:
    await lobby(service, "vote", ("u:ann", "john"))
    clock.advance(601)
    [paused] = await service.tick()
    assert "paused" in paused.posts[0].text
    status = await service.status("channel:1")
    assert "lobby is open" in status.reply and status.posts[-1].text == "The lobby is open again."


async def test_recap_and_free_questions_never_reveal_later_scenes(
    service: StoryService, sessions: async_sessionmaker[AsyncSession], migrated_engine: AsyncEngine
) -> None:
    writer = TurnWriter(sessions)
    chat = ChatService(migrated_engine, sessions, GroundedEngine(Knowledge(BASE), PERSONAS), writer, PERSONAS)
    sid = await lobby(service, "list", ("u:ann", "sarah"))
    await service.begin(sid, "u:host")
    try:
        for scene in range(1, 9):
            recap = await service.recap("channel:1")
            [post] = recap.posts
            assert post.persona == "john"  # the first persona nobody plays
            assert all(BASE.fact(f).known_by("john", scene) for f in post.fact_ids)
            for persona in ("t800", "john", "sarah"):
                for question in LATER_QUESTIONS:
                    context = await service.chat_context("channel:1", f"{persona}, {question}", None, "u:eve")
                    assert context is not None and context.at_scene == scene
                    assert context.persona != "sarah" and context.persona is not None
                    reply = await chat.reply(
                        "u:eve", "channel:1", context.text, persona=context.persona, at_scene=scene
                    )
                    for fact_id in reply.fact_ids:
                        assert BASE.fact(fact_id).known_by(reply.persona.id, scene), (scene, question, fact_id)
            await service.choose(sid, scene, "u:ann", options(scene)[0])
    finally:
        await writer.close()


async def test_the_recap_tells_the_choices_in_the_narrators_words(service: StoryService) -> None:
    sid = await lobby(service, "list", ("u:kyle", "john"), ("u:Ann", "fighter"))
    await service.begin(sid, "u:host")
    await service.choose(sid, 1, "u:kyle", options(1, "john")[0])
    await service.choose(sid, 2, "u:Ann", options(2, "fighter")[1])
    [post] = (await service.recap("channel:1")).posts
    first = label(1, options(1, "john")[0], "john")  # as kyle's buttons said it
    second = label(2, options(2, "fighter")[1], "fighter")
    assert f"kyle chose to {first[0].lower()}{first[1:]}." in post.text  # the name as it was typed
    assert f"Then Ann chose to {second[0].lower()}{second[1:]}." in post.text
    assert "chose:" not in post.text


async def test_every_persona_played_gets_a_notice(service: StoryService) -> None:
    await lobby(service, "vote", ("u:a", "john"), ("u:b", "sarah"), ("u:c", "t800"))
    context = await service.chat_context("channel:1", "t800, who are you?", None, "u:eve")
    assert context is not None and context.persona is None and context.notice is not None
    assert await service.chat_context("channel:9", "hi", None, "u:eve") is None


def narrated(posts: Any) -> list[str]:
    """What the narrator posted (persona lines are the personas' own speech), without the epilogue's cast lines."""
    return [
        line for post in posts if post.persona is None for line in post.text.splitlines() if not line.startswith("- ")
    ]


@pytest.mark.parametrize("role", ["john", "sarah", "t800", "fighter"])
async def test_a_solo_player_is_told_the_story_as_their_role(service: StoryService, role: str) -> None:
    """Narration, buttons, outcomes and epilogue speak to the player's role as "you", never by its name."""
    from tests.test_story_data import third_person

    sid = await lobby(service, "list", ("u:ann", role))
    outcome = await service.begin(sid, "u:host")
    read = narrated(outcome.posts)
    for scene in range(1, 9):
        prompt = outcome.posts[-1].prompt
        assert prompt is not None and [option for option, _ in prompt.options] == options(scene, role)
        read += [text for _, text in prompt.options]
        chosen = options(scene, role)[scene % len(options(scene, role))]
        outcome = await service.choose(sid, scene, "u:ann", chosen)
        read += narrated(outcome.posts)
    assert outcome.posts[-1].title == "Epilogue"
    assert [text for text in read if third_person(text, role)] == []
    assert sum("you" in text.lower() for text in read) >= 8


async def test_a_wound_taken_by_whoever_chose_it_is_theirs(service: StoryService) -> None:
    """An option that hurts the one who chose it hurts that player's role: John slowing the T-1000 down is hurt."""
    sid = await lobby(service, "list", ("u:ann", "john"))
    await service.begin(sid, "u:host")
    await service.choose(sid, 1, "u:ann", options(1, "john")[0])
    slowed = next(option.id for option in STORY.scene(2).decision.options if option.sets.get("hurt") == "self")
    done = await service.choose(sid, 2, "u:ann", slowed)
    row = await service.session_in("channel:1")
    assert row is not None and row.state["flags"]["hurt"] == "john"
    assert STORY.scene(2).decision.option(slowed).outcome.told_to("john") in [post.text for post in done.posts]


async def test_nobody_is_offered_to_act_on_their_own_role(service: StoryService) -> None:
    """An option that is not offered to the role the scene is told to is refused, like an unknown one."""
    sid = await lobby(service, "list", ("u:ann", "john"))
    await service.begin(sid, "u:host")
    for scene in range(1, 6):
        await service.choose(sid, scene, "u:ann", options(scene, "john")[0])
    withheld = [option.id for option in STORY.scene(6).decision.options if "john" not in option.roles]
    assert withheld
    with pytest.raises(StoryRefusal, match="not one of the options"):
        await service.choose(sid, 6, "u:ann", withheld[0])


async def test_in_a_group_each_scene_is_told_to_whoever_decides_it(service: StoryService) -> None:
    """List order: every scene's narration, buttons and outcome speak to the player whose turn it is."""
    from tests.test_story_data import third_person

    players = (("u:ann", "john"), ("u:bob", "t800"), ("u:cid", "sarah"), ("u:dee", "fighter"))
    sid = await lobby(service, "list", *players)
    posts = list((await service.begin(sid, "u:host")).posts)
    for scene in range(1, 9):
        user, role = players[(scene - 1) % len(players)]
        assert f"told to {user[2:]} (" in (posts[0].title or "")  # several roles: the title says whom
        prompt = posts[-1].prompt
        assert prompt is not None and [option for option, _ in prompt.options] == options(scene, role)
        outcome = await service.choose(sid, scene, user, options(scene, role)[-1])
        after = [i for i, post in enumerate(outcome.posts) if (post.title or "").startswith(f"Scene {scene + 1}:")]
        split = after[0] if after else len(outcome.posts) - 1  # the next scene's opening, or the epilogue
        read = narrated(posts) + [text for _, text in prompt.options] + narrated(outcome.posts[:split])
        assert [text for text in read if third_person(text, role)] == [], (scene, role)
        posts = list(outcome.posts[split:])


async def test_the_epilogue_tells_what_a_choice_made_only_to_whoever_chose_it(service: StoryService) -> None:
    """In a group of several roles, nobody reads "you" in the epilogue for a choice another player made."""
    players = (("u:ann", "sarah"), ("u:bob", "t800"))
    sid = await lobby(service, "list", *players)
    await service.begin(sid, "u:host")
    chooser: dict[str, tuple[str, str, str]] = {}  # flag -> (name, role, value) of the choice that set it last
    outcome = None
    for scene in range(1, 9):
        user, role = players[(scene - 1) % len(players)]
        option = STORY.scene(scene).decision.option(options(scene, role)[-1])
        for flag, value in option.sets_for(role).items():
            chooser[flag] = (user[2:], role, value)
        outcome = await service.choose(sid, scene, user, option.id)
    assert outcome is not None
    epilogue = outcome.posts[-1].text
    assert chooser, "the choices set flags"
    for flag_id, (name, role, value) in chooser.items():
        flag = STORY.flags[flag_id]
        readings = {flag.values[any_value].told_to(r) for any_value in flag.values for r in ("sarah", "t800")}
        lines = [line for line in epilogue.splitlines() if line.split(": ", 1)[-1] in readings]
        assert lines == [f"{name}: {flag.values[value].told_to(role)}"], flag_id


async def test_a_change_made_from_a_session_another_process_changed_fails_loudly_and_reads_it_again(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    # Two services on one database stand for two processes that both (wrongly) run one guild's session.
    first, _ = make_service(sessions, clock)
    second, _ = make_service(sessions, clock)
    session_id = await lobby(first, "vote", ("u:ann", "john"))
    await second.load()  # reads the lobby with ann in it
    await first.join(session_id, "u:bob", "bob", "sarah")  # stored: version moves on
    with pytest.raises(StaleWrite):
        await second.join(session_id, "u:cat", "cat", "t800")  # made from the old read
    await second.join(session_id, "u:cat", "cat", "t800")  # from the session as stored now
    fresh, _ = make_service(sessions, clock)
    row = await fresh.session_in("channel:1")
    assert row is not None and [p.user for p in row.players] == ["u:ann", "u:bob", "u:cat"]
    await first.close()
    await second.close()
    await fresh.close()

"""TriviaService on SQLite and PostgreSQL with a fake clock: flow, scoring, hints, restarts, boards, lists, privacy."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.trivia.hosting import HOSTS, host_line
from bot.trivia.normalise import normalise
from bot.trivia.options import Announcement
from bot.trivia.questions import QuestionPools, with_choices
from bot.trivia.red_lists import RedListError
from bot.trivia.service import AlreadyStartedError, GameOptions, NotAllowedError, TriviaError, TriviaService
from bot.trivia.variety import RECENT_GAMES
from db.common import StaleWrite
from db.engine import create_engine, create_session_factory
from db.migrate import upgrade_if_needed
from db.outbox.models import OutboxPost
from db.trivia.models import TriviaChoice, TriviaGame, TriviaScore, TriviaStats
from personas.factbase import load_fact_base
from tests.clock import FakeClock

CHANNEL, OTHER, GUILD = 1001, 1002, 77
ALICE, BOB, CAROL = "discord:1", "discord:2", "discord:3"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> TriviaService:
    return TriviaService(sessions, load_fact_base(), clock=clock)


async def game_row(sessions: async_sessionmaker[AsyncSession], channel: int = CHANNEL) -> TriviaGame:
    async with sessions() as session:
        row = await session.scalar(
            select(TriviaGame).where(TriviaGame.channel_id == channel).order_by(TriviaGame.id.desc())
        )
    assert row is not None
    return row


async def current(sessions: async_sessionmaker[AsyncSession], channel: int = CHANNEL) -> dict[str, Any]:
    row = await game_row(sessions, channel)
    question: dict[str, Any] = row.questions[row.question_index]
    return question


async def scores(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(TriviaScore.user, TriviaScore.points))
    return {user: points for user, points in rows.all()}


async def stats(sessions: async_sessionmaker[AsyncSession], user: str) -> TriviaStats:
    async with sessions() as session:
        row = await session.scalar(select(TriviaStats).where(TriviaStats.user == user))
    assert row is not None
    return row


async def test_an_open_game_from_start_to_end(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    opening = await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=2, seconds=30, host="john"), seed=1)
    assert [a.kind for a in opening] == ["start", "ask"]
    assert opening[1].text.startswith(("Question 1 of 2", "Okay, question 1 of 2"))
    assert service.is_playing(CHANNEL) and not service.is_playing(OTHER)
    question = await current(sessions)
    assert question["q"] in opening[1].text

    assert await service.answer(CHANNEL, BOB, "bob", "definitely not this") == []
    clock.advance(5)
    [correct] = await service.answer(CHANNEL, ALICE, "alice", question["a"][0])
    assert correct.kind == "correct" and "alice" in correct.text and "10" in correct.text
    assert question["fact_text"] in correct.text
    assert await scores(sessions) == {ALICE: 10, BOB: 0}
    assert await service.answer(CHANNEL, BOB, "bob", question["a"][0]) == [], "only the first correct answer wins"

    assert await service.tick() == []
    clock.advance(4)
    [second] = await service.tick()
    assert second.kind == "ask" and " 2 of 2" in second.text
    question = await current(sessions)

    clock.advance(10)
    [hint] = await service.tick()
    assert hint.kind == "hint" and "7 points" in hint.text.replace("(now worth 7)", "7 points")
    assert "`" in hint.text
    clock.advance(10)
    [hint2] = await service.tick()
    assert "4" in hint2.text
    clock.advance(10)
    reveal, end = await service.tick()
    assert reveal.kind == "reveal" and question["a"][0] in reveal.text and question["fact_text"] in reveal.text
    assert end.kind == "end" and "alice: 10 points" in end.text
    assert not service.is_playing(CHANNEL)
    row = await game_row(sessions)
    assert (row.status, row.end_reason, row.active_channel) == ("finished", "done", None)
    alice = await stats(sessions, ALICE)
    assert (alice.points, alice.wins, alice.games, alice.correct, alice.attempted, alice.streak) == (10, 1, 1, 1, 1, 1)
    bob = await stats(sessions, BOB)
    assert (bob.points, bob.wins, bob.games, bob.attempted, bob.streak) == (0, 0, 1, 1, 0)


async def test_one_game_per_channel_and_options_are_checked(service: TriviaService) -> None:
    await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=3), seed=2)
    with pytest.raises(TriviaError, match="already running"):
        await service.start(CHANNEL, GUILD, BOB)
    with pytest.raises(TriviaError, match="seconds"):
        await service.start(OTHER, GUILD, BOB, GameOptions(seconds=1))
    with pytest.raises(TriviaError, match="no list called `nope`"):
        await service.start(OTHER, GUILD, BOB, GameOptions(lists=("nope",)))
    await service.start(OTHER, GUILD, BOB, GameOptions(questions=1), seed=3)
    assert service.running() == 2


async def test_a_request_starts_one_game_however_often_it_comes(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    said = await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=1), request="9001")
    assert [a.kind for a in said] == ["start", "ask"]
    with pytest.raises(AlreadyStartedError):  # while its game runs
        await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=1), request="9001")
    await service.stop(CHANNEL, ALICE)
    restarted = TriviaService(sessions, load_fact_base(), clock=clock)  # what a new process knows is stored
    with pytest.raises(AlreadyStartedError):  # and once it is over
        await restarted.start(CHANNEL, GUILD, ALICE, GameOptions(questions=1), request="9001")
    assert restarted.running() == 0
    await restarted.start(CHANNEL, GUILD, ALICE, GameOptions(questions=1), request="9002")
    async with sessions() as session:
        stored = (await session.scalars(select(TriviaGame.start_request).order_by(TriviaGame.id))).all()
    assert stored == ["9001", "9002"]


async def test_a_target_score_ends_the_game_and_hints_lower_the_points(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await service.start(CHANNEL, GUILD, ALICE, GameOptions(target_score=15, seconds=30), seed=4)
    assert len((await game_row(sessions)).questions) > 10
    [first] = await service.answer(CHANNEL, ALICE, "alice", (await current(sessions))["a"][0])
    assert first.kind == "correct"
    clock.advance(4)
    await service.tick()
    clock.advance(10)
    [hint] = await service.tick()
    assert hint.kind == "hint"
    events = await service.answer(CHANNEL, BOB, "bob", (await current(sessions))["a"][-1])
    assert [e.kind for e in events] == ["correct"]
    assert await scores(sessions) == {ALICE: 10, BOB: 7}
    clock.advance(4)
    await service.tick()
    events = await service.answer(CHANNEL, ALICE, "alice", (await current(sessions))["a"][0])
    assert [e.kind for e in events] == ["correct", "end"]
    assert (await game_row(sessions)).end_reason == "target"
    assert (await stats(sessions, ALICE)).wins == 1 and (await stats(sessions, ALICE)).best_streak == 2
    assert (await stats(sessions, BOB)).wins == 0


async def test_multiple_choice_one_answer_each_faster_scores_more(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    [_, ask] = await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=2, mode="choice", seconds=20), seed=5)
    assert len(ask.choices) == 4 and ask.question == 0
    assert not service.is_playing(CHANNEL), "choice games do not read channel messages"
    question = await current(sessions)
    right = question["correct"]
    wrong = (right + 1) % 4
    game = ask.game_id
    clock.advance(2)
    first = await service.choose(game, 0, right, ALICE, "alice")
    assert first.accepted and "Locked in" in first.text and first.announcements == []
    again = await service.choose(game, 0, wrong, ALICE, "alice")
    assert not again.accepted and "already answered" in again.text
    clock.advance(8)
    assert (await service.choose(game, 0, right, BOB, "bob")).accepted
    assert (await service.choose(game, 0, wrong, CAROL, "carol")).accepted
    points = await scores(sessions)
    assert points[ALICE] > points[BOB] > 0 == points[CAROL]
    clock.advance(10)
    [reveal] = await service.tick()
    assert reveal.kind == "reveal" and question["choices"][right] in reveal.text and "alice (+" in reveal.text
    late = await service.choose(game, 0, right, CAROL, "carol")
    assert not late.accepted and "closed" in late.text
    clock.advance(4)
    [ask2] = await service.tick()
    assert ask2.question == 1
    question = await current(sessions)
    for user in (ALICE, BOB):
        result = await service.choose(game, 1, question["correct"], user, user)
    result = await service.choose(game, 1, question["correct"], CAROL, "carol")
    assert [a.kind for a in result.announcements] == ["reveal", "end"], "everyone answered: the question closes"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TriviaChoice)) == 6


async def test_a_solo_choice_question_closes_as_soon_as_its_player_answers(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    options = GameOptions(questions=2, mode="choice", seconds=20)
    [_, ask] = await service.start(CHANNEL, None, ALICE, options, seed=5, solo=True)
    question = await current(sessions)
    clock.advance(3)
    result = await service.choose(ask.game_id, 0, question["correct"], ALICE, "alice")
    assert result.accepted and [a.kind for a in result.announcements] == ["reveal"]
    awarded = (await scores(sessions))[ALICE]
    assert f"alice (+{awarded})" in result.announcements[0].text  # the points told are the points given
    assert (await service.tick()) == []  # no hint for a question that is closed


async def test_a_restart_mid_question_resumes_with_the_time_that_was_left(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    first = TriviaService(sessions, load_fact_base(), clock=clock)
    await first.start(CHANNEL, GUILD, ALICE, GameOptions(questions=3, seconds=30), seed=6)
    await first.answer(CHANNEL, BOB, "bob", (await current(sessions))["a"][0])
    clock.advance(4)
    await first.tick()
    asked = await current(sessions)
    clock.advance(12)
    assert await first.suspend() == 1
    clock.advance(300)

    second = TriviaService(sessions, load_fact_base(), clock=clock)
    [resumed] = await second.resume()
    assert resumed.kind == "resume" and "18 seconds" in resumed.text and asked["q"] in resumed.text
    assert await second.resume() == [], "resuming twice does nothing"
    clock.advance(17)
    [hint] = await second.tick()
    assert hint.kind == "hint"
    events = await second.answer(CHANNEL, BOB, "bob", asked["a"][0])
    assert events and events[0].kind == "correct"
    assert await scores(sessions) == {BOB: 17}, "10 from before the restart are kept, 7 after a hint"

    crashed = TriviaService(sessions, load_fact_base(), clock=clock)  # no suspend: the deadline stays absolute
    clock.advance(4)
    await second.tick()
    clock.advance(5)
    assert [a.kind for a in await crashed.resume()] == ["resume"]
    clock.advance(30)
    assert [a.kind for a in await crashed.tick()] == ["reveal", "end"]


async def test_stop_and_skip_are_for_the_starter_or_a_moderator(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=3), seed=7)
    with pytest.raises(NotAllowedError, match="Manage Messages"):
        await service.stop(CHANNEL, BOB)
    with pytest.raises(NotAllowedError):
        await service.skip(CHANNEL, BOB)
    [skipped] = await service.skip(CHANNEL, ALICE)
    assert skipped.kind == "skip"
    assert (await game_row(sessions)).phase == "pause"
    [ask] = await service.skip(CHANNEL, BOB, moderator=True)
    assert ask.kind == "ask" and ask.question == 1
    await service.answer(CHANNEL, BOB, "bob", (await current(sessions))["a"][0])
    [stopped] = await service.stop(CHANNEL, BOB, moderator=True)
    assert stopped.kind == "stop" and "bob: 10 points" in stopped.text
    assert (await stats(sessions, BOB)).wins == 0, "nobody wins a stopped game"
    with pytest.raises(TriviaError, match="No trivia game"):
        await service.stop(CHANNEL, ALICE)


async def test_a_game_nobody_plays_ends_when_idle(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await service.start(CHANNEL, None, ALICE, GameOptions(questions=20, seconds=30, idle_s=60), seed=8)
    kinds: list[str] = []
    for _ in range(40):
        clock.advance(5)
        kinds += [a.kind for a in await service.tick()]
        if "end" in kinds:
            break
    assert kinds.count("reveal") == 2 and kinds[-1] == "end"
    assert (await game_row(sessions)).end_reason == "idle"


async def test_games_moving_at_once_share_a_transaction_and_score_as_if_one_after_another(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], migrated_engine: AsyncEngine, clock: FakeClock
) -> None:
    channels = (CHANNEL, OTHER, OTHER + 1)
    for channel in channels:
        await service.start(channel, GUILD, ALICE, GameOptions(questions=3, seconds=30), seed=channel)
        await service.answer(channel, BOB, "bob", "definitely not this")
    answers = [(await current(sessions, channel))["a"][0] for channel in channels]
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(migrated_engine.sync_engine, "commit", count)
    said = await asyncio.gather(*(service.answer(c, ALICE, "alice", a) for c, a in zip(channels, answers, strict=True)))
    assert [[a.kind for a in s] for s in said] == [["correct"]] * 3 and len(commits) == 1
    alice, bob = await stats(sessions, ALICE), await stats(sessions, BOB)
    assert (alice.points, alice.correct, alice.attempted, alice.streak, alice.best_streak) == (30, 3, 3, 3, 3)
    assert (bob.points, bob.attempted, bob.streak) == (0, 3, 0)
    clock.advance(4)
    assert [a.kind for a in await service.tick()] == ["ask"] * 3 and len(commits) == 2
    for channel in channels:
        await service.answer(channel, BOB, "bob", "still not this")
    clock.advance(30)
    assert [a.kind for a in await service.tick()] == ["reveal"] * 3 and len(commits) == 3
    event.remove(migrated_engine.sync_engine, "commit", count)
    assert (await stats(sessions, BOB)).attempted == 6 and (await stats(sessions, ALICE)).streak == 3


async def test_the_target_counts_points_scored_before_a_restart(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    first = TriviaService(sessions, load_fact_base(), clock=clock)
    await first.start(CHANNEL, GUILD, ALICE, GameOptions(target_score=20, seconds=30), seed=9)
    assert [a.kind for a in await first.answer(CHANNEL, BOB, "bob", (await current(sessions))["a"][0])] == ["correct"]
    assert await first.suspend() == 1
    second = TriviaService(sessions, load_fact_base(), clock=clock)
    await second.resume()
    clock.advance(4)
    await second.tick()
    events = await second.answer(CHANNEL, BOB, "bob", (await current(sessions))["a"][0])
    assert [e.kind for e in events] == ["correct", "end"] and (await game_row(sessions)).end_reason == "target"


async def test_leaderboards_stats_and_forget(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    for channel, guild, winner in ((CHANNEL, GUILD, ALICE), (OTHER, GUILD + 1, BOB)):
        await service.start(channel, guild, winner, GameOptions(questions=1), seed=channel)
        await service.answer(channel, CAROL, "carol", "nothing like it")
        await service.answer(channel, winner, winner[-1], (await current(sessions, channel))["a"][0])
    guild_board = await service.leaderboard(GUILD)
    assert [(r.user, r.points, r.wins, r.games) for r in guild_board] == [(ALICE, 10, 1, 1)]
    by_games = await service.leaderboard(None, "games")
    assert {r.user for r in by_games} == {ALICE, BOB, CAROL}
    assert (await service.leaderboard(None, "accuracy")) == [], "accuracy needs five attempts"
    carol = await service.stats(CAROL, None)
    assert carol is not None and (carol.board.games, carol.board.attempted, carol.board.accuracy) == (2, 2, 0.0)
    alice = await service.stats(ALICE, GUILD)
    assert alice is not None and (alice.rank, alice.streak, alice.best_streak) == (1, 1, 1)
    with pytest.raises(TriviaError, match="metric"):
        await service.leaderboard(GUILD, "style")

    assert await service.forget(ALICE) == 2
    assert await service.stats(ALICE, None) is None
    assert [r.user for r in await service.leaderboard(None, "games")] != []
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(TriviaGame.starter == ALICE)) == 0


RED_LIST = b"""AUTHOR: Miles
DESCRIPTION: Things about 1995
CONFIG:
  delay: 20
  max_score: 20
  bot_plays: false
What year is it?: [1995, ninety-five]
Is this a test?: [yes]
Who runs Cyberdyne?: [Dyson, Miles Dyson]
"""


async def test_imported_lists_and_guild_settings(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    info, replaced = await service.import_list(GUILD, "Nineties.yaml", RED_LIST, ALICE)
    assert (info.name, info.questions, info.author, replaced) == ("nineties", 3, "Miles", False)
    assert (await service.import_list(GUILD, "nineties.yml", RED_LIST, ALICE))[1] is True
    assert [i.name for i in await service.lists(GUILD)] == ["plot", "nineties"]
    assert [i.name for i in await service.lists(GUILD + 1)] == ["plot"]
    with pytest.raises(RedListError, match="line 2"):
        await service.import_list(GUILD, "bad.yaml", b"Question?: [a]\nOther: answer\n", ALICE)

    saved = await service.save_settings(GUILD, GameOptions(mode="open", host="sarah", lists=("nineties",)))
    assert (saved.host, saved.lists, saved.seconds) == ("sarah", ("nineties",), 30)
    [start, ask] = await service.start(CHANNEL, GUILD, ALICE, seed=9)
    assert ask.kind == "ask"
    assert start.host == "sarah" and "20 points" in start.text
    row = await game_row(sessions)
    assert (row.seconds, row.target_score, row.lists, len(row.questions)) == (20, 20, ["nineties"], 3)
    question = await current(sessions)
    guess = {"What year is it?": "nineteen ninety five", "Is this a test?": "yes", "Who runs Cyberdyne?": "dr dyson"}
    [correct] = await service.answer(CHANNEL, BOB, "bob", guess[question["q"]])
    assert correct.kind == "correct"
    with pytest.raises(TriviaError, match="no list"):
        await service.save_settings(GUILD, GameOptions(lists=("missing",)))


def test_host_lines_state_no_plot_facts() -> None:
    base = load_fact_base()
    names = {alias for entity in base.entities.values() for alias in entity.aliases if len(alias) > 3}
    names |= {"1995", "1997", "mexico", "cyberdyne", "dyson", "skynet", "terminator"}
    for host, lines in HOSTS.items():
        for moment in lines.__dataclass_fields__:
            for variant in getattr(lines, moment):
                bare = re.sub(r"\{\w+\}", " ", variant).lower()
                hits = [name for name in names if re.search(rf"\b{re.escape(name)}\b", bare)]
                assert hits == [], f"{host}.{moment}: {variant!r} names {hits}"
    assert host_line("t800", "ask", 0, n=1, total=2, question="Q?") == "Question 1 of 2. Q?"


def test_a_solo_game_in_the_terminal(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path}/t2.db",
        "HOME": str(tmp_path),
        "T2_CACHE_DIR": os.environ["T2_CACHE_DIR"],  # the suite's understanding model, built once
    }
    command = [sys.executable, "-m", "bot", "trivia", "play", "--questions", "2", "--seed", "3", "--host", "john"]
    result = subprocess.run(
        command, input="/skip\n/skip\n/skip\n", capture_output=True, text=True, cwd=root, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("1 of 2" in line for line in lines) and any("2 of 2" in line for line in lines)
    assert "Zero points" in result.stdout or "Nobody scored" in result.stdout
    again = subprocess.run(
        [*command[:-4], "--mode", "choice", "--seed", "4"],
        input="A\n/quit\n",
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert "Locked in: A" in again.stdout and "A: " in again.stdout


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_a_host_counts_questions_in_one_voice(host: str) -> None:
    numbered = [
        host_line(host, moment, seed, n=3, total=5, question="Q?", left=9)
        for moment in ("ask", "resumed")
        for seed in range(len(getattr(HOSTS[host], moment)))
    ]
    assert all(re.search(r"\b[Qq]uestion 3 of 5\b", line) for line in numbered), numbered


def test_choices_are_of_the_answers_kind_and_never_the_same_words_twice() -> None:
    base = load_fact_base()
    pool = QuestionPools(base).plot()
    kinds = {entity.name: entity.kind for entity in base.entities.values()}
    typed = [question for question in pool if question["kind"] not in (None, "date")]
    assert len(typed) >= 30
    for seed in range(5):
        rng = random.Random(seed)
        for question in pool:
            chosen = with_choices(question, pool, rng)
            if chosen is None:
                continue
            words = [frozenset(normalise(text).split()) - {"and", "the", "a", "an"} for text in chosen["choices"]]
            assert len(set(words)) == len(words), chosen["choices"]
            wrong = [text for i, text in enumerate(chosen["choices"]) if i != chosen["correct"]]
            if question in typed:
                agents = {"person", "machine", "organization"}  # people, machines and organisations all act
                allowed = agents if question["kind"] in agents else {question["kind"]}
                assert all(kinds.get(text) in allowed for text in wrong), (question["q"], wrong)
                assert len(chosen["choices"]) == 4
                assert not any(normalise(text) in normalise(question["q"]) for text in wrong), (question["q"], wrong)
    date = next(question for question in pool if question["kind"] == "date")
    assert all(
        "," in text and text.split()[0] == "August" for text in with_choices(date, pool, random.Random(1))["choices"]
    )


async def play(
    service: TriviaService,
    sessions: async_sessionmaker[AsyncSession],
    channel: int,
    options: GameOptions,
    *,
    seed: int | None = None,
    stop_after: int | None = None,
) -> list[str]:
    """Start a game and skip through it (or stop it once ``stop_after`` questions were asked); what it asked."""
    [_, ask] = await service.start(channel, GUILD, ALICE, options, seed=seed)
    asked = 1
    while service.game_in(channel) is not None:
        if asked == stop_after:
            await service.stop(channel, ALICE)
            break
        await service.skip(channel, ALICE)  # reveal
        if service.game_in(channel) is not None:
            await service.skip(channel, ALICE)  # the next question
            asked += 1
    async with sessions() as session:
        row = await session.get(TriviaGame, ask.game_id)
    assert row is not None and row.status == "finished"
    return [question["q"] for question in row.questions[: row.question_index + 1]]


def red_list(size: int) -> bytes:
    return "".join(f"What is number {n}?: [{n}]\n" for n in range(1, size + 1)).encode()


@pytest.mark.parametrize("mode", ["open", "choice"])
async def test_games_in_a_channel_open_with_questions_it_has_not_heard_lately(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], mode: str
) -> None:
    options = GameOptions(questions=3, mode=mode)
    games = [await play(service, sessions, CHANNEL, options, seed=21) for _ in range(6)]
    openers = [game[0] for game in games]
    assert len(set(openers)) == len(openers), f"the same seed, yet every game opens differently: {openers}"
    for n, game in enumerate(games):
        heard = {question for earlier in games[:n] for question in earlier}
        assert not heard & set(game), f"game {n + 1} asks again {heard & set(game)} while others were never asked"
    # the other channel has heard nothing: with the same seed it gets this channel's first game, question for question
    assert await play(service, sessions, OTHER, options, seed=21) == games[0]


async def test_questions_heard_lately_come_last_the_longest_ago_first(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await service.import_list(GUILD, "eight.yaml", red_list(8), ALICE)
    everything = {f"What is number {n}?" for n in range(1, 9)}
    three, eight = GameOptions(questions=3, lists=("eight",)), GameOptions(questions=8, lists=("eight",))
    first = await play(service, sessions, CHANNEL, three, seed=3)
    second = await play(service, sessions, CHANNEL, three, seed=3, stop_after=1)  # two drawn, never asked
    assert len(first) == 3 and len(second) == 1 and second[0] not in first
    third = await play(service, sessions, CHANNEL, eight, seed=3)
    assert set(third[:4]) == everything - set(first) - set(second), "the four never asked come first"
    assert third[4:] == first + second, "then the ones asked, in the order they were asked"
    # Everything has been heard now: the longest ago asked come first, but never the last game's first question.
    fourth = await play(service, sessions, CHANNEL, eight, seed=3)
    assert fourth == third[1:] + third[:1]
    fifth = await play(service, sessions, CHANNEL, eight, seed=3)
    assert fifth == fourth[1:] + fourth[:1]


async def test_only_the_latest_games_of_a_channel_count_as_recent(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession]
) -> None:
    size = RECENT_GAMES + 2
    await service.import_list(GUILD, "dozen.yaml", red_list(size), ALICE)
    one = GameOptions(questions=1, lists=("dozen",))
    openers = [(await play(service, sessions, CHANNEL, one, seed=8))[0] for _ in range(RECENT_GAMES + 1)]
    assert len(set(openers)) == len(openers)
    never = {f"What is number {n}?" for n in range(1, size + 1)} - set(openers)
    # the first game is now older than the last RECENT_GAMES: its question is as fresh as the one never asked
    latest = await play(service, sessions, CHANNEL, GameOptions(questions=2, lists=("dozen",)), seed=8)
    assert set(latest) == never | {openers[0]}


async def test_what_a_channel_heard_survives_a_restart(
    database_url: str, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    before = TriviaService(sessions, load_fact_base(), clock=clock, seed=5)
    first = await play(before, sessions, CHANNEL, GameOptions(questions=4))
    engine = create_engine(database_url)  # a new process: a new engine and service on the same database
    try:
        await upgrade_if_needed(engine)
        restarted = create_session_factory(engine)
        after = TriviaService(restarted, load_fact_base(), clock=clock, seed=5)
        second = await play(after, restarted, CHANNEL, GameOptions(questions=4))
        elsewhere = await play(after, restarted, OTHER, GameOptions(questions=4))
    finally:
        await engine.dispose()
    assert second[0] != first[0] and not set(first) & set(second)
    assert elsewhere == first, "the service's seed fixes the order; a channel that heard nothing gets the first game"


def test_terminal_games_do_not_repeat_the_last_ones_questions(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path}/t2.db",
        "HOME": str(tmp_path),
        "T2_CACHE_DIR": os.environ["T2_CACHE_DIR"],  # the suite's understanding model, built once
    }
    env["T2_CACHE_DIR"] = os.environ["T2_CACHE_DIR"]  # the model the other tests use (set by conftest)
    command = [sys.executable, "-m", "bot", "trivia", "play", "--questions", "2", "--seed", "3"]
    wordings = [question["q"] for question in QuestionPools(load_fact_base()).plot()]
    games: list[list[str]] = []
    for _ in range(2):
        result = subprocess.run(
            command, input="/skip\n/skip\n/skip\n", capture_output=True, text=True, cwd=root, env=env, timeout=60
        )
        assert result.returncode == 0, result.stderr
        said = " ".join(result.stdout.split())  # the terminal wraps long lines
        games.append([q for _, q in sorted((said.find(q), q) for q in wordings if q in said)])
    first, second = games
    assert len(first) == len(second) == 2
    assert not set(first) & set(second), f"the same seed, and the second game asks again: {first} then {second}"


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxPost]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxPost).order_by(OutboxPost.id)))


async def play_through(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock, channel: int
) -> list[Announcement]:
    """Every kind of move of one game: start, a hint, a right answer, the next question, a skip, a stop."""
    said = await service.start(channel, GUILD if channel else None, ALICE, GameOptions(questions=4, seconds=30))
    clock.advance(10)
    said += await service.tick()
    said += await service.answer(channel, ALICE, "alice", (await current(sessions, channel))["a"][0])
    clock.advance(4)
    said += await service.tick()
    said += await service.skip(channel, ALICE)
    said += await service.stop(channel, ALICE)
    return said


async def test_a_discord_games_announcements_are_stored_with_their_change_and_a_terminal_games_are_not(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    said = await play_through(service, sessions, clock, CHANNEL)
    assert [a.kind for a in said] == ["start", "ask", "hint", "correct", "ask", "skip", "stop"]
    stored = await outbox(sessions)
    assert [(p.key, p.kind, p.channel_id, p.persona, p.text) for p in stored] == [
        (a.outbox_key, "trivia", CHANNEL, a.host, a.text) for a in said
    ], "each announcement is in the outbox, in order, with the text it was returned with"
    assert all(len(p.key) <= 22 for p in stored) and len({p.key for p in stored}) == len(stored)
    assert stored[-1].text == said[-1].text and "alice: 7 points" in stored[-1].text, "the ending has its standings"
    assert stored[1].payload == {"game_id": said[1].game_id, "kind": "ask", "question": 0, "choices": []}

    terminal = await play_through(service, sessions, clock, 0)
    assert [a.kind for a in terminal] == [a.kind for a in said]
    assert all(a.outbox_key is None for a in terminal)
    assert len(await outbox(sessions)) == len(stored), "a game in the terminal is printed at once, never stored"


async def test_a_choice_questions_buttons_and_a_reveals_ending_are_stored(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    [_, ask] = await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=1, mode="choice"), seed=5)
    question = await current(sessions)
    result = await service.choose(ask.game_id, 0, question["correct"], ALICE, "alice")
    clock.advance(60)
    said = result.announcements + await service.tick()
    assert [a.kind for a in said] == ["reveal", "end"]
    stored = {p.key: p for p in await outbox(sessions)}
    assert stored[ask.outbox_key].payload["choices"] == question["choices"]  # type: ignore[index]
    assert [stored[a.outbox_key].text for a in said] == [a.text for a in said]  # type: ignore[index]


async def test_a_move_made_from_a_game_another_process_changed_fails_loudly_and_the_game_is_read_again(
    service: TriviaService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    # Two services on one database stand for two processes that both (wrongly) run one guild's game.
    await service.start(CHANNEL, GUILD, ALICE, GameOptions(questions=3, seconds=30), seed=4)
    other = TriviaService(sessions, load_fact_base(), clock=clock)
    await other.resume()  # reads question 1, version 0
    [correct] = await service.answer(CHANNEL, ALICE, "alice", (await current(sessions))["a"][0])
    assert correct.kind == "correct"  # stored: the game moved on (paused before question 2)
    with pytest.raises(StaleWrite):
        await other.answer(CHANNEL, BOB, "bob", (await current(sessions))["a"][0])  # on question 1, as it read
    clock.advance(4)
    [asked] = await other.tick()  # read again: it goes on from the stored game, asking question 2
    assert asked.kind == "ask" and (await game_row(sessions)).question_index == 1
    async with sessions() as session:
        scores = dict((await session.execute(select(TriviaScore.user, TriviaScore.points))).tuples().all())
    assert scores == {ALICE: scores[ALICE]} and scores[ALICE] > 0  # bob's answer on the old state counted nothing

"""Fuzzing the bot on Discord: every slash command's options, every persistent button's custom id, and messages.

One bot per test, started once against the loopback Discord (tests/twin); hypothesis drives many cases through
it. A case passes when the bot answers it without logging an error, Discord answers every request of the bot
with a 2xx, and nothing the bot posts pings anyone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import CaseCounter, scaled
from tests.fuzz.harness import Leaf, LiveBot
from tests.fuzz.strategies import Ids, messages
from tests.twin import Upload

DISCORD_INT = 2**53
"""Discord's integer options hold -2^53..2^53."""
PLACES = ("general", "thread", "lounge", "dm")

COMMAND_REGRESSIONS: list[tuple[str, dict[str, Any], str, str]] = [
    # (command, options, user, place): inputs that once made the bot fail, run first every time
    ("persona set", {"persona": ""}, "alice", "general"),  # not one of the choices: logged as a bug
    ("trivia import", {"file": Upload("../../etc/passwd", b"")}, "admin", "general"),  # download failed: logged
    ("trivia start", {"lists": "judgment-day" * 500}, "alice", "general"),  # its refusal was over 2,000 characters
    ("trivia settings", {"lists": "plot," * 1200}, "admin", "general"),  # so were the defaults it repeated back
]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveBot]:
    with LiveBot(tmp_path) as bot:
        yield bot


def _fail_on(problems: list[str], case: object) -> None:
    assert not problems, f"{case!r}:\n" + "\n".join(problems[:10])


# ------------------------------------------------------------------------------------------------ slash commands
def red_lists(ids: Ids) -> st.SearchStrategy[bytes]:
    """Trivia list files: Red-DiscordBot's YAML with fuzzed questions and answers, or any bytes at all."""
    text = messages(ids, huge=False)
    listed = st.dictionaries(
        text, st.lists(text | st.integers() | st.none(), max_size=3) | text, min_size=1, max_size=6
    )
    extras = st.fixed_dictionaries({}, optional={"AUTHOR": text, "CONFIG": st.dictionaries(text, text | st.integers())})
    documents = st.builds(lambda questions, head: {**questions, **head}, listed, extras)
    return st.one_of(
        documents.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True).encode()),
        st.binary(max_size=512),
        text.map(str.encode),
        st.integers(300_000, 2_000_000).map(lambda size: b"a: [b]\n" * (size // 7)),
    )


def option_values(spec: dict[str, Any], ids: Ids) -> st.SearchStrategy[Any]:
    """Values for one option as Discord sends them, and some it never would (out of range, not a choice)."""
    kind = spec["type"]
    by_type: st.SearchStrategy[Any]
    if kind == 3:
        by_type = messages(ids)
    elif kind == 4:
        low, high = spec.get("min_value", -DISCORD_INT), spec.get("max_value", DISCORD_INT)
        by_type = st.integers(low, high) | st.integers(-DISCORD_INT, DISCORD_INT) | st.sampled_from([low - 1, high + 1])
    elif kind == 5:
        by_type = st.booleans()
    elif kind == 6:
        by_type = st.sampled_from(list(ids.users))
    elif kind == 7:
        by_type = st.sampled_from(list(ids.channels))
    elif kind == 8:
        by_type = st.sampled_from(list(ids.roles))
    elif kind == 9:
        by_type = st.sampled_from([*ids.users, *ids.roles])
    elif kind == 10:
        by_type = st.floats(-1e15, 1e15, allow_nan=False)
    elif kind == 11:
        names = st.sampled_from(["list.yaml", "trivia.yml", "x.txt", "../../etc/passwd", "ünï cödé.yaml", ".yaml"])
        by_type = st.builds(lambda name, data: Upload(name, data), names, red_lists(ids))
    else:
        raise AssertionError(f"no strategy for option type {kind}: add one")
    choices = [choice["value"] for choice in spec.get("choices") or []]
    if choices:
        return st.sampled_from(choices) | st.sampled_from(choices) | st.sampled_from(choices) | by_type
    return by_type


def command_cases(commands: list[Leaf], ids: Ids) -> st.SearchStrategy[dict[str, Any]]:
    """A slash command, its options (the required ones and any of the others), who runs it and where."""

    def for_leaf(leaf: Leaf) -> st.SearchStrategy[dict[str, Any]]:
        required = {o["name"]: option_values(o, ids) for o in leaf.options if o.get("required")}
        optional = {o["name"]: option_values(o, ids) for o in leaf.options if not o.get("required")}
        return st.fixed_dictionaries(
            {
                "command": st.just(leaf),
                "options": st.fixed_dictionaries(required, optional=optional),
                "user": st.sampled_from(["alice", "bob", "mod", "admin"]),
                "place": st.sampled_from(PLACES),
            }
        )

    return st.sampled_from(commands).flatmap(for_leaf)


def _dm_allowed(live: LiveBot, leaf: Leaf) -> bool:
    command = next(c for c in live.twin.commands() if c["name"] == leaf.name)
    contexts = command.get("contexts")
    if contexts is not None:
        return 1 in contexts
    return command.get("dm_permission", True) is not False


def _channel(live: LiveBot, place: str, user: str) -> int:
    world = live.world
    return {"general": world.general, "thread": world.thread, "lounge": world.lounge}.get(place) or world.dms[user]


async def _run_command(live: LiveBot, case: dict[str, Any]) -> None:
    leaf: Leaf = case["command"]
    place = case["place"] if case["place"] != "dm" or _dm_allowed(live, leaf) else "general"
    channel = _channel(live, place, case["user"])
    interaction = await live.twin.send_slash_command(
        channel,
        live.world.users[case["user"]],
        leaf.name,
        case["options"],
        subcommand=leaf.subcommand,
        group=leaf.group,
    )
    [first, *_] = await interaction.wait_for_responses(1, timeout=10)
    if first["kind"] == "callback" and first["type"] == 5:  # deferred: the answer follows (Discord allows minutes)
        await interaction.wait_for_responses(2, timeout=30)


def test_every_slash_command_option(live: LiveBot, cases: CaseCounter) -> None:
    commands = live.command_leaves()
    assert len(commands) >= 20
    ran: set[str] = set()

    @settings(max_examples=scaled(1200))
    @given(case=command_cases(commands, live.ids))
    def check(case: dict[str, Any]) -> None:
        async def run() -> list[str]:
            await _run_command(live, case)
            return live.problems()

        _fail_on(live.call(run), case)
        ran.add(case["command"].qualified_name)
        cases.add()

    by_name = {leaf.qualified_name: leaf for leaf in commands}
    for name, options, user, place in COMMAND_REGRESSIONS:
        check = example(case={"command": by_name[name], "options": options, "user": user, "place": place})(check)
    check()
    assert ran == {leaf.qualified_name for leaf in commands}
    assert live.call(_async(live.ping_problems)) == []


def _async(function: Any) -> Any:
    async def run() -> Any:
        return function()

    return run


# ------------------------------------------------------------------------------------------------ buttons
GROUP = re.compile(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)")


def custom_ids(templates: list[re.Pattern[str]], seen: dict[str, set[str]], ids: Ids) -> st.SearchStrategy[str]:
    """Custom ids matching a button template, its parts drawn from the regex, from real ids, or edge values."""
    edge = ["0", "1", "2", "3", "9", "٣", "0001", "9" * 19, "9" * 40, *map(str, ids.users), "start", "leave", "john"]

    def from_template(template: re.Pattern[str]) -> st.SearchStrategy[str]:
        parts: list[st.SearchStrategy[str]] = []
        position = 0
        for group in GROUP.finditer(template.pattern):
            parts.append(st.just(template.pattern[position : group.start()].replace("\\", "")))
            pattern = re.compile(group[2])
            picks = [v for v in [*edge, *sorted(seen.get(group[1], ()))] if pattern.fullmatch(v)]
            picked = st.sampled_from(picks) if picks else st.from_regex(pattern, fullmatch=True)
            parts.append(st.from_regex(pattern, fullmatch=True) | picked | picked)
            position = group.end()
        parts.append(st.just(template.pattern[position:]))
        return st.tuples(*parts).map("".join)

    matching = st.sampled_from(templates).flatmap(from_template).filter(lambda cid: len(cid) <= 100)
    others = st.text(min_size=1, max_size=100) | st.sampled_from(["t2:", "t2:forget:maybe:1", "t2:trivia:1:1:10"])
    return st.one_of(matching, matching, matching, matching, others)


async def _lobby_and_game(live: LiveBot) -> None:
    """A multiple-choice trivia game in #general and a story lobby with two players in #lounge."""
    twin, world = live.twin, live.world
    start = await twin.send_slash_command(
        world.general, world.users["alice"], "trivia", {"mode": "choice", "questions": 50}, subcommand="start"
    )
    await start.wait_for_answers(1)
    story = await twin.send_slash_command(world.lounge, world.users["bob"], "story", subcommand="start")
    await story.wait_for_answers(1)
    join = await twin.send_slash_command(
        world.lounge, world.users["alice"], "story", {"role": "john"}, subcommand="join"
    )
    await join.wait_for_answers(1)
    await twin.wait_until(lambda: twin.messages.get(world.general), 10.0, what="the first question")


def _button_ids(live: LiveBot) -> list[str]:
    found = []
    for message in list(live.twin.world.messages.values()):
        for row in message.get("components") or []:
            found.extend(c["custom_id"] for c in row.get("components") or [] if "custom_id" in c)
    return found


def test_every_button_custom_id(live: LiveBot, cases: CaseCounter) -> None:
    items = live.dynamic_items()
    templates = [item.__discord_ui_compiled_template__ for item in items]  # type: ignore[attr-defined]
    assert {t.pattern.split(":")[1] for t in templates} >= {"forget", "trivia", "story"}
    live.call(lambda: _lobby_and_game(live))
    seen: dict[str, set[str]] = {}
    for custom_id in _button_ids(live):
        for template in templates:
            match = template.fullmatch(custom_id)
            for key, value in (match.groupdict() if match else {}).items():
                seen.setdefault(key, set()).add(value)
    carriers = {}
    for place in ("general", "lounge"):
        channel = _channel(live, place, "alice")

        async def carrier(channel: int = channel) -> int:
            await live.twin.send_message(channel, live.world.users["bob"], f"<@{live.twin.bot_user.id}> hi")
            return int((await live.twin.wait_for_messages(channel, len(live.twin.messages[channel]) + 1))[-1]["id"])

        carriers[place] = live.call(carrier)
    matched: set[str] = set()

    @settings(max_examples=scaled(800))
    @given(
        custom_id=custom_ids(templates, seen, live.ids),
        user=st.sampled_from(["alice", "bob", "mod", "admin"]),
        place=st.sampled_from(sorted(carriers)),
    )
    def check(custom_id: str, user: str, place: str) -> None:
        template = next((t for t in templates if t.fullmatch(custom_id)), None)

        async def run() -> list[str]:
            channel, message_id = _channel(live, place, user), carriers[place]
            button = {"type": 2, "style": 1, "label": "?", "custom_id": custom_id}
            live.twin.world.messages[message_id]["components"] = [{"type": 1, "components": [button]}]
            click = await live.twin.click_button(channel, live.world.users[user], message_id, custom_id)
            if template is not None:
                await click.wait_for_responses(1, timeout=10)
            else:
                await asyncio.sleep(0.01)
            return live.problems()

        _fail_on(live.call(run), custom_id)
        if template is not None:
            matched.add(template.pattern)
        cases.add()

    check()
    assert matched == {t.pattern for t in templates}
    assert live.call(_async(live.ping_problems)) == []


# ------------------------------------------------------------------------------------------------ messages
def test_messages_to_the_bot(live: LiveBot, cases: CaseCounter) -> None:
    world, bot_id = live.world, live.twin.bot_user.id
    carrier: dict[str, int] = {}

    async def first_reply() -> None:
        await live.twin.send_message(world.general, world.users["bob"], f"<@{bot_id}> sarah, who is dyson?")
        carrier["id"] = int((await live.twin.wait_for_messages(world.general, 1))[-1]["id"])

    live.call(first_reply)

    @settings(max_examples=scaled(1200))
    @given(
        text=messages(live.ids),
        how=st.sampled_from(["mention", "mention-after", "thread", "dm", "auto", "reply"]),
        user=st.sampled_from(["alice", "bob", "mod", "admin"]),
    )
    def check(text: str, how: str, user: str) -> None:
        async def run() -> list[str]:
            twin, author = live.twin, world.users[user]
            channel = {"thread": world.thread, "dm": world.dms[user], "auto": world.auto}.get(how, world.general)
            content = {
                "mention": f"<@{bot_id}> {text}",
                "mention-after": f"{text} <@!{bot_id}>",
                "thread": f"<@{bot_id}>{text}",
            }
            before = len(twin.messages[channel])
            reference = carrier["id"] if how == "reply" else None
            await twin.send_message(channel, author, content.get(how, text), referenced_message_id=reference)
            if how != "auto" or text:
                await twin.wait_for_messages(channel, before + 1, timeout=10)
            return live.problems()

        _fail_on(live.call(run), (how, user, text[:300]))
        cases.add()

    check()
    assert live.posts_checked > 0
    assert live.call(_async(live.ping_problems)) == []

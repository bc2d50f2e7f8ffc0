"""The model backend through Discord: the real client against the loopback Discord and the loopback model server.
A moderator turns it on per server; a guarded model reply is posted (edited in while it streams, when it is long),
anything else gives the offline reply, and nothing the guard refuses is ever shown."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.discord.client import CompanionBot
from bot.discord.streaming import EDIT_EVERY_S
from db.chat import ConversationRepository, StoredMessage
from tests.modeltwin import (
    Behaviour,
    ModelTwin,
    cut,
    grounded,
    hang,
    malformed,
    plain,
    refuse_structured,
    slow,
    status,
)
from tests.twin import DiscordTwin, run_client

pytest_plugins = ["tests.twin.fixtures", "tests.modeltwin.discord_fixtures"]

DATE = "f-judgment-day-date"
ASK = "john, when is judgment day?"
LONG = (
    "Listen. My mom drilled it into me since I was a kid: August 29, 1997 is Judgment Day. "
    "She says the machines start the war that day. Nobody believes her, and they locked her up for saying it. "
    "I used to think she was crazy too. Now I'm not so sure, man. "
    "She made me learn the date by heart, like a drill. August 29, 1997. That's Judgment Day, man."
)
STREAM_CHUNK_S = 0.03
"""The slow model's pause between streamed events: a long reply takes about a second."""


async def test_a_moderator_turns_the_model_on_and_its_guarded_replies_are_posted(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, model: ModelTwin
) -> None:
    channel, mention = world["general"].id, f"<@{twin.bot_user.id}>"
    async with run_client(twin, CompanionBot(settings)):
        refused = await twin.send_slash_command(
            channel, world["alice"].id, "persona", {"state": "on"}, subcommand="model"
        )
        await refused.wait_for_answers(1)
        await twin.send_message(channel, world["alice"].id, f"{mention} john, when is judgment day?")
        [offline] = await twin.wait_for_messages(channel, 1)
        assert model.requests == []  # not on yet
        turned = await twin.send_slash_command(
            channel, world["admin"].id, "persona", {"state": "on"}, subcommand="model"
        )
        await turned.wait_for_answers(1)
        model.script(
            grounded("Mom made sure I know it: August 29, 1997.", [DATE]),
            grounded("August 29, 1997. Kyle Reese told her, back in 1984. @everyone", [DATE]),
        )
        await twin.send_message(channel, world["alice"].id, f"{mention} john, when is judgment day?")
        await twin.send_message(channel, world["alice"].id, f"{mention} john, and what date again?")
        _, modelled, guarded = await twin.wait_for_messages(channel, 3)
        why = await twin.send_slash_command(channel, world["alice"].id, "why")
        [explained] = await why.wait_for_answers(1)
    assert refused.answers[0]["ephemeral"] is True and "Manage Server" in refused.answers[0]["data"]["content"]
    assert "1997" in offline["content"]
    assert "now worded by the model" in turned.answers[0]["data"]["content"]
    assert modelled["content"] == "Mom made sure I know it: August 29, 1997."
    assert modelled["raw"]["username"] == "John Connor" and modelled["raw"]["allowed_mentions"] == {"parse": []}
    assert "Kyle" not in guarded["content"] and "@everyone" not in guarded["content"]  # the offline reply instead
    assert "1997" in guarded["content"]
    assert len(model.requests) == 2
    assert "worded by the language model" not in explained["data"]["content"]  # the last reply was the offline one
    assert DATE in explained["data"]["content"]


async def test_without_a_configured_model_the_command_says_so(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/plain.db", discord_token="twin-token")
    async with run_client(twin, CompanionBot(settings)):
        asked = await twin.send_slash_command(
            world["general"].id, world["admin"].id, "persona", {"state": "on"}, subcommand="model"
        )
        [answer] = await asked.wait_for_answers(1)
    assert answer["ephemeral"] is True and "No language model is configured" in answer["data"]["content"]


def _settings(tmp_path: Path, model: ModelTwin, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/model.db",
        "discord_token": "twin-token",
        "llm_base_url": model.base_url,
        "llm_model": model.model,
        "llm_timeout_s": 3,
    }
    return Settings(**(values | overrides))


async def _model_on(bot: CompanionBot, guild_id: int) -> None:
    policy = bot.app.chat.model_policy
    assert policy is not None
    await policy.set_enabled(guild_id, True)


async def _answered(twin: DiscordTwin, bot: CompanionBot, channel: int, count: int) -> list[dict[str, Any]]:
    """The channel's bot messages once ``count`` are there and every reply is posted in full (none is in flight)."""
    return await twin.wait_until(
        lambda: (
            list(twin.messages[channel])
            if len(twin.messages[channel]) >= count and not bot.outbox.busy_keys()
            else None
        ),
        5.0,
        what=f"{count} replies posted in full",
    )


async def _stored(bot: CompanionBot, user_id: int, channel: int) -> StoredMessage:
    async with bot.app.sessions() as session:
        stored = await ConversationRepository(session).last_reply(f"discord:{user_id}", f"channel:{channel}")
    assert stored is not None
    return stored


def _everything_sent(twin: DiscordTwin) -> str:
    """Every body the bot sent to Discord: posts, edits, webhook calls, interaction answers."""
    return "\n".join(json.dumps(request.json) for request in twin.requests if request.json is not None)


def _said(message: dict[str, Any]) -> str:
    """What a message (or an edit) says: its text, or its embed's when the persona posted as an embed."""
    embeds = message.get("embeds")
    return str(embeds[0]["description"] if embeds else message["content"])


def _edits(twin: DiscordTwin, message: dict[str, Any]) -> list[Any]:
    return [r for r in twin.requests if r.method == "PATCH" and r.path.endswith(f"/messages/{message['id']}")]


@pytest.mark.parametrize(
    ("behaviour", "invented"),
    [
        (malformed(), None),
        (status(429), None),
        (status(500), None),
        (cut(grounded(LONG, [DATE]), 70), None),
        (grounded("Mom says August 29, 1997. Kyle Reese told her.", [DATE]), "Kyle"),
        (grounded("Mom says August 29, 1997, and the war goes on until 2029.", [DATE]), "2029"),
        (grounded("Mom says August 29, 1997. Three billion people die.", [DATE]), "billion"),
        (grounded("Mom says Judgment Day is coming, man.", [DATE, "f-not-in-the-prompt"]), "coming, man"),
        (plain("Mom says Judgment Day is coming, man."), "coming, man"),  # JSON was asked for and accepted
    ],
    ids=[
        "malformed",
        "429",
        "500",
        "cut",
        "invented-name",
        "invented-date",
        "invented-number",
        "uncited-fact",
        "plain-when-json-asked",
    ],
)
async def test_an_answer_that_is_not_a_guarded_reply_gives_the_offline_one(
    twin: DiscordTwin,
    world: dict[str, Any],
    tmp_path: Path,
    model: ModelTwin,
    behaviour: Behaviour,
    invented: str | None,
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(behaviour)
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [posted] = await _answered(twin, bot, channel, 1)
        stored = await _stored(bot, alice, channel)
    assert len(model.requests) == 1 and model.requests[0].behaviour is not None
    assert stored.backend is None and posted["content"] == stored.text  # the offline reply, posted as stored
    assert "1997" in posted["content"] and posted["raw"]["username"] == "John Connor"
    assert posted["edits"] == []  # nothing was shown before the answer was refused
    if invented is not None:
        assert invented not in _everything_sent(twin)


async def test_a_model_that_hangs_past_the_timeout_shows_typing_then_the_offline_reply(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(hang(30, grounded("Mom says August 29, 1997. Kyle Reese told her.", [DATE])))
    async with run_client(twin, CompanionBot(_settings(tmp_path, model, llm_timeout_s=0.6))) as bot:
        await _model_on(bot, world["guild"].id)
        sent = await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [posted] = await _answered(twin, bot, channel, 1)
        stored = await _stored(bot, alice, channel)
    typing = [r for r in twin.requests if r.method == "POST" and r.path == f"/channels/{channel}/typing"]
    [post] = [
        r for r in twin.requests if r.method == "POST" and r.path.startswith(f"/webhooks/{posted['webhook_id']}/")
    ]
    assert typing and typing[0].time < post.time  # "typing" showed while the model was waited for
    assert post.time - typing[0].time >= 0.2
    assert stored.backend is None and posted["content"] == stored.text and "Kyle" not in _everything_sent(twin)
    assert int(posted["id"]) > int(sent["id"])


@pytest.mark.parametrize("webhooks", [True, False], ids=["webhook", "embed"])
async def test_a_long_reply_is_posted_while_it_streams_then_edited_at_discord_pace(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin, webhooks: bool
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    if not webhooks:  # the persona's replies are embeds the bot posts, edited through the channel's messages
        twin.deny_bot_permission(channel, "manage_webhooks")
    model.script(slow(grounded(LONG, [DATE]), STREAM_CHUNK_S))
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [posted] = await _answered(twin, bot, channel, 1)
        stored = await _stored(bot, alice, channel)
        why = await twin.send_slash_command(channel, alice, "why")
        [explained] = await why.wait_for_answers(1)
    first = _said(posted["raw"])
    shown = [first, *(_said(edit) for edit in posted["edits"])]
    assert len(first) < len(LONG) and LONG.startswith(first)  # posted before the answer was complete
    assert all(LONG.startswith(text) and text.endswith((".", "?", "!")) for text in shown)  # whole sentences
    assert all(len(later) > len(earlier) for earlier, later in pairwise(shown))
    assert _said(posted) == LONG == stored.text and stored.backend == "model"
    posts = f"/webhooks/{posted['webhook_id']}/" if webhooks else f"/channels/{channel}/messages"
    [post] = [r for r in twin.requests if r.method == "POST" and r.path.startswith(posts)]
    edits = _edits(twin, posted)
    assert len(edits) == len(posted["edits"]) >= 1
    assert all(later.time - earlier.time >= EDIT_EVERY_S - 0.01 for earlier, later in pairwise([post, *edits]))
    assert all(edit.json["allowed_mentions"] == {"parse": []} for edit in edits)
    typing = [r for r in twin.requests if r.method == "POST" and r.path == f"/channels/{channel}/typing"]
    assert all(request.time < post.time for request in typing)  # no more "typing" once the first part is out
    assert "worded by the language model" in explained["data"]["content"] and DATE in explained["data"]["content"]


@pytest.mark.parametrize(
    ("behaviour", "never_shown", "timeout_s"),
    [
        (cut(grounded(LONG, [DATE]), 300), None, 3.0),
        (grounded(LONG, [DATE]), None, 0.8),  # LLM_TIMEOUT_S runs out before the answer is complete
        (
            grounded(LONG.replace("I used to think", "Kyle Reese told her in 1984. I used to think"), [DATE]),
            "Kyle",
            3.0,
        ),
    ],
    ids=["cut", "timeout", "invented"],
)
async def test_a_streamed_reply_refused_at_the_end_is_edited_to_the_offline_one(
    twin: DiscordTwin,
    world: dict[str, Any],
    tmp_path: Path,
    model: ModelTwin,
    behaviour: Behaviour,
    never_shown: str | None,
    timeout_s: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(slow(behaviour, STREAM_CHUNK_S))
    monkeypatch.setattr("bot.discord.streaming.EDIT_EVERY_S", 0.5)  # edits while the refused part streams in
    async with run_client(twin, CompanionBot(_settings(tmp_path, model, llm_timeout_s=timeout_s))) as bot:
        await _model_on(bot, world["guild"].id)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [posted] = await _answered(twin, bot, channel, 1)
        stored = await _stored(bot, alice, channel)
        assert await bot.outbox.depth() == 0
    first = posted["raw"]["content"]
    assert LONG.startswith(first) and first.startswith("Listen.")  # the guarded sentences were shown
    assert stored.backend is None and posted["content"] == stored.text != first  # then replaced by the offline reply
    assert posted["edits"][-1]["content"] == stored.text and len(twin.messages[channel]) == 1
    if never_shown is not None:  # edited while the answer streamed on past the refused sentence, which never showed
        assert len(posted["edits"]) >= 2 and never_shown not in _everything_sent(twin)


async def test_a_server_without_structured_output_gets_asked_again_and_its_guarded_reply_is_posted(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(refuse_structured(plain("Mom made sure I know it: August 29, 1997.")))
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [posted] = await _answered(twin, bot, channel, 1)
        stored = await _stored(bot, alice, channel)
    asked, again = model.requests
    assert "response_format" in asked.json and "response_format" not in again.json
    assert posted["content"] == "Mom made sure I know it: August 29, 1997." == stored.text
    assert stored.backend == "model"


async def test_past_the_daily_budget_the_offline_engine_answers(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(grounded("Mom made sure I know it: August 29, 1997.", [DATE]))
    async with run_client(twin, CompanionBot(_settings(tmp_path, model, llm_daily_tokens=60))) as bot:
        turned = await twin.send_slash_command(
            channel, world["admin"].id, "persona", {"state": "on"}, subcommand="model"
        )
        await turned.wait_for_answers(1)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [modelled] = await _answered(twin, bot, channel, 1)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        _, offline = await _answered(twin, bot, channel, 2)
        stored = await _stored(bot, alice, channel)
    assert "0 of 60 tokens" in turned.answers[0]["data"]["content"]
    assert modelled["content"] == "Mom made sure I know it: August 29, 1997."
    assert len(model.requests) == 1  # the budget was spent: the model was not asked again
    assert stored.backend is None and offline["content"] == stored.text and "1997" in offline["content"]


async def test_a_streamed_reply_whose_last_edit_failed_is_edited_from_the_outbox_not_posted_again(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    reply = LONG.split(" I used to think")[0]  # long enough to be shown while it streams, too short for a second edit
    model.script(slow(grounded(reply, [DATE]), STREAM_CHUNK_S))
    twin.fail_next(1, status=403, code=50013, method="PATCH", path_contains="/messages/")
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [shown] = await _answered(twin, bot, channel, 1)
        assert shown["content"] != reply and await bot.outbox.depth() == 1  # the final edit failed: still waiting
        monkeypatch.setattr("bot.discord.outbox.GRACE_S", 0.0)
        assert await bot.outbox.drain() == 1
        stored = await _stored(bot, alice, channel)
        assert await bot.outbox.depth() == 0
    [posted] = twin.messages[channel]
    assert posted["content"] == reply == stored.text and stored.backend == "model"
    posts = [r for r in twin.requests if r.method == "POST" and r.path.startswith(f"/webhooks/{posted['webhook_id']}/")]
    assert len(posts) == 1 and [edit["content"] for edit in posted["edits"]] == [reply]


async def test_a_streaming_reply_whose_message_was_deleted_is_posted_again_in_full(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(slow(grounded(LONG, [DATE]), STREAM_CHUNK_S))
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        await twin.send_message(channel, alice, f"<@{twin.bot_user.id}> {ASK}")
        [shown] = await twin.wait_for_messages(channel, 1)
        await twin.delete_user_message(channel, int(shown["id"]))  # a moderator removes it while it streams
        _, posted = await _answered(twin, bot, channel, 2)
        stored = await _stored(bot, alice, channel)
        assert await bot.outbox.depth() == 0
    assert shown.get("deleted") and not posted.get("deleted")
    assert posted["content"] == LONG == stored.text and stored.backend == "model"


def _original_edits(twin: DiscordTwin) -> list[Any]:
    """The edits of interaction responses ("thinking..." replaced, then edited while the reply streams)."""
    return [r for r in twin.requests if r.method == "PATCH" and r.path.endswith("/messages/@original")]


async def _talked(twin: DiscordTwin, talk: Any, final: Callable[[str], bool]) -> dict[str, Any]:
    """The /talk response once it shows a ``final`` reply."""

    def shown() -> dict[str, Any] | None:
        original = talk.original_message
        return original if original is not None and original["embeds"] and final(_said(original)) else None

    return await twin.wait_until(shown, 5.0, what="/talk answered")


async def test_talk_shows_a_long_reply_while_it_streams_by_editing_its_response(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(slow(grounded(LONG, [DATE]), STREAM_CHUNK_S))
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        talk = await twin.send_slash_command(channel, alice, "talk", {"persona": "john", "message": ASK[6:]})
        answered = await _talked(twin, talk, lambda said: said == LONG)
        stored = await _stored(bot, alice, channel)
    edits = _original_edits(twin)
    shown = [_said(edit.json) for edit in edits]
    assert len(edits) >= 2 and len(shown[0]) < len(LONG)  # shown before the answer was complete, then edited
    assert all(LONG.startswith(text) and text.endswith((".", "?", "!")) for text in shown)  # whole sentences
    assert all(len(later) > len(earlier) for earlier, later in pairwise(shown))
    assert all(later.time - earlier.time >= EDIT_EVERY_S - 0.01 for earlier, later in pairwise(edits))
    assert all(edit.json["allowed_mentions"] == {"parse": []} for edit in edits)
    assert _said(answered) == LONG == stored.text and stored.backend == "model"
    assert answered["embeds"][0]["author"]["name"] == "John Connor"
    assert [r["kind"] for r in talk.responses] == ["callback"] + ["edit_original"] * len(edits)  # never sent twice


async def test_talk_shows_the_offline_reply_when_the_streamed_one_is_refused_at_the_end(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    invented = LONG.replace("I used to think", "Kyle Reese told her in 1984. I used to think")
    model.script(slow(grounded(invented, [DATE]), STREAM_CHUNK_S))
    monkeypatch.setattr("bot.discord.streaming.EDIT_EVERY_S", 0.5)  # edits while the refused part streams in
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        talk = await twin.send_slash_command(channel, alice, "talk", {"persona": "john", "message": ASK[6:]})
        answered = await _talked(twin, talk, lambda said: not LONG.startswith(said))
        stored = await _stored(bot, alice, channel)
    edits = _original_edits(twin)
    shown = [_said(edit.json) for edit in edits]
    assert len(model.requests) == 1 and shown[0].startswith("Listen.") and LONG.startswith(shown[0])
    assert stored.backend is None and "1997" in stored.text  # the offline reply ...
    assert _said(answered) == shown[-1] == stored.text != shown[0]  # ... replaced what was shown
    assert "Kyle" not in _everything_sent(twin)
    assert [r["kind"] for r in talk.responses] == ["callback"] + ["edit_original"] * len(edits)


async def test_talk_whose_answer_was_deleted_while_it_streamed_sends_the_reply_anew(
    twin: DiscordTwin, world: dict[str, Any], tmp_path: Path, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    model.script(slow(grounded(LONG, [DATE]), STREAM_CHUNK_S))
    async with run_client(twin, CompanionBot(_settings(tmp_path, model))) as bot:
        await _model_on(bot, world["guild"].id)
        talk = await twin.send_slash_command(channel, alice, "talk", {"persona": "john", "message": ASK[6:]})
        await twin.wait_until(lambda: _original_edits(twin), 5.0, what="the answer shown while it streams")
        shown = talk.original_message
        assert shown is not None
        await twin.delete_user_message(channel, int(shown["id"]))  # a moderator removes it while it streams
        [*_, answer] = await talk.wait_for_answers(2)
        stored = await _stored(bot, alice, channel)
    assert answer["kind"] == "followup" and answer["message"]["id"] != shown["id"]
    assert _said(answer["data"]) == LONG == stored.text and talk.followups == [answer["message"]]
    assert [edit.status for edit in _original_edits(twin)] == [200, 404]  # found gone, then left alone

"""Character cards through Discord: the real client against the loopback Discord and the loopback model server.
A moderator imports a card as an attachment; its character then answers by name, or to a reply to its post,
posting under its own name."""

from __future__ import annotations

import json
from typing import Any

from bot.cards.model import card_to_json
from bot.cards.png import card_png
from bot.cards.validation import parse_card
from bot.config import Settings
from bot.discord.client import CompanionBot
from tests.modeltwin import ModelTwin, grounded
from tests.test_guild_cards import dyson_card, restyle_card
from tests.twin import DiscordTwin, run_client
from tests.twin.state import Upload

pytest_plugins = ["tests.twin.fixtures", "tests.modeltwin.discord_fixtures"]

PROCESSOR = "f-dyson-neural-net-processor"


async def test_a_moderator_imports_a_card_and_its_character_answers_by_name(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, model: ModelTwin
) -> None:
    channel, mention = world["general"].id, f"<@{twin.bot_user.id}>"
    png = card_png(json.dumps(card_to_json(parse_card(dyson_card()).card)), 0x334455)
    bad = json.dumps(restyle_card("kyle")).encode()

    async def card(user: str, action: str, **options: Any) -> dict[str, Any]:
        asked = await twin.send_slash_command(
            channel, world[user].id, "persona", options, group="card", subcommand=action
        )
        [answer] = await asked.wait_for_answers(1)
        return answer

    async with run_client(twin, CompanionBot(settings)):
        refused = await card("alice", "import", file=Upload("dyson.png", png))
        invalid = await card("admin", "import", file=Upload("kyle.json", bad))
        imported = await card("admin", "import", file=Upload("dyson.png", png))
        listed = await card("alice", "list")
        who = await twin.send_slash_command(channel, world["alice"].id, "persona", subcommand="list")
        [everyone] = await who.wait_for_answers(1)
        turned = await twin.send_slash_command(
            channel, world["admin"].id, "persona", {"state": "on"}, subcommand="model"
        )
        await turned.wait_for_answers(1)
        model.script(grounded("I'm working on a revolutionary new neural net processor.", [PROCESSOR]))
        await twin.send_message(channel, world["alice"].id, f"{mention} dyson, what are you working on?")
        [posted] = await twin.wait_for_messages(channel, 1)
        model.script(grounded("It will form the basis for Skynet.", ["f-processor-basis-for-skynet"]))
        await twin.send_message(channel, world["alice"].id, "what will it do?", referenced_message_id=int(posted["id"]))
        _, replied = await twin.wait_for_messages(channel, 2)
        why = await twin.send_slash_command(channel, world["alice"].id, "why")
        [explained] = await why.wait_for_answers(1)
        removed = await card("admin", "remove", name="Miles Dyson")
        await twin.send_message(channel, world["alice"].id, f"{mention} dyson, what are you working on?")
        *_, after = await twin.wait_for_messages(channel, 3)
    assert all(answer["ephemeral"] for answer in (refused, invalid, imported, listed, explained, removed))
    assert "Manage Server" in refused["data"]["content"]
    assert "data.extensions.t2-companion.persona" in invalid["data"]["content"]
    assert "unknown persona 'kyle'" in invalid["data"]["content"]
    assert "Miles Dyson" in imported["data"]["content"]
    assert "John Connor knows by scene 5" in imported["data"]["content"]
    assert "**Miles Dyson**: a character (`dyson`)" in listed["data"]["content"]
    fields = [field["name"] for field in everyone["data"]["embeds"][0]["fields"]]
    assert fields == ["John Connor", "Sarah Connor", "T-800", "Miles Dyson (start a message with dyson)"]
    assert posted["content"] == "I'm working on a revolutionary new neural net processor."
    assert posted["raw"]["username"] == "Miles Dyson" and posted["raw"]["allowed_mentions"] == {"parse": []}
    assert (replied["raw"]["username"], replied["content"]) == ("Miles Dyson", "It will form the basis for Skynet.")
    assert "in the voice of the card Miles Dyson" in explained["data"]["content"]
    assert "f-processor-basis-for-skynet" in explained["data"]["content"]
    assert "Removed Miles Dyson." in removed["data"]["content"]
    assert after["raw"]["username"] == "John Connor"  # no character any more: John answers about Dyson
    assert len(model.requests) == 3


async def _import_dyson(twin: DiscordTwin, world: dict[str, Any]) -> None:
    asked = await twin.send_slash_command(
        world["general"].id,
        world["admin"].id,
        "persona",
        {"file": Upload("dyson.json", json.dumps(dyson_card()).encode())},
        group="card",
        subcommand="import",
    )
    [imported] = await asked.wait_for_answers(1)
    assert "Miles Dyson" in imported["data"]["content"]


async def test_talk_reaches_a_card_character_chosen_from_the_persona_names(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_client(twin, CompanionBot(settings)) as bot:
        before = await twin.send_autocomplete(channel, alice, "talk", {"persona": ""}, focused="persona")
        await before.wait_for_responses(1)
        await _import_dyson(twin, world)
        policy = bot.app.chat.model_policy
        assert policy is not None
        await policy.set_enabled(world["guild"].id, True)
        typed = await twin.send_autocomplete(channel, alice, "talk", {"persona": "dy"}, focused="persona")
        everyone = await twin.send_autocomplete(channel, alice, "talk", {"persona": ""}, focused="persona")
        await typed.wait_for_responses(1)
        await everyone.wait_for_responses(1)
        model.script(grounded("I'm working on a revolutionary new neural net processor.", [PROCESSOR]))
        talk = await twin.send_slash_command(
            channel, alice, "talk", {"persona": "Miles Dyson", "message": "what are you working on?"}
        )
        [answer] = await talk.wait_for_answers(1)
    assert [choice["name"] for choice in before.autocomplete_choices or []] == ["John Connor", "Sarah Connor", "T-800"]
    assert typed.autocomplete_choices == [{"name": "Miles Dyson", "value": "dyson"}]
    names = [choice["name"] for choice in everyone.autocomplete_choices or []]
    assert names == ["John Connor", "Sarah Connor", "T-800", "Miles Dyson"]
    [embed] = answer["data"]["embeds"]
    assert answer["ephemeral"] is False and embed["author"]["name"] == "Miles Dyson"
    assert embed["description"] == "I'm working on a revolutionary new neural net processor."
    assert len(model.requests) == 1 and "Miles Dyson" in json.dumps(model.requests[0].json)


async def test_talk_to_a_name_nobody_has_here_is_told_privately_who_there_is(
    twin: DiscordTwin, world: dict[str, Any], settings: Settings, model: ModelTwin
) -> None:
    channel, alice = world["general"].id, world["alice"].id
    async with run_client(twin, CompanionBot(settings)):
        await _import_dyson(twin, world)
        talk = await twin.send_slash_command(channel, alice, "talk", {"persona": "Kyle Reese", "message": "hi"})
        [answer] = await talk.wait_for_answers(1)
    assert answer["ephemeral"] is True and [r["kind"] for r in talk.responses] == ["callback"]  # no "thinking..."
    assert answer["data"]["content"] == (
        "There is no one called 'Kyle Reese' to talk to here. "
        "Choose one of: John Connor, Sarah Connor, T-800, Miles Dyson."
    )
    assert model.requests == []

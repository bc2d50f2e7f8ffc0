"""/story commands, the button handler and the ticker that lets the story clock run; a thin layer on StoryService."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import is_moderator
from bot.discord.client import CompanionBot, Refusal, defer_answer, send_ephemeral, send_public, tell_fault
from bot.discord.cogs.chat.listener import scope_of, user_key
from bot.discord.cogs.story.buttons import StoryButton, narration_messages, prompt_view, story_embeds
from bot.discord.log_context import channel_context
from bot.discord.outbox import Progress
from bot.discord.personas_out import NO_MENTIONS
from bot.story import TURN_ORDERS, Post, StoryRefusal
from bot.story.outbox import discord_channel, posts_from_payload
from db.outbox import OutboxEntry
from personas.roster import PERSONAS
from personas.story import ROLES

__all__ = ["TICK_SECONDS", "StoryCog"]

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
ROLE_CHOICES = [
    app_commands.Choice(name=PERSONAS[role].display_name if role in PERSONAS else "Resistance fighter", value=role)
    for role in ROLES
]
ORDER_CHOICES = [app_commands.Choice(name=order, value=order) for order in TURN_ORDERS]

Place = discord.TextChannel | discord.Thread | discord.abc.Messageable
_UNANSWERED = (discord.HTTPException, TimeoutError, OSError)
"""What answering an interaction may fail with (it expired, Discord failed)."""


class StoryCog(commands.Cog, name="StoryCog"):
    """/story start|join|leave|status|recap|skip|end|export and the story buttons."""

    story_group = app_commands.Group(name="story", description="Play through Terminator 2 together", guild_only=True)

    def __init__(self, bot: CompanionBot) -> None:
        self.bot = bot
        self._ticker: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        """Read the running sessions, restart their clocks, and start the ticker."""
        await self.bot.app.story.load()
        await self.bot.app.story.restart_clocks()
        self.bot.outbox.register("story", self._post_leftover)
        self._ticker = asyncio.create_task(self._tick_forever(), name="story-ticker")

    async def cog_unload(self) -> None:
        """Stop the ticker and freeze every running vote or turn with the time it has left."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        try:
            await self.bot.app.story.suspend()
        except Exception:
            log.exception("could not freeze the story clocks before shutting down")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                for tick in await self.bot.app.story.tick():
                    channel = await self._channel(tick.scope)
                    if channel is not None:
                        with channel_context(self.bot, discord_channel(tick.scope) or 0):
                            await self.publish(channel, tick.posts, tick.outbox_key)
            except Exception:
                log.exception("the story ticker failed; it keeps running")

    async def _channel(self, scope: str) -> Place | None:
        channel_id = int(scope.partition(":")[2] or 0)
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException:
                log.warning("story channel %s is gone", channel_id)
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def publish(self, channel: Place, posts: Sequence[Post], outbox_key: str | None = None) -> None:
        """Post narration as the bot and persona lines through the persona poster, in order.

        The change behind the posts is already stored. Posts stored with it in the outbox (``outbox_key``) are
        settled once Discord has them all; if Discord fails they are posted again later, and never twice.
        Other posts (a lobby) are posted once: a failure is logged and the story goes on.
        """
        if outbox_key is None:
            try:
                await self._publish(channel, posts)
            except (discord.HTTPException, TimeoutError):
                log.warning("could not post %d story message(s) in channel %s", len(posts), getattr(channel, "id", 0))
            return
        outbox = self.bot.outbox
        with outbox.claim(outbox_key) as mine:  # claimed after they were stored (and a reply sent, or other ticks)
            if mine:
                await outbox.send_if_waiting(outbox_key, lambda: self._publish(channel, posts, nonce=outbox_key))

    async def _post_leftover(self, channel: Place, entry: OutboxEntry, progress: Progress) -> None:
        """Post what of a stored group of story posts had not gone out."""
        posts = posts_from_payload(entry.payload or {})
        await self._publish(
            channel, posts, nonce=entry.key, first=entry.parts_sent, progress=progress, since_ms=entry.created_at_ms
        )

    async def _publish(
        self,
        channel: Place,
        posts: Sequence[Post],
        *,
        nonce: str | None = None,
        first: int = 0,
        progress: Progress | None = None,
        since_ms: int | None = None,
    ) -> None:
        """Post the posts as messages from the ``first`` on. Narration carries the nonce with its message's number;
        a persona's line, posted through a webhook that takes no nonce, is skipped when ``since_ms`` is given and
        the channel shows it already."""
        messages = narration_messages(posts)
        for number in range(first, len(messages)):
            message = messages[number]
            if isinstance(message, Post):
                assert message.persona is not None
                persona = PERSONAS[message.persona]
                out = since_ms is not None and await self.bot.outbox.parts_out(
                    channel, since_ms, persona, [message.text]
                )
                if not out:
                    await self.bot.poster.post(channel, persona, message.text)
            else:
                embeds, prompt = message
                view = prompt_view(prompt)
                extra: dict[str, Any] = {"nonce": f"{nonce}.{number}"} if nonce is not None else {}
                if view is not None:
                    extra["view"] = view
                await channel.send(embeds=embeds, allowed_mentions=NO_MENTIONS, **extra)
            if progress is not None:
                await progress(number + 1)

    async def _refused(self, interaction: discord.Interaction, refusal: StoryRefusal) -> None:
        await self._answer(interaction, str(refusal), refusal.posts, refusal.outbox_key)

    # ------------------------------------------------------------------ buttons
    async def on_button(self, interaction: discord.Interaction, button: StoryButton) -> None:
        """Lobby buttons join, leave or start; decision buttons choose, vote or break a tie."""
        story = self.bot.app.story
        user = user_key(interaction.user)
        await self._acknowledge(interaction, lobby=button.kind == "lobby")
        try:
            if button.kind != "lobby":
                outcome = await story.choose(button.session_id, button.scene, user, button.arg)
            else:
                if button.arg == "start":
                    outcome = await story.begin(button.session_id, user, can_moderate=is_moderator(interaction))
                elif button.arg == "leave":
                    outcome = await story.leave_session(button.session_id, user)
                else:
                    name = interaction.user.display_name
                    outcome = await story.join(button.session_id, user, name, button.arg)
        except StoryRefusal as refusal:
            await self._refused(interaction, refusal)
            return
        except Exception as exc:  # nothing of the click is stored: the player may click again
            await tell_fault(interaction, exc, what=f"a {button.kind} button of story session {button.session_id}")
            return
        if outcome.lobby is not None:
            lobby = outcome.lobby
            with contextlib.suppress(*_UNANSWERED):  # an expired click fails again below, where it is logged
                await interaction.edit_original_response(embeds=story_embeds(lobby), view=prompt_view(lobby.prompt))
        publish = button.kind != "lobby" or button.arg == "start"
        await self._answer(interaction, outcome.reply, outcome.posts if publish else (), outcome.outbox_key)

    @staticmethod
    async def _acknowledge(interaction: discord.Interaction, *, lobby: bool) -> None:
        """Acknowledge a click before the database is touched. A click that can no longer be acknowledged (Discord
        delivered it again after a restart, and it expired) is still carried out: what it stores is posted."""
        try:
            if lobby:
                await interaction.response.defer()  # the lobby message is edited, the reply follows privately
            else:
                await defer_answer(interaction, ephemeral=True)
        except _UNANSWERED as exc:
            log.warning("could not acknowledge interaction %s (%s); the click is carried out", interaction.id, exc)

    async def _answer(
        self, interaction: discord.Interaction, reply: str, posts: Sequence[Post], outbox_key: str | None
    ) -> None:
        """Tell the user how their action went, then post in the channel what it stored: those posts go out also
        when the user can no longer be answered (a click Discord delivered again after a restart has expired)."""
        try:
            await send_ephemeral(interaction, reply)
        except _UNANSWERED as exc:
            log.warning("could not answer interaction %s (%s); what it stored is posted", interaction.id, exc)
        if posts and interaction.channel is not None:
            await self.publish(interaction.channel, posts, outbox_key)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ commands
    @story_group.command(name="start", description="Open a story lobby here (or in a new thread)")
    @app_commands.describe(
        turn_order="list: players take turns; vote: everyone votes; natural: whoever the scene addresses",
        vote_seconds="how long a vote lasts (vote order)",
        thread="run the story in a new thread",
    )
    @app_commands.choices(turn_order=ORDER_CHOICES)
    async def start(
        self,
        interaction: discord.Interaction,
        turn_order: app_commands.Choice[str] | None = None,
        vote_seconds: app_commands.Range[int, 10, 3600] | None = None,
        thread: bool = False,
    ) -> None:
        """Open the lobby; the host is whoever ran the command."""
        channel = interaction.channel
        if channel is None or interaction.guild is None:
            raise Refusal("Stories are played in server channels.")
        place: discord.Thread | None = None
        if thread:
            if not isinstance(channel, discord.TextChannel):
                raise Refusal("A story thread can only be opened from a text channel.")
            await defer_answer(interaction, ephemeral=True)
            place = await channel.create_thread(name="T2 story", type=discord.ChannelType.public_thread)
        else:
            try:
                self.bot.app.story.check_free(scope_of(channel))
            except StoryRefusal as refusal:
                raise Refusal(str(refusal)) from None
            await defer_answer(interaction, ephemeral=False)
        try:
            outcome = await self.bot.app.story.open_lobby(
                scope_of(place or channel),
                user_key(interaction.user),
                turn_order=turn_order.value if turn_order else "vote",
                vote_seconds=vote_seconds,
                guild_id=interaction.guild.id,
            )
        except StoryRefusal as refusal:
            raise Refusal(str(refusal)) from None
        lobby = outcome.lobby
        view = prompt_view(lobby.prompt) if lobby is not None else None
        assert lobby is not None and view is not None
        if place is not None:
            await place.send(embeds=story_embeds(lobby), view=view, allowed_mentions=NO_MENTIONS)
            await send_ephemeral(interaction, f"The story lobby is open in {place.mention}.")
            return
        await send_public(interaction, embeds=story_embeds(lobby), view=view)

    @story_group.command(name="join", description="Join the story here as John, Sarah, the T-800 or a fighter")
    @app_commands.describe(role="who you play", name="your resistance fighter's name")
    @app_commands.choices(role=ROLE_CHOICES)
    async def join(
        self,
        interaction: discord.Interaction,
        role: app_commands.Choice[str],
        name: app_commands.Range[str, 1, 32] | None = None,
    ) -> None:
        """Join or change role."""
        await defer_answer(interaction, ephemeral=True)
        story = self.bot.app.story
        try:
            session_id = await story.session_id(scope_of(interaction.channel))
            outcome = await story.join(
                session_id, user_key(interaction.user), interaction.user.display_name, role.value, name
            )
        except StoryRefusal as refusal:
            raise Refusal(str(refusal)) from None
        await self._answer(interaction, outcome.reply, outcome.posts, outcome.outbox_key)

    async def _simple(self, interaction: discord.Interaction, action: str) -> None:
        await defer_answer(interaction, ephemeral=True)
        story = self.bot.app.story
        scope, user = scope_of(interaction.channel), user_key(interaction.user)
        try:
            if action == "leave":
                outcome = await story.leave(scope, user)
            elif action == "status":
                outcome = await story.status(scope)
            elif action == "recap":
                outcome = await story.recap(scope)
            elif action == "skip":
                outcome = await story.skip(scope, user, can_moderate=is_moderator(interaction))
            else:
                outcome = await story.end(scope, user, can_moderate=is_moderator(interaction))
        except StoryRefusal as refusal:
            await self._refused(interaction, refusal)
            return
        await self._answer(interaction, outcome.reply, outcome.posts, outcome.outbox_key)

    @story_group.command(name="leave", description="Leave the story here")
    async def leave(self, interaction: discord.Interaction) -> None:
        """Leave; the story goes on without you."""
        await self._simple(interaction, "leave")

    @story_group.command(name="status", description="Where the story is and whose turn it is (resumes a pause)")
    async def status(self, interaction: discord.Interaction) -> None:
        """Show the session's state."""
        await self._simple(interaction, "status")

    @story_group.command(name="recap", description="Have a persona retell the story so far")
    async def recap(self, interaction: discord.Interaction) -> None:
        """Post a retelling by a persona nobody plays."""
        await self._simple(interaction, "recap")

    @story_group.command(name="skip", description="Skip the current player or close the vote (host or Manage Messages)")
    async def skip(self, interaction: discord.Interaction) -> None:
        """Skip whoever is holding the story up."""
        await self._simple(interaction, "skip")

    @story_group.command(name="end", description="End the story now (host or Manage Messages)")
    async def end(self, interaction: discord.Interaction) -> None:
        """End with an epilogue of the choices so far."""
        await self._simple(interaction, "end")

    @story_group.command(name="export", description="The transcript of this place's latest story, as JSON")
    async def export(self, interaction: discord.Interaction) -> None:
        """Send the transcript as an ephemeral JSON attachment."""
        await defer_answer(interaction, ephemeral=True)
        try:
            data = await self.bot.app.story.transcript(scope_of(interaction.channel))
        except StoryRefusal as refusal:
            raise Refusal(str(refusal)) from None
        payload = json.dumps(data, indent=2, ensure_ascii=False).encode()
        file = discord.File(io.BytesIO(payload), filename="t2-story-transcript.json")
        await send_ephemeral(interaction, "Here is the story's transcript.", file=file)

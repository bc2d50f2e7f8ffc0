"""/trivia start|stop|skip|leaderboard|stats|lists|import|settings: thin commands over the TriviaService."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import is_moderator, require_manage_guild
from bot.discord.client import CompanionBot, Refusal, defer_answer, send_ephemeral, send_public, withdraw_thinking
from bot.discord.cogs.chat.commands import PERSONA_CHOICES
from bot.discord.cogs.chat.listener import user_key
from bot.discord.cogs.trivia.play import TriviaPlay
from bot.discord.personas_out import persona_embed
from bot.splitting import clip, fit_lines
from bot.trivia.options import AlreadyStartedError, Announcement, GameOptions, ListInfo, TriviaError
from bot.trivia.red_lists import MAX_LIST_BYTES, RedListError
from bot.trivia.service import TriviaService
from db.trivia.stats import BOARD_METRICS, BoardRow
from personas.roster import PERSONAS

__all__ = ["TriviaCommands"]

log = logging.getLogger(__name__)

MODE_CHOICES = [
    app_commands.Choice(name="Open: type the answer", value="open"),
    app_commands.Choice(name="Multiple choice: press a button", value="choice"),
]
METRIC_CHOICES = [app_commands.Choice(name=m.capitalize(), value=m) for m in BOARD_METRICS]
MAX_ECHO = 100
"""At most this much of a file name, author or description is repeated back."""
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
OPEN_NEEDS_INTENT = "Open answers need the message content intent, which is off. Use `mode: choice`."
SCOPE_CHOICES = [
    app_commands.Choice(name="This server", value="guild"),
    app_commands.Choice(name="Global", value="global"),
]


def _lists(text: str | None) -> tuple[str, ...] | None:
    """The list names of a ``lists`` option, each once, in the order given."""
    if text is None:
        return None
    names = tuple(dict.fromkeys(name.strip().lower() for name in text.replace(";", ",").split(",") if name.strip()))
    return names or None


def _list_line(info: ListInfo) -> str:
    return (
        f"**{info.name}**: {info.questions} questions"
        + (f" by {discord.utils.escape_markdown(clip(info.author, MAX_ECHO))}" if info.author else "")
        + (f" - {discord.utils.escape_markdown(clip(info.description, MAX_ECHO))}" if info.description else "")
    )


def _board_line(place: int, row: BoardRow, metric: str) -> str:
    figure = {
        "points": f"{row.points} points",
        "wins": f"{row.wins} wins",
        "games": f"{row.games} games",
        "accuracy": f"{row.accuracy:.0%} of {row.attempted}",
    }[metric]
    return f"**{place}.** {discord.utils.escape_markdown(row.name)}: {figure}"


@app_commands.guild_only()
class TriviaCommands(commands.GroupCog, group_name="trivia", group_description="Trivia about the plot of T2"):
    """The /trivia commands."""

    def __init__(self, bot: CompanionBot) -> None:
        self.bot = bot
        super().__init__()

    @property
    def service(self) -> TriviaService:
        """The trivia service of the running app."""
        return self.bot.app.trivia

    async def _respond(self, interaction: discord.Interaction, said: list[Announcement]) -> None:
        """Answer the command with the first announcement in the host's voice; post the rest in order.

        Each is stored in the outbox with the change it tells of: if the answer fails, it is posted in the
        channel later, before the rest. While the channel still waits for earlier announcements, all of these are
        posted after them and the command is answered privately."""
        play = self.bot.get_cog("TriviaPlay")
        assert isinstance(play, TriviaPlay)
        with play.claim(said) as mine:
            if not mine or await play.behind(mine[0].channel_id, mine):
                await send_ephemeral(interaction, "Done.")
                await play.publish(mine)
                return
            first, rest = mine[0], mine[1:]
            persona = PERSONAS.get(first.host) or PERSONAS["t800"]

            async def respond() -> None:
                await send_public(interaction, embed=persona_embed(persona, first.text))

            if first.outbox_key is None:
                await respond()
            else:
                await self.bot.outbox.send_now(first.outbox_key, respond)
            if rest:
                await play.publish(rest)

    @app_commands.command(name="start", description="Start a trivia game in this channel")
    @app_commands.describe(
        questions="how many questions (1-50)",
        target="end when someone reaches this score",
        seconds="seconds per question (10-120)",
        mode="type the answers, or press buttons",
        lists="lists to draw from, comma-separated (default: plot)",
        host="who asks the questions",
    )
    @app_commands.choices(mode=MODE_CHOICES, host=PERSONA_CHOICES)
    async def start(
        self,
        interaction: discord.Interaction,
        questions: app_commands.Range[int, 1, 50] | None = None,
        target: app_commands.Range[int, 1, 500] | None = None,
        seconds: app_commands.Range[int, 10, 120] | None = None,
        mode: app_commands.Choice[str] | None = None,
        lists: str | None = None,
        host: app_commands.Choice[str] | None = None,
    ) -> None:
        """Start a game; one per channel."""
        if not self.bot.accepting:
            raise Refusal("The bot is restarting; try again in a moment.")
        assert interaction.channel_id is not None
        if mode is not None and mode.value == "open" and not self.bot.intents.message_content:
            raise Refusal(OPEN_NEEDS_INTENT)
        try:
            self.service.check_free(interaction.channel_id)
        except TriviaError as exc:
            raise Refusal(str(exc)) from exc
        await defer_answer(interaction, ephemeral=False)
        options = GameOptions(
            questions=questions,
            target_score=target,
            seconds=seconds,
            mode=mode.value if mode else None,
            lists=_lists(lists),
            host=host.value if host else None,
        )
        if not self.bot.intents.message_content:
            chosen = options.mode or (await self.service.settings(interaction.guild_id or 0)).mode
            if chosen == "open":
                raise Refusal(OPEN_NEEDS_INTENT)
        try:
            said = await self.service.start(
                interaction.channel_id,
                interaction.guild_id,
                user_key(interaction.user),
                options,
                request=str(interaction.id),
            )
        except AlreadyStartedError:
            # Delivered again after a restart: the game it started was announced through the outbox.
            log.info("trivia start %s came again; its game was started already", interaction.id)
            await withdraw_thinking(interaction)
            return
        except TriviaError as exc:
            raise Refusal(str(exc)) from exc
        await self._respond(interaction, said)

    async def _control(self, interaction: discord.Interaction, action: str) -> None:
        """Refuse privately unless the user may ``action`` the game here, then defer the (public) answer."""
        assert interaction.channel_id is not None
        try:
            self.service.check_control(
                interaction.channel_id, user_key(interaction.user), moderator=is_moderator(interaction), action=action
            )
        except TriviaError as exc:
            raise Refusal(str(exc)) from exc
        await defer_answer(interaction, ephemeral=False)

    @app_commands.command(name="stop", description="Stop the game in this channel (its starter or Manage Messages)")
    async def stop(self, interaction: discord.Interaction) -> None:
        """End the game now."""
        assert interaction.channel_id is not None
        await self._control(interaction, "stop")
        try:
            said = await self.service.stop(
                interaction.channel_id, user_key(interaction.user), moderator=is_moderator(interaction)
            )
        except TriviaError as exc:
            raise Refusal(str(exc)) from exc
        await self._respond(interaction, said)

    @app_commands.command(name="skip", description="Skip the current question (its starter or Manage Messages)")
    async def skip(self, interaction: discord.Interaction) -> None:
        """Reveal the current question and go on."""
        assert interaction.channel_id is not None
        await self._control(interaction, "skip a question of")
        try:
            said = await self.service.skip(
                interaction.channel_id, user_key(interaction.user), moderator=is_moderator(interaction)
            )
        except TriviaError as exc:
            raise Refusal(str(exc)) from exc
        await self._respond(interaction, said)

    @app_commands.command(name="leaderboard", description="The best trivia players")
    @app_commands.describe(scope="this server or everywhere", metric="what to rank by")
    @app_commands.choices(scope=SCOPE_CHOICES, metric=METRIC_CHOICES)
    async def leaderboard(
        self,
        interaction: discord.Interaction,
        scope: app_commands.Choice[str] | None = None,
        metric: app_commands.Choice[str] | None = None,
    ) -> None:
        """Show the top ten."""
        await defer_answer(interaction, ephemeral=False)
        everywhere = scope is not None and scope.value == "global"
        by = metric.value if metric else "points"
        rows = await self.service.leaderboard(None if everywhere else interaction.guild_id, by)
        title = f"Trivia leaderboard ({'global' if everywhere else 'this server'}, by {by})"
        if not rows:
            note = " (accuracy counts players with five questions or more)" if by == "accuracy" else ""
            await send_ephemeral(interaction, f"Nobody is on this leaderboard yet{note}.")
            return
        lines = [_board_line(i, r, by) for i, r in enumerate(rows, 1)]
        embed = discord.Embed(title=title, description=fit_lines(lines, EMBED_DESCRIPTION_LIMIT, what="more players"))
        await send_public(interaction, embed=embed)

    @app_commands.command(name="stats", description="A player's trivia figures")
    @app_commands.describe(user="whose figures (default: yours)")
    async def stats(self, interaction: discord.Interaction, user: discord.User | None = None) -> None:
        """Points, wins, games, accuracy and streaks, here and everywhere."""
        who = user or interaction.user
        await defer_answer(interaction, ephemeral=False)
        here = await self.service.stats(user_key(who), interaction.guild_id)
        everywhere = await self.service.stats(user_key(who), None)
        if everywhere is None:
            await send_ephemeral(interaction, f"{discord.utils.escape_markdown(who.display_name)} has not played yet.")
            return
        embed = discord.Embed(title=clip(f"Trivia: {who.display_name}", EMBED_TITLE_LIMIT))
        for label, figures in (("This server", here), ("Everywhere", everywhere)):
            if figures is None:
                continue
            board = figures.board
            embed.add_field(
                name=label,
                value=(
                    f"{board.points} points, rank {figures.rank}\n{board.wins} wins in {board.games} games\n"
                    f"{board.correct}/{board.attempted} right ({board.accuracy:.0%})\n"
                    f"streak {figures.streak}, best {figures.best_streak}"
                ),
            )
        await send_public(interaction, embed=embed)

    @app_commands.command(name="lists", description="The trivia lists you can play here")
    async def lists(self, interaction: discord.Interaction) -> None:
        """The plot questions and the lists imported into this server (as many as one message holds)."""
        await defer_answer(interaction, ephemeral=True)
        infos = await self.service.lists(interaction.guild_id)
        await send_ephemeral(interaction, fit_lines([_list_line(info) for info in infos], what="more lists"))

    @app_commands.command(name="import", description="Import a Red-DiscordBot trivia list (Manage Server)")
    @app_commands.describe(file="a .yaml trivia list in Red-DiscordBot's format")
    async def import_list(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Store a list for this server; a bad file gets an error naming the line."""
        require_manage_guild(interaction)
        assert interaction.guild_id is not None
        name = discord.utils.escape_markdown(clip(file.filename, MAX_ECHO))
        if file.size > MAX_LIST_BYTES:
            raise Refusal(f"`{name}` is too large: trivia lists are at most {MAX_LIST_BYTES // 1000} kB.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException as exc:  # an expired or removed attachment
            raise Refusal(f"Could not download `{name}`; please upload it again.") from exc
        try:
            info, replaced = await self.service.import_list(
                interaction.guild_id, file.filename, data, user_key(interaction.user)
            )
        except (RedListError, TriviaError) as exc:
            raise Refusal(f"Could not import `{name}`: {exc}") from exc
        verb = "Replaced" if replaced else "Imported"
        await send_ephemeral(
            interaction,
            f"{verb} **{info.name}** ({info.questions} questions). Play it: `/trivia start lists:{info.name}`",
        )

    @app_commands.command(name="settings", description="This server's trivia defaults (Manage Server)")
    @app_commands.describe(
        questions="questions per game",
        target="end a game when someone reaches this score",
        seconds="seconds per question",
        mode="open answers or multiple choice",
        lists="lists to draw from, comma-separated",
        host="who hosts",
    )
    @app_commands.choices(mode=MODE_CHOICES, host=PERSONA_CHOICES)
    async def settings(
        self,
        interaction: discord.Interaction,
        questions: app_commands.Range[int, 1, 50] | None = None,
        target: app_commands.Range[int, 1, 500] | None = None,
        seconds: app_commands.Range[int, 10, 120] | None = None,
        mode: app_commands.Choice[str] | None = None,
        lists: str | None = None,
        host: app_commands.Choice[str] | None = None,
    ) -> None:
        """Show the defaults, or store the ones given."""
        require_manage_guild(interaction)
        assert interaction.guild_id is not None
        await defer_answer(interaction, ephemeral=True)
        options = GameOptions(
            questions=questions,
            target_score=target,
            seconds=seconds,
            mode=mode.value if mode else None,
            lists=_lists(lists),
            host=host.value if host else None,
        )
        try:
            if options == GameOptions():
                now = await self.service.settings(interaction.guild_id)
                verb = "Trivia defaults here"
            else:
                now = await self.service.save_settings(interaction.guild_id, options)
                verb = "Saved. Trivia defaults here"
        except TriviaError as exc:
            raise Refusal(str(exc)) from exc
        target_text = f", first to {now.target_score}" if now.target_score else ""
        persona = PERSONAS.get(now.host or "")
        host_name = persona.display_name if persona is not None else now.host
        await send_ephemeral(
            interaction,
            f"{verb}: {now.questions} questions{target_text}, {now.seconds} s each, {now.mode} answers, "
            f"lists {', '.join(now.lists or ())}, hosted by {host_name}.",
        )

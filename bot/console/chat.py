"""The console chat (``python -m bot console``): pick a persona and talk; /trivia and /story play the games."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.app import App, build_app
from bot.cards.boundary import NewCharacter
from bot.cards.model import CardError
from bot.chat import UnknownPersonaError
from bot.config import Settings
from bot.console.input import LineReader, ReadLine, read_terminal_line
from bot.console.story import SCOPE as CONSOLE_SCOPE
from bot.console.story import StoryConsole
from bot.console.trivia import CONSOLE_CHANNEL, TriviaConsole
from bot.trivia.options import GameOptions, TriviaError

__all__ = ["ConsoleChat", "run_console"]

HELP = (
    "Type a message to talk. Commands: /persona NAME (john, sarah, t800), /personas, /why, /help, /quit.\n"
    'Start a message with a name to ask someone else once: "sarah, who gave you the weapons?"\n'
    "/card FILE checks a character card (.json or .png) for /persona card import on a Discord server.\n"
    "Games: /trivia [open|choice] [questions] plays plot trivia; /story [list|vote|natural] plays the story."
)


class ConsoleChat:
    """An interactive chat loop; input and output are injectable so it can be driven by tests."""

    def __init__(self, app: App, console: Console, read_line: ReadLine, user: str) -> None:
        self.app = app
        self.console = console
        self.reader = LineReader(read_line)
        self.user = user
        self.persona = "john"

    async def run(self) -> None:
        """Pick a persona, then chat until /quit or end of input."""
        self.console.print("[bold]t2-companion[/bold]: chat with the characters of Terminator 2.")
        self._show_personas()
        await self._pick_persona()
        self.console.print(escape(HELP), style="dim")
        await self._mention_saved_games()
        while True:
            try:
                line = (await self.reader.line(f"you → {self._name()}> ")).strip()
            except EOFError:
                return
            if not line:
                continue
            if line.startswith("/"):
                try:
                    if not await self._command(line):
                        return
                except EOFError:  # Ctrl-D inside a game ends the console too; run_console saves the game
                    return
                continue
            reply = await self.app.chat.reply(self.user, "console", line, persona=self.persona)
            self.console.print(f"[bold]{escape(reply.persona.display_name)}[/bold]: {escape(reply.text)}")

    async def _mention_saved_games(self) -> None:
        """Tell the user about a game a previous run left paused."""
        if await self.app.trivia.saved_game_in(CONSOLE_CHANNEL):
            self.console.print("Your trivia game is paused. /trivia goes on with it.", style="bold")
        if await self.app.story.session_in(CONSOLE_SCOPE) is not None:
            self.console.print("Your story is paused. /story goes on with it.", style="bold")

    def _name(self) -> str:
        return self.app.chat.persona(self.persona).display_name

    def _show_personas(self) -> None:
        table = Table(show_header=False, box=None)
        for number, persona in enumerate(self.app.chat.personas(), start=1):
            table.add_row(
                f"{number}.",
                f"[bold]{escape(persona.display_name)}[/bold]",
                f"{escape(persona.description)} [dim]{escape(persona.vantage)}[/dim]",
            )
        self.console.print(table)

    async def _pick_persona(self) -> None:
        personas = self.app.chat.personas()
        while True:
            try:
                answer = (await self.reader.line("Who do you want to talk to? [1-3, Enter for John] ")).strip()
            except EOFError:
                return
            if not answer:
                return
            if answer.isdigit() and 1 <= int(answer) <= len(personas):
                self.persona = personas[int(answer) - 1].id
                return
            try:
                self.persona = self.app.chat.persona(answer).id
                return
            except UnknownPersonaError as exc:
                self.console.print(escape(str(exc)), style="yellow")

    async def _command(self, line: str) -> bool:
        name, _, argument = line[1:].partition(" ")
        name = name.lower()
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.console.print(escape(HELP), style="dim")
        elif name == "personas":
            self._show_personas()
        elif name == "persona":
            try:
                self.persona = self.app.chat.persona(argument.strip()).id
                self.console.print(f"Now talking to {escape(self._name())}.", style="dim")
            except UnknownPersonaError as exc:
                self.console.print(escape(str(exc)), style="yellow")
        elif name == "why":
            await self._why()
        elif name == "card":
            await self._card(argument.strip())
        elif name == "trivia":
            await self._trivia(argument.split())
        elif name == "story":
            await self._story(argument.strip().lower() or "list")
        else:
            self.console.print(f"Unknown command /{escape(name)}. {escape(HELP)}", style="yellow")
        return True

    async def _trivia(self, words: list[str]) -> None:
        mode = next((word for word in words if word in ("open", "choice")), "open")
        count = next((int(word) for word in words if word.isdigit()), 5)
        name = self.user.removeprefix("local:")
        game = TriviaConsole(self.app, self.console, self.reader, name)
        try:
            await game.play(GameOptions(questions=count, mode=mode))
        except TriviaError as exc:
            self.console.print(escape(str(exc)), style="yellow")
        self.console.print(f"Back to {escape(self._name())}.", style="dim")

    async def _story(self, order: str) -> None:
        if order not in ("list", "vote", "natural"):
            self.console.print("Turn order is list, vote or natural.", style="yellow")
            return
        await self.app.story.restart_clocks()
        try:
            await StoryConsole(self.app, self.console, self.reader.line).run(order)
        except EOFError:
            await self.app.story.suspend()
            raise
        self.console.print(f"Back to {escape(self._name())}.", style="dim")

    async def _card(self, argument: str) -> None:
        """Check a card file as ``/persona card import`` would, and say what it would do on a server."""
        cards = self.app.chat.cards
        if not argument or cards is None:
            self.console.print("Usage: /card FILE (a .json or .png character card).", style="yellow")
            return
        try:
            data = await asyncio.to_thread(_read_file, argument)
            card, role, _ = await asyncio.to_thread(cards.check, data)
        except OSError as exc:
            self.console.print(f"{escape(argument)}: {escape(exc.strerror or str(exc))}", style="yellow")
            return
        except CardError as exc:
            self.console.print(f"{escape(argument)}: {escape(str(exc))}", style="yellow")
            return
        if isinstance(role, NewCharacter):
            persona = self.app.chat.persona(role.knows_like).display_name
            until = f" by scene {role.until_scene}" if role.until_scene is not None else ""
            what = f"adds the character {card.name} ({role.entity}), knowing what {persona} knows{until}"
        else:
            what = f"restyles {self.app.chat.persona(role.persona).display_name}'s voice"
        self.console.print(
            f"{escape(card.name)}: a valid card; on a Discord server it {escape(what)} when the language model words "
            "the replies. Here, with no server, the offline engine answers.",
            style="dim",
        )

    async def _why(self) -> None:
        persona, facts = await self.app.chat.why(self.user, "console")
        if persona is None:
            self.console.print("Nobody has answered you yet.", style="dim")
        elif not facts:
            self.console.print(f"{escape(persona.display_name)}'s last reply stated no plot fact.", style="dim")
        else:
            for fact in facts:
                self.console.print(f"[bold]{fact.id}[/bold] (scene {fact.scene}): {escape(fact.text)}")


def _read_file(name: str) -> bytes:
    return Path(name).expanduser().read_bytes()


async def run_console(
    settings: Settings,
    *,
    user: str = "local",
    read_line: ReadLine = read_terminal_line,
    console: Console | None = None,
) -> int:
    """Run the console front end until the user quits (/quit, Ctrl-D or Ctrl-C)."""
    try:
        import readline  # noqa: F401  (arrow-key history for input())
    except ImportError:  # pragma: no cover - not on every platform
        pass
    app = await build_app(settings)
    console = console or Console()
    try:
        await ConsoleChat(app, console, read_line, f"local:{user}").run()
    finally:
        # Ctrl-C lands here as a cancellation, /quit and Ctrl-D as a return: either way a running game is saved
        # as a clean shutdown saves it, and goes on at the next start.
        if await app.suspend_games():
            console.print("\nYour game is saved; it goes on where it was at the next start.", style="dim")
        await app.close()
    return 0

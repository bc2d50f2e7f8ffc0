"""``python -m bot story play``: a solo or hot-seat story session in the terminal, on the same StoryService."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from bot.app import App, build_app
from bot.config import Settings
from bot.console.input import ReadLine, read_terminal_line
from bot.story.model import Post, StoryRefusal
from bot.story.turns import active_players, told_role
from personas.roster import PERSONAS
from personas.story import ROLES

__all__ = ["StoryConsole", "run_story"]

SCOPE = "console:story"
HOST = "local:host"
HELP = "Type the number of an option. Commands: /status, /recap, /skip, /end, /quit (the story waits for you)."


class StoryConsole:
    """One terminal, one or more players taking turns at the keyboard; input and output are injectable."""

    def __init__(self, app: App, console: Console, read_line: ReadLine) -> None:
        self.app = app
        self.console = console
        self.read_line = read_line

    def show(self, posts: Sequence[Post]) -> None:
        """Print narration and persona lines."""
        for post in posts:
            if post.title:
                self.console.print(f"\n[bold red]{escape(post.title)}[/bold red]")
            who = PERSONAS[post.persona].display_name if post.persona else None
            self.console.print(f"[bold]{escape(who)}:[/bold] {escape(post.text)}" if who else escape(post.text))
            if post.prompt is not None and post.prompt.kind != "lobby":
                for number, (_, label) in enumerate(post.prompt.options, 1):
                    self.console.print(f"  {number}. {escape(label)}")

    async def setup(self, order: str) -> None:
        """Ask who plays, open the lobby and start; or continue the session left unfinished."""
        story = self.app.story
        if await story.session_in(SCOPE) is not None:
            self.console.print("Continuing the story you left unfinished.")
            self.console.print((await story.status(SCOPE)).reply)
            return
        count = await self._number("How many players at this keyboard (1-8)? ", 8)
        opened = await story.open_lobby(SCOPE, HOST, turn_order=order)
        for seat in range(1, count + 1):
            name = (await self.read_line(f"Player {seat}, your name: ")).strip() or f"player {seat}"
            roles = ", ".join(ROLES)
            while True:
                role = (await self.read_line(f"{name}, play whom ({roles})? ")).strip().lower() or "fighter"
                try:
                    await story.join(opened.session_id, f"local:{name}", name, role)
                    break
                except StoryRefusal as refusal:
                    self.console.print(str(refusal))
        self.show((await story.begin(opened.session_id, HOST)).posts)

    async def _number(self, prompt: str, high: int) -> int:
        while True:
            answer = (await self.read_line(prompt)).strip()
            if answer.isdigit() and 1 <= int(answer) <= high:
                return int(answer)

    async def run(self, order: str = "list") -> None:
        """Play until the epilogue, /end or /quit."""
        story = self.app.story
        self.console.print("[bold]A story of Terminator 2[/bold]. " + HELP, style="dim")
        await self.setup(order)
        while (row := await story.session_in(SCOPE)) is not None:
            decision = story.story.scene(row.scene).decision
            offered = decision.options_for(told_role(row, row.scene))
            if row.phase == "tiebreak":  # the numbers are those of the tied options the host was shown
                offered = tuple(decision.option(option_id) for option_id in row.state.get("tied", []))
            if row.phase == "tiebreak":
                waiting = [(HOST, "the host")]
            elif row.turn_order == "vote":
                waiting = [(p.user or "", p.name) for p in active_players(row) if str(p.id) not in row.state["votes"]]
            else:
                waiting = [(p.user or "", p.name) for p in active_players(row) if p.id == row.actor_id]
            user, name = waiting[0] if waiting else (HOST, "the host")
            answer = (await self.read_line(f"{name} > ")).strip()
            try:
                if answer in ("/quit", "/q"):
                    await story.suspend()
                    return
                if answer.startswith("/"):
                    await self._command(answer)
                    continue
                if not answer.isdigit() or not 1 <= int(answer) <= len(offered):
                    self.console.print(HELP, style="dim")
                    continue
                option = offered[int(answer) - 1].id
                outcome = await story.choose(row.id, row.scene, user, option)
                self.console.print(outcome.reply, style="dim")
                self.show(outcome.posts)
            except StoryRefusal as refusal:
                self.console.print(str(refusal))
                self.show(refusal.posts)

    async def _command(self, command: str) -> None:
        story = self.app.story
        if command == "/status":
            outcome = await story.status(SCOPE)
            self.console.print(outcome.reply)
        elif command == "/recap":
            outcome = await story.recap(SCOPE)
        elif command == "/skip":
            outcome = await story.skip(SCOPE, HOST)
        elif command == "/end":
            outcome = await story.end(SCOPE, HOST)
        else:
            self.console.print(HELP, style="dim")
            return
        self.show(outcome.posts)


async def run_story(settings: Settings, order: str, read_line: ReadLine = read_terminal_line) -> int:
    """Build the services and play a story in this terminal."""
    app = await build_app(settings)
    try:
        await app.story.restart_clocks()
        try:
            await StoryConsole(app, Console(highlight=False), read_line).run(order)
        except EOFError:
            await app.story.suspend()
    finally:
        await app.close()
    return 0

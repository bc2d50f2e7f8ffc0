"""A trivia game in the terminal, against the same service the Discord bot uses."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape

from bot.app import App
from bot.console.input import LineReader
from bot.trivia.options import DEFAULTS, Announcement, GameOptions, TriviaError
from bot.trivia.questions import CHOICE_LETTERS

__all__ = ["CONSOLE_CHANNEL", "TriviaConsole"]

CONSOLE_CHANNEL = 0
"""The channel id of the terminal's game (Discord ids are never 0)."""
TICK_S = 0.25
_MARKUP = re.compile(r"[*`]")


class TriviaConsole:
    """One player at the keyboard; hints and time-outs arrive while they think."""

    def __init__(self, app: App, console: Console, reader: LineReader, name: str) -> None:
        self.app = app
        self.console = console
        self.reader = reader
        self.name = name
        self.user = f"local:{name}"

    def show(self, announcements: list[Announcement]) -> None:
        """Print what the host says."""
        for announcement in announcements:
            self.console.print(_plain(announcement.text))

    async def play(self, options: GameOptions, *, seed: int | None = None) -> bool:
        """Play one game to its end; False when the options were refused (the reason is printed)."""
        service = self.app.trivia
        said = await service.resume()
        mode = service.mode_in(CONSOLE_CHANNEL)
        if mode is not None:  # the game a shutdown saved goes on, with the time its question had left
            self.console.print("Going on with your saved game.", style="dim")
        else:
            try:
                said = await service.start(CONSOLE_CHANNEL, None, self.user, options, seed=seed, solo=True)
            except TriviaError as exc:
                self.console.print(escape(str(exc)), style="yellow")
                return False
            mode = options.mode or DEFAULTS.mode or "open"
        how = "Type A, B, C or D." if mode == "choice" else "Type your answers."
        self.console.print(f"{how} /skip skips a question, /quit ends the game.", style="dim")
        question = 0
        while True:
            self.show(said)
            question = next((a.question for a in reversed(said) if a.question is not None), question)
            game = service.game_in(CONSOLE_CHANNEL)
            if game is None:
                return True
            line = await self.reader.line_within(TICK_S)  # EOFError (Ctrl-D) ends the console; the game is saved
            if line is None:
                said = await service.tick()
            else:
                said = await self._handle(line.strip(), game, question, mode)

    async def _handle(self, line: str, game: int, question: int, mode: str) -> list[Announcement]:
        service = self.app.trivia
        if line.lower() in ("/quit", "/stop"):
            return await service.stop(CONSOLE_CHANNEL, self.user, moderator=True)
        if line.lower() == "/skip":
            return await service.skip(CONSOLE_CHANNEL, self.user, moderator=True)
        if not line:
            return []
        if mode == "choice":
            letter = line[:1].upper()
            if letter not in CHOICE_LETTERS:
                self.console.print("Type A, B, C or D.", style="dim")
                return []
            result = await service.choose(game, question, CHOICE_LETTERS.index(letter), self.user, self.name)
            self.console.print(_plain(result.text), style="dim")
            return list(result.announcements)
        said = await service.answer(CONSOLE_CHANNEL, self.user, self.name, line) or await service.tick()
        if not said:
            self.console.print("No.", style="dim")
        return said


def _plain(text: str) -> str:
    """Discord markdown removed and rich markup escaped, for the terminal."""
    return escape(_MARKUP.sub("", text))

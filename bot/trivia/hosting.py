"""What the host persona says during a game, in its own voice: data, chosen by a seeded index.

These lines never state a plot fact. The only story content a host ever says is filled in from the game:
the question, the revealed answer (or a hint of it), and the fact the answer comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["HOSTS", "HostLines", "host_line"]


@dataclass(frozen=True, slots=True)
class HostLines:
    """Variants for each moment of a game. Placeholders: {n} {total} {question} {seconds} {hint} {points}
    {name} {answer} {fact} {standings} {left} {goal}."""

    start: tuple[str, ...]
    ask: tuple[str, ...]
    hint: tuple[str, ...]
    correct: tuple[str, ...]
    reveal: tuple[str, ...]
    reveal_choice: tuple[str, ...]
    skipped: tuple[str, ...]
    stopped: tuple[str, ...]
    finished: tuple[str, ...]
    idle: tuple[str, ...]
    resumed: tuple[str, ...]
    nobody: tuple[str, ...]


JOHN = HostLines(
    start=(
        "Okay, trivia time, man. {goal} {seconds} seconds a question. Type fast.",
        "Alright, let's do this. {goal} You get {seconds} seconds each, dude.",
    ),
    ask=("Question {n} of {total}, man: {question}", "Okay, question {n} of {total}: {question}"),
    hint=("Need help? Here: {hint} (now worth {points})", "Hint, dude: {hint}. Still {points} points."),
    correct=(
        "Yes! {name} got it, man: {answer}. +{points}.",
        "No way, {name} nailed it. {answer}. That's {points} points.",
    ),
    reveal=("Time's up, man. It was {answer}. {fact}", "Nobody? Seriously? It was {answer}. {fact}"),
    reveal_choice=("Okay, time. The answer: {answer}. {fact}", "That's it, dude. Right answer: {answer}. {fact}"),
    skipped=("Skipping that one, man. It was {answer}.", "Next! The answer was {answer}."),
    stopped=("Okay, game over, somebody pulled the plug.", "Alright, we're stopping. That's it, man."),
    finished=("That's the game, man! Final scores:\n{standings}", "Game over, dude. Here's how it went:\n{standings}"),
    idle=(
        "Hello? Anybody? Okay, I'm calling it. Scores:\n{standings}",
        "Nobody's playing, man. Game over.\n{standings}",
    ),
    resumed=(
        "Sorry, got cut off, man. Where were we... question {n} of {total}, {left} seconds left: {question}",
        "I'm back. Still question {n} of {total}, you've got {left} seconds: {question}",
    ),
    nobody=("Nobody scored. Seriously, man?", "Zero points all around, dude."),
)

SARAH = HostLines(
    start=(
        "Listen up. {goal} {seconds} seconds per question. Stay sharp.",
        "We do this my way. {goal} {seconds} seconds each. Move.",
    ),
    ask=("Question {n} of {total}. {question}", "Question {n} of {total}. {question} Think fast."),
    hint=("A hint, and it costs you: {hint}. Worth {points} now.", "Here. {hint}. Down to {points} points."),
    correct=("{name}. Correct: {answer}. {points} points.", "Good, {name}. {answer}. Take {points} points."),
    reveal=("Time. The answer was {answer}. {fact}", "Too slow. It was {answer}. {fact}"),
    reveal_choice=("Time. It was {answer}. {fact}", "Stop. The answer: {answer}. {fact}"),
    skipped=("We move on. It was {answer}.", "Skip it. The answer was {answer}."),
    stopped=("That's enough. The game is over.", "We're done here. Game stopped."),
    finished=("It's over. The board:\n{standings}", "That's the end of it. Final scores:\n{standings}"),
    idle=("Nobody's answering. I'm ending this.\n{standings}", "Silence. Game over.\n{standings}"),
    resumed=(
        "We lost contact. Question {n} of {total} stands, {left} seconds left. {question}",
        "Back. Question {n} of {total}, {left} seconds. {question}",
    ),
    nobody=("Nobody scored.", "No points. Not one of you."),
)

T800 = HostLines(
    start=(
        "Trivia sequence initiated. {goal} Time limit: {seconds} seconds per question.",
        "Commencing trivia. {goal} {seconds} seconds per question.",
    ),
    ask=("Question {n} of {total}. {question}", "Question {n} of {total}: {question}"),
    hint=("Hint: {hint}. Value reduced to {points} points.", "Partial data: {hint}. Value: {points} points."),
    correct=(
        "Affirmative, {name}. The answer is {answer}. {points} points.",
        "Correct. {name} gains {points} points. Answer: {answer}.",
    ),
    reveal=("Time expired. The answer: {answer}. {fact}", "No correct answer received. It was {answer}. {fact}"),
    reveal_choice=("Time expired. Correct answer: {answer}. {fact}", "Answers locked. It was {answer}. {fact}"),
    skipped=("Question skipped. The answer was {answer}.", "Skipping. Answer: {answer}."),
    stopped=("Trivia terminated.", "Game stopped by command."),
    finished=("Trivia complete. Final scores:\n{standings}", "Sequence complete. Results:\n{standings}"),
    idle=("No input detected. Terminating game.\n{standings}", "Players inactive. Game ended.\n{standings}"),
    resumed=(
        "Systems restored. Question {n} of {total} resumes. {left} seconds remain. {question}",
        "Back online. Question {n} of {total}. Time remaining: {left} seconds. {question}",
    ),
    nobody=("No points scored.", "Score: zero for all players."),
)

HOSTS: Mapping[str, HostLines] = MappingProxyType({"john": JOHN, "sarah": SARAH, "t800": T800})


def host_line(host: str, moment: str, seed: int, **values: object) -> str:
    """One variant of ``moment`` for ``host``, chosen by ``seed``, with the placeholders filled in."""
    lines = HOSTS.get(host, T800)
    variants: tuple[str, ...] = getattr(lines, moment)
    return variants[seed % len(variants)].format(**values).strip()

"""Model backend benchmark: the fact guard's cost, the fallback's latency when the model hangs, what a model turn
adds over an offline one with a model server that answers at once (the loopback model server), the same for a
persona restyled by a server's card and for a card's character, what importing a PNG card takes, and how soon a long
streamed reply can be shown (its first part, long enough to be posted) against when it is complete. Prints JSON.

Run: ``.venv/bin/python bench/llm.py [--guard-checks 20000] [--turns 200] [--timeout 1.0] [--streams 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app  # noqa: E402
from bot.cards.export import build_card, card_json_text  # noqa: E402
from bot.cards.png import card_png  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.discord.streaming import FIRST_PART_CHARS  # noqa: E402
from bot.llm.guard import FactGuard  # noqa: E402
from bot.llm.prompt import card_text  # noqa: E402
from personas.factbase import load_fact_base  # noqa: E402
from personas.persona import Persona  # noqa: E402
from personas.roster import PERSONAS  # noqa: E402
from tests.modeltwin import ModelTwin, grounded, hang, slow  # noqa: E402

GUILD, RESTYLED, WITH_CHARACTER = 1, 2, 3
PROCESSOR = "f-dyson-neural-net-processor"
CHARACTER_REPLY = "I'm working on a revolutionary new neural net processor."
DYSON = {"character": "dyson", "knows_like": "john", "until_scene": 5}
DATE = "f-judgment-day-date"
REPLY = "Mom drilled it into me: August 29, 1997 is Judgment Day. Nobody believes her, but she's right."
LONG = (
    "Listen. My mom drilled it into me since I was a kid: August 29, 1997 is Judgment Day. "
    "She says the machines start the war that day. Nobody believes her, and they locked her up for saying it. "
    "I used to think she was crazy too. Now I'm not so sure, man. "
    "She made me learn the date by heart, like a drill. August 29, 1997. That's Judgment Day, man."
)
TOKENS_PER_S = 40
"""A local model's pace for the slow stream: about 40 tokens (160 characters) a second."""


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def guard_figures(checks: int) -> dict[str, float]:
    """Microseconds per check of a typical grounded reply, and of one the guard refuses."""
    base = load_fact_base()
    others = [persona for key, persona in PERSONAS.items() if key != "john"]
    guard = FactGuard(PERSONAS["john"], base, others, card_texts=[card_text(PERSONAS["john"])])
    sent = {DATE, "f-sarah-prepared-john"}
    figures: dict[str, float] = {}
    for name, text in (("grounded", REPLY), ("invented", REPLY + " Kyle Reese told her in 1984.")):
        samples = []
        for _ in range(checks):
            started = time.perf_counter()
            guard.check(text, [DATE], sent)
            samples.append((time.perf_counter() - started) * 1e6)
        figures[f"guard_{name}_p50_us"] = round(percentile(samples, 0.5), 1)
        figures[f"guard_{name}_p99_us"] = round(percentile(samples, 0.99), 1)
    return figures


async def turn_figures(turns: int, timeout_s: float) -> dict[str, Any]:
    """Milliseconds per chat turn: offline, through a model that answers at once, and with a model that hangs."""
    async with ModelTwin() as model:
        model.default = lambda record: grounded(REPLY, [DATE])
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
                llm_base_url=model.base_url,
                llm_model=model.model,
                llm_timeout_s=timeout_s,
            )
            app = await build_app(settings)
            try:
                policy = app.chat.model_policy
                assert policy is not None

                cards = app.chat.cards
                assert cards is not None

                async def timed(user: str, guild: int | None, text: str = "when is judgment day") -> float:
                    started = time.perf_counter()
                    reply = await app.chat.reply(user, "channel:1", text, persona="john", guild_id=guild)
                    if not user.startswith(("warm", "h")):  # a measured turn: the model's reply, not a fallback
                        assert guild is None or reply.kind == "model", (guild, reply.text)
                    return (time.perf_counter() - started) * 1000

                png = card_png(card_json_text(build_card(PERSONAS["john"], app.knowledge.base), indent=None), 0)
                imports = []
                for _ in range(20):
                    started = time.perf_counter()
                    await cards.import_card(RESTYLED, png, "bench")
                    imports.append((time.perf_counter() - started) * 1000)
                document = json.loads(card_json_text(build_card(PERSONAS["john"], app.knowledge.base), indent=None))
                document["data"].update(name="Miles Dyson", extensions={"t2-companion": DYSON})
                await cards.import_card(WITH_CHARACTER, json.dumps(document).encode(), "bench")

                await timed("warm", None)
                offline = [await timed(f"u{n}", None) for n in range(turns)]
                await policy.set_enabled(GUILD, True)
                await timed("warm-model", GUILD)
                modelled = [await timed(f"m{n}", GUILD) for n in range(turns)]
                await policy.set_enabled(RESTYLED, True)
                await timed("warm-restyled", RESTYLED)
                restyled = [await timed(f"r{n}", RESTYLED) for n in range(turns)]
                await policy.set_enabled(WITH_CHARACTER, True)
                model.default = lambda record: grounded(CHARACTER_REPLY, [PROCESSOR])
                ask = "dyson, what are you working on?"
                await timed("warm-character", WITH_CHARACTER, ask)
                character = [await timed(f"c{n}", WITH_CHARACTER, ask) for n in range(turns)]
                model.default = lambda record: hang(timeout_s * 10)
                hung = [await timed(f"h{n}", GUILD) for n in range(3)]
            finally:
                await app.close()
    return {
        "offline_turn_p50_ms": round(statistics.median(offline), 2),
        "model_turn_p50_ms": round(statistics.median(modelled), 2),
        "model_turn_p99_ms": round(percentile(modelled, 0.99), 2),
        "model_overhead_p50_ms": round(statistics.median(modelled) - statistics.median(offline), 2),
        "restyled_turn_p50_ms": round(statistics.median(restyled), 2),
        "character_turn_p50_ms": round(statistics.median(character), 2),
        "character_turn_p99_ms": round(percentile(character, 0.99), 2),
        "card_png_import_p50_ms": round(statistics.median(imports), 2),
        "card_png_bytes": len(png),
        "llm_timeout_s": timeout_s,
        "fallback_when_hung_ms": round(max(hung), 1),
    }


class _FirstPart:
    """A ``ReplyStream`` that notes when the first part a channel would post (FIRST_PART_CHARS) could be shown."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None

    async def show(self, persona: Persona, text: str) -> None:
        if self.first is None and len(text) >= FIRST_PART_CHARS:
            self.first = time.perf_counter()

    async def hold(self) -> dict[str, Any] | None:
        return None


async def stream_figures(streams: int) -> dict[str, Any]:
    """Milliseconds from the message to the first part that may be shown, and to the whole guarded reply, for a
    long reply from a server that answers at once and from one that streams at ``TOKENS_PER_S``."""
    figures: dict[str, Any] = {"stream_reply_chars": len(LONG), "stream_first_part_chars": FIRST_PART_CHARS}
    async with ModelTwin() as model:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
                llm_base_url=model.base_url,
                llm_model=model.model,
                llm_timeout_s=30,
            )
            app = await build_app(settings)
            try:
                policy = app.chat.model_policy
                assert policy is not None
                await policy.set_enabled(GUILD, True)
                for name, chunk_delay_s, count in (
                    ("at_once", 0.0, streams),
                    (f"{TOKENS_PER_S}_tokens_per_s", 3 / TOKENS_PER_S, max(3, streams // 5)),
                ):
                    firsts, wholes = [], []
                    for n in range(count):
                        model.default = lambda record, delay=chunk_delay_s: slow(grounded(LONG, [DATE]), delay)
                        watch = _FirstPart()
                        reply = await app.chat.reply(
                            f"s{name}{n}",
                            "channel:1",
                            "when is judgment day",
                            persona="john",
                            guild_id=GUILD,
                            stream=watch,
                        )
                        assert reply.kind == "model" and watch.first is not None
                        wholes.append((time.perf_counter() - watch.started) * 1000)
                        firsts.append((watch.first - watch.started) * 1000)
                    figures[f"stream_{name}_first_part_p50_ms"] = round(statistics.median(firsts), 1)
                    figures[f"stream_{name}_whole_reply_p50_ms"] = round(statistics.median(wholes), 1)
            finally:
                await app.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--guard-checks", type=int, default=20_000)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=1.0, help="LLM_TIMEOUT_S for the hang test")
    parser.add_argument("--streams", type=int, default=20, help="long streamed replies timed (a fifth of them slow)")
    args = parser.parse_args()
    figures: dict[str, Any] = guard_figures(args.guard_checks)
    figures.update(asyncio.run(turn_figures(args.turns, args.timeout)))
    figures.update(asyncio.run(stream_figures(args.streams)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

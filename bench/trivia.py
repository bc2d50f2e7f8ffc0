"""Trivia benchmark: the judge's latency, and how many concurrent games the service sustains. Prints one JSON object.

Each level runs N open-answer games (one per channel) on a SQLite file. Every game gets one answer per second
(one in ten right, so questions are won, revealed and asked again), spread evenly over each second, while the
ticker moves games along twice a second. The game clock is a fake clock driven by the benchmark; latencies are
real time. ``games`` is the largest N whose p99 answer handling stays under 5 ms.

Run: ``.venv/bin/python bench/trivia.py [--seconds 6] [--levels 250,500,1000,2000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.trivia.judge import judge, prepare  # noqa: E402
from bot.trivia.service import GameOptions, TriviaService  # noqa: E402
from db.engine import create_engine, create_session_factory  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from personas.factbase import load_fact_base  # noqa: E402

P99_LIMIT_MS = 5.0
WRONG = ("the moon", "skynet?", "no idea", "john connor", "a motorcycle", "1996", "Dyson and Sarah", "chair")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def judge_latency(rounds: int = 20_000) -> dict[str, float]:
    """Microseconds per judgement of realistic guesses against the plot's accepted answers."""
    base = load_fact_base()
    items = [prepare(item.answers) for fact in base.facts for item in fact.trivia]
    rng = random.Random(1)
    guesses = [*WRONG, "it was skynet", "Aug 29th 1997", "dr. dyson", "polyaloy", "red, blue or green"]
    samples: list[float] = []
    for _ in range(rounds):
        accepted = rng.choice(items)
        guess = rng.choice(guesses) if rng.random() < 0.7 else accepted.canonical
        started = time.perf_counter_ns()
        judge(guess, accepted)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return {"judge_us_p50": round(percentile(samples, 0.5), 1), "judge_us_p99": round(percentile(samples, 0.99), 1)}


class BenchClock:
    """Game time: starts at a fixed epoch and moves only when the benchmark says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def run_level(folder: Path, games: int, seconds: int) -> dict[str, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{folder}/trivia-{games}.db")
    await upgrade(engine)
    clock = BenchClock()
    service = TriviaService(create_session_factory(engine), load_fact_base(), clock=clock)
    rng = random.Random(games)
    for channel in range(1, games + 1):
        await service.start(channel, 1, f"bench:{channel}", GameOptions(questions=50, seconds=20), seed=channel)
    latencies: list[float] = []
    posted = 0

    async def answer(channel: int) -> None:
        nonlocal posted
        answers = service.current_answers(channel)  # one answer in ten is right
        if not answers:
            return
        text = answers[0] if rng.random() < 0.1 else rng.choice(WRONG)
        started = time.perf_counter()
        said = await service.answer(channel, f"bench:{channel % 7}", "player", text)
        latencies.append((time.perf_counter() - started) * 1000)
        posted += len(said)

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal posted
        while not stop.is_set():
            await asyncio.sleep(0.5)
            posted += len(await service.tick())

    stop = asyncio.Event()
    tick_task = asyncio.create_task(ticker(stop))
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    slot = 1.0 / games
    for second in range(seconds):
        order = list(range(1, games + 1))
        rng.shuffle(order)
        for position, channel in enumerate(order):
            due = start + second + position * slot
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            clock.now = 1_800_000_000.0 + (loop.time() - start)
            tasks.append(asyncio.create_task(answer(channel)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    stop.set()
    await tick_task
    await service.suspend()  # a clean shutdown: pending writes stored, the writer's task ends
    await engine.dispose()
    return {
        "games": games,
        "answers": len(latencies),
        "answers_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "announcements": posted,
    }


async def games_sustained(levels: list[int], seconds: int) -> tuple[int, list[dict[str, float]]]:
    results: list[dict[str, float]] = []
    best = 0
    with tempfile.TemporaryDirectory() as folder:
        for games in levels:
            result = await run_level(Path(folder), games, seconds)
            results.append(result)
            if result["p99_ms"] >= P99_LIMIT_MS:
                break
            best = games
    return best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6, help="seconds of play per level")
    parser.add_argument("--levels", default="250,500,1000,2000", help="concurrent games to try, in order")
    args = parser.parse_args()
    figures: dict[str, object] = dict(judge_latency())
    best, levels = asyncio.run(games_sustained([int(n) for n in args.levels.split(",")], args.seconds))
    figures["games"] = best
    figures["p99_limit_ms"] = P99_LIMIT_MS
    figures["levels"] = levels
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Story benchmark: how many concurrent sessions StoryService sustains with p99 < 10 ms per choice, and the
database size per finished session. Prints one JSON object.

Each session has three players in list order and makes a choice every ``--think`` seconds (with jitter); a
finished session is replaced by a new one, so the number of running sessions stays the same. The latency of a
choice is the time ``StoryService.choose`` takes, which includes committing it (group commit, SQLite file).

Run: ``.venv/bin/python bench/story.py [--levels 100,250,500,750,1000] [--seconds 12] [--think 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App, build_app  # noqa: E402
from bot.config import Settings  # noqa: E402

TARGET_P99_MS = 10.0


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def new_session(app: App, scope: str) -> int:
    story = app.story
    opened = await story.open_lobby(scope, f"{scope}:host", turn_order="list")
    for number, role in enumerate(("john", "sarah", "fighter")):
        await story.join(opened.session_id, f"{scope}:p{number}", f"player {number}", role)
    await story.begin(opened.session_id, f"{scope}:host")
    return opened.session_id


async def play_one_choice(app: App, session_id: int) -> tuple[float, bool]:
    """Make the current player's choice; returns (seconds it took, whether the story ended)."""
    story = app.story
    turn = await story.whose_turn(session_id)
    assert turn is not None, "list order always has a current player"
    option = turn.options[turn.scene % len(turn.options)]
    started = time.perf_counter()
    outcome = await story.choose(session_id, turn.scene, turn.user or "", option)
    elapsed = time.perf_counter() - started
    return elapsed, any(post.title == "Epilogue" for post in outcome.posts)


async def load_level(folder: Path, sessions: int, seconds: float, think: float) -> dict[str, float]:
    app = await build_app(Settings(database_url=f"sqlite+aiosqlite:///{folder}/level-{sessions}.db"))
    latencies: list[float] = []
    rng = random.Random(sessions)
    first = [await new_session(app, f"bench:{number}:0") for number in range(sessions)]  # set up, untimed
    for number, session_id in enumerate(first):  # spread the sessions over the scenes, as real ones would be
        for _ in range(number % 8):
            await play_one_choice(app, session_id)
    gc.collect()
    gc.freeze()  # as the bot does once connected (bot/discord/client.py on_ready)
    stop = time.perf_counter() + seconds

    async def slot(number: int) -> None:
        generation = 0
        session_id = first[number]
        await asyncio.sleep(rng.uniform(0, think))
        while time.perf_counter() < stop:
            elapsed, ended = await play_one_choice(app, session_id)
            latencies.append(elapsed)
            if ended:
                generation += 1
                session_id = await new_session(app, f"bench:{number}:{generation}")
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))

    try:
        await asyncio.gather(*(slot(number) for number in range(sessions)))
    finally:
        await app.close()
    return {
        "sessions": sessions,
        "choices": len(latencies),
        "choices_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


async def size_per_session(folder: Path, count: int) -> float:
    """Bytes the database grows by per session played from lobby to epilogue."""
    path = folder / "size.db"
    app = await build_app(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    try:

        async def size() -> int:
            async with app.engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()
                free = (await connection.exec_driver_sql("PRAGMA freelist_count")).scalar_one()
                page_size = (await connection.exec_driver_sql("PRAGMA page_size")).scalar_one()
                return int((pages - free) * page_size)

        before = await size()
        for number in range(count):
            session_id = await new_session(app, f"size:{number}")
            while True:
                _, ended = await play_one_choice(app, session_id)
                if ended:
                    break
        return (await size() - before) / count
    finally:
        await app.close()


async def main(levels: list[int], seconds: float, think: float, finished: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = []
        for level in levels:
            results.append(await load_level(folder, level, seconds, think))
        sustained = max((r["sessions"] for r in results if r["p99_ms"] < TARGET_P99_MS), default=0)
        per_session = await size_per_session(folder, finished)
    return {
        "sessions": int(sustained),
        "target_p99_ms": TARGET_P99_MS,
        "think_s": think,
        "levels": results,
        "db_bytes_per_finished_session": round(per_session),
        "db_kb_per_finished_session": round(per_session / 1024, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="100,250,500,750,1000", help="concurrent sessions to try")
    parser.add_argument("--seconds", type=float, default=12.0, help="how long each level runs")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between two choices of one session")
    parser.add_argument("--finished", type=int, default=100, help="sessions played to the end for the size figure")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    print(json.dumps(asyncio.run(main(levels, args.seconds, args.think, args.finished)), indent=2))

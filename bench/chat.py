"""Chat benchmark: full ChatService turns on a SQLite file, against a bare aiosqlite floor. Prints one JSON object.

Run: ``.venv/bin/python bench/chat.py [--turns 50000] [--conversations 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosqlite

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from db.engine import SQLITE_PRAGMAS, create_engine  # noqa: E402
from db.migrate import upgrade  # noqa: E402

QUESTIONS = (
    "Who is Dyson?",
    "what happened to him?",
    "and then?",
    "When is Judgment Day?",
    "What is the T-1000 made of?",
    "hi",
    "How did you escape the mall?",
    "tell me more",
)


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def chat_turns(folder: Path, turns: int, conversations: int) -> dict[str, float]:
    app = await build_app(Settings(database_url=f"sqlite+aiosqlite:///{folder}/chat.db"))
    latencies: list[float] = []
    first_turns: list[float] = []
    per_worker = turns // conversations

    async def worker(number: int) -> None:
        for turn in range(per_worker):
            started = time.perf_counter()
            await app.chat.reply(f"bench:{number}", "channel:1", QUESTIONS[turn % len(QUESTIONS)], persona="sarah")
            (first_turns if turn == 0 else latencies).append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(number) for number in range(conversations)))
    elapsed = time.perf_counter() - started
    memory = rss_mb()
    await app.close()
    done = len(latencies) + len(first_turns)
    return {
        "turns": done,
        "turns_per_s": round(done / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "first_turn_p99_ms": round(percentile(first_turns, 0.99) * 1000, 2),
        "rss_mb": round(memory, 1),
        "messages_stored": 2 * done,
    }


async def floor(folder: Path, turns: int) -> float:
    """A bare aiosqlite insert of the same two rows in one transaction, per turn, on the same schema."""
    path = folder / "floor.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine)
    await engine.dispose()
    async with aiosqlite.connect(path, isolation_level=None) as db:
        for pragma in SQLITE_PRAGMAS:
            await db.execute(pragma)
        await db.execute("INSERT INTO users (external_id, created_at) VALUES ('floor', '2026-01-01 00:00:00')")
        await db.execute(
            "INSERT INTO conversations (user_id, scope, persona, created_at) VALUES (1, 'x', 'sarah', '2026-01-01')"
        )
        insert = (
            "INSERT INTO messages (conversation_id, role, persona, text, fact_ids, discord_message_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        started = time.perf_counter()
        for turn in range(turns):
            await db.execute("BEGIN")
            await db.execute(insert, (1, "user", None, QUESTIONS[turn % 8], "[]", None, "2026-01-01 00:00:00"))
            await db.execute(insert, (1, "persona", "sarah", "Reply text.", '["f-x"]', None, "2026-01-01 00:00:00"))
            await db.execute("COMMIT")
        return turns / (time.perf_counter() - started)


def ready_seconds(folder: Path, runs: int = 5) -> float:
    """Median wall time of ``python -m bot ask --persona john hi`` from process start, on an existing database."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder}/ready.db"}
    env.pop("DISCORD_TOKEN", None)
    command = [sys.executable, "-m", "bot", "ask", "--persona", "john", "hi"]
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=50_000, help="chat turns in all (2 messages each)")
    parser.add_argument("--conversations", type=int, default=200, help="concurrent conversations")
    parser.add_argument("--floor-turns", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="t2-bench-") as tmp:
        folder = Path(tmp)
        floor_rate = await floor(folder, args.floor_turns)
        result = await chat_turns(folder, args.turns, args.conversations)
        result["floor_turns_per_s"] = round(floor_rate, 1)
        result["ratio"] = round(floor_rate / result["turns_per_s"], 2)
        result["conversations"] = args.conversations
        result["ready_s"] = round(ready_seconds(folder), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())

"""Soak benchmark: many messages over many channels through ChatService on a SQLite file; memory must stay flat.

Each channel has two users talking to their default persona (some messages name Sarah instead), so there are
two to three times as many conversations as channels. Half the messages visit every channel in turn, the other
half go to the busiest tenth of the channels: with more conversations than ``CHAT_CACHE_SIZE`` the busy ones stay
cached while the rest keep being evicted and read back from the database. Alongside each turn the
per-user rate limit and the per-channel pacer of the Discord front end see the message, as they do on Discord.
Prints one JSON object: RSS at start, at each checkpoint and at the end (``rss_curve_mb``: start, then every
checkpoint, so flatness shows at a glance), and throughput; each checkpoint also goes to stderr as it is reached.

Run: ``.venv/bin/python bench/soak.py [--messages 200000] [--channels 20000] [--checkpoint 20000] [--metrics]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.limits import SlidingWindow, TokenBuckets  # noqa: E402
from bot.ops.metrics import Metrics  # noqa: E402

QUESTIONS = (
    "Who is Dyson?",
    "what happened to him?",
    "sarah, where did you plan to take John?",
    "When is Judgment Day?",
    "and then?",
    "hi",
    "How did you escape the mall?",
    "tell me more",
    "what is the T-1000 made of?",
    "why?",
    "thanks",
)


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def soak(
    folder: Path,
    messages: int,
    channels: int,
    checkpoint: int,
    concurrency: int,
    cache_size: int | None,
    metrics: Metrics | None = None,
) -> dict[str, Any]:
    extra = {} if cache_size is None else {"chat_cache_size": cache_size}
    settings = Settings(database_url=f"sqlite+aiosqlite:///{folder}/soak.db", **extra)
    app = await build_app(settings, metrics=metrics)
    user_limits = TokenBuckets(settings.chat_turns_per_user, settings.chat_turn_period_s)
    paced: list[float] = []

    async def pause(seconds: float) -> None:  # Discord's 5 posts per 5 s per channel; a quick run may hit it
        paced.append(seconds)
        await asyncio.sleep(seconds)

    pacer = SlidingWindow(5, 5.0, sleep=pause)
    gc.collect()
    start_rss = rss_mb()
    checkpoints: list[dict[str, Any]] = []
    next_message = 0
    done = 0
    limited = 0
    started = last_time = time.perf_counter()
    last_done = 0

    def record() -> None:
        nonlocal last_time, last_done
        now = time.perf_counter()
        checkpoints.append(
            {
                "messages": done,
                "rss_mb": round(rss_mb(), 1),
                "msgs_per_s": round((done - last_done) / (now - last_time), 1),
                "conversations_cached": app.chat.cached(),
                "pacer_keys": len(pacer),
            }
        )
        last_time, last_done = now, done
        print(json.dumps(checkpoints[-1]), file=sys.stderr, flush=True)  # progress; the result goes to stdout

    async def worker() -> None:
        nonlocal next_message, done, limited
        while next_message < messages:
            number = next_message
            next_message += 1
            busy = max(1, channels // 10)
            channel = (number // 2) % channels if number % 2 else (number // 2) % busy
            visit = number // channels
            user = f"soak:{channel}:{visit % 2}"
            if not user_limits.take(user):
                limited += 1
            await pacer.wait(channel)
            await app.chat.reply(user, f"channel:{channel}", QUESTIONS[(visit + channel) % len(QUESTIONS)])
            done += 1
            if done % checkpoint == 0:
                record()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if not checkpoints or checkpoints[-1]["messages"] != done:
        record()
    end_rss = rss_mb()
    await app.close()
    warm = [point["rss_mb"] for point in checkpoints[1:]] or [checkpoints[-1]["rss_mb"]]
    return {
        "messages": done,
        "channels": channels,
        "users": 2 * min(channels, messages),
        "cache_size": settings.chat_cache_size,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "msgs_per_s": round(done / elapsed, 1),
        "rss_start_mb": round(start_rss, 1),
        "rss_end_mb": round(end_rss, 1),
        "rss_max_mb": max(point["rss_mb"] for point in checkpoints),
        "rss_growth_after_warmup_mb": round(max(warm) - warm[0], 1),
        "rss_curve_mb": [round(start_rss, 1), *(point["rss_mb"] for point in checkpoints)],
        "rate_limited": limited,
        "paced": len(paced),
        "checkpoints": checkpoints,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000, help="chat turns in all")
    parser.add_argument("--channels", type=int, default=20_000, help="channels, each with two users")
    parser.add_argument("--checkpoint", type=int, default=20_000, help="measure RSS every this many messages")
    parser.add_argument("--concurrency", type=int, default=200, help="turns in flight at once")
    parser.add_argument("--cache-size", type=int, default=None, help="CHAT_CACHE_SIZE (default: the setting's)")
    parser.add_argument("--metrics", action="store_true", help="count every turn for /metrics, as METRICS_PORT does")
    args = parser.parse_args()
    metrics = Metrics() if args.metrics else None
    with tempfile.TemporaryDirectory(prefix="t2-soak-") as tmp:
        result = await soak(
            Path(tmp), args.messages, args.channels, args.checkpoint, args.concurrency, args.cache_size, metrics
        )
    if metrics is not None:
        result["metrics_turns"] = metrics.registry.get_sample_value("t2_chat_turns_total")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())

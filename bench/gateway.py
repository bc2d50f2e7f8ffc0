"""Gateway benchmark: MESSAGE_CREATE events through the loopback Discord twin into the real bot. Prints JSON.

Every message comes from a different user and mentions the bot; replies go out through each channel's
webhook. Channels are warmed first (webhook created), so the figures are for the steady state. The bot
runs in its own process, as it would against Discord; the twin runs in this one.

Discord lets a bot post 5 messages per 5 seconds in one channel and the bot keeps to that, so the burst is
spread over enough channels that none gets more than 4 of its messages.

Run: ``.venv/bin/python bench/gateway.py [--messages 2000] [--channels 500] [--rate 100] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import discord
import yarl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.discord.runner import run_discord  # noqa: E402
from tests.twin import DiscordTwin  # noqa: E402

QUESTIONS = ("who is dyson?", "what is skynet?", "when is judgment day?", "hi", "what is the T-1000 made of?")


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Bench:
    def __init__(self, twin: DiscordTwin, channels: list[int], users: list[int]) -> None:
        self.twin = twin
        self.channels = channels
        self.users = users
        self.mention = f"<@{twin.bot_user.id}>"
        self.sent = 0

    def replies(self) -> int:
        return sum(len(self.twin.messages.get(channel, ())) for channel in self.channels)

    async def send(self, channel: int) -> float:
        user = self.users[self.sent % len(self.users)]
        question = QUESTIONS[self.sent % len(QUESTIONS)]
        self.sent += 1
        started = time.monotonic()
        await self.twin.send_message(channel, user, f"{self.mention} {question}")
        return started

    async def wait_replies(self, count: int, limit_s: float) -> None:
        await self.twin.wait_until(lambda: self.replies() >= count or None, limit_s, what=f"{count} replies")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("discord").setLevel(logging.WARNING)
    # Hundreds of webhook posts a second from one address are far over Discord's global limit (50 per second):
    # the benchmark measures the bot, so the twin's rate limits are off.
    twin = DiscordTwin(rate_limits=False)
    await twin.start()
    guild = twin.add_guild("Bench")
    channels = [twin.add_text_channel(guild.id, f"c{n}").id for n in range(args.channels)]
    total_users = args.messages + args.channels + args.rate * args.seconds
    users = [twin.add_member(guild.id, name=f"user{n}").id for n in range(total_users)]
    with tempfile.TemporaryDirectory(prefix="t2-gateway-") as folder:
        database = f"sqlite:///{folder}/bench.db"
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-bot",
            str(twin.port),
            database,
            twin.token,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )
        try:
            await twin.wait_for_ready(timeout=60)
            bench = Bench(twin, channels, users)
            for channel in channels:
                await bench.send(channel)
            await bench.wait_replies(len(channels), 60)
            await asyncio.sleep(5.5)  # let every channel's 5-per-5-seconds window empty
            cpu_before = process_cpu(bot.pid)
            throughput = await burst(bench, args.messages)
            bot_cpu_ms = (process_cpu(bot.pid) - cpu_before) * 1000 / args.messages
            await asyncio.sleep(5.5)
            latencies = await paced(bench, args.rate, args.seconds)
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
            await twin.stop()
    return {
        "msgs_per_s": round(throughput, 1),
        "bot_cpu_ms_per_msg": round(bot_cpu_ms, 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "rate": args.rate,
        "messages": args.messages,
        "channels": args.channels,
    }


async def burst(bench: Bench, count: int) -> float:
    """Send ``count`` messages as fast as the twin can, spread over the channels; replies per second."""
    before = bench.replies()
    started = time.monotonic()
    for number in range(count):
        await bench.send(bench.channels[number % len(bench.channels)])
    await bench.wait_replies(before + count, 120)
    return count / (time.monotonic() - started)


async def paced(bench: Bench, rate: int, seconds: int) -> list[float]:
    """Send ``rate`` messages a second; latency from event sent to the reply's webhook call arriving."""
    twin = bench.twin
    interval = 1.0 / rate
    mark = len(twin.requests)
    before = bench.replies()
    sends: dict[int, list[float]] = {}
    start = time.monotonic()
    for number in range(rate * seconds):
        await asyncio.sleep(max(0.0, start + number * interval - time.monotonic()))
        channel = bench.channels[number % len(bench.channels)]
        sends.setdefault(channel, []).append(await bench.send(channel))
    await bench.wait_replies(before + rate * seconds, 60)
    hooks = {f"/webhooks/{hook['id']}/": channel for channel in sends for hook in twin.webhooks(channel)}
    replies: dict[int, list[float]] = {}
    for request in twin.requests[mark:]:
        if request.method == "POST" and request.path.startswith("/webhooks/"):
            prefix = "/".join(request.path.split("/")[:3]) + "/"
            replies.setdefault(hooks[prefix], []).append(request.time)
    return [
        reply - sent for channel, times in sends.items() for sent, reply in zip(times, replies[channel], strict=True)
    ]


def serve_bot(port: str, database_url: str, token: str) -> None:
    """The bot process: the real bot pointed at the twin on ``port``."""
    discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
    settings = Settings(database_url=database_url, discord_token=token, chat_turns_per_user=1_000_000)
    sys.exit(run_discord(settings))


def main() -> None:
    if sys.argv[1:2] == ["--serve-bot"]:
        serve_bot(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="messages in the throughput burst")
    parser.add_argument("--channels", type=int, default=500, help="channels (Discord allows 5 posts per 5 s in each)")
    parser.add_argument("--rate", type=int, default=100, help="messages per second for the latency run")
    parser.add_argument("--seconds", type=int, default=10, help="length of the latency run")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

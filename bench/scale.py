"""Scale benchmark: the gateway benchmark's burst and paced runs (``bench/gateway.py``) through a test Discord with 2
shards, answered by 1 process running both shards or by 2 processes running one each, on PostgreSQL. Prints JSON:
msgs/s, p50/p99 ms and bot CPU ms per message for each, and the ratio of 2 processes to 1.

A local PostgreSQL server is started (as the tests do) unless ``T2_BENCH_POSTGRES_URL`` names one.

Run: ``.venv/bin/python bench/scale.py [--messages 2000] [--guilds 20] [--channels 400] [--rate 100] [--seconds 10]``
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
from pathlib import Path
from typing import Any

import discord
import yarl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway import Bench, burst, paced, percentile, process_cpu  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.discord.runner import run_discord  # noqa: E402
from tests.postgres import PostgresServer, create_database, drop_database, find_binaries  # noqa: E402
from tests.twin import DiscordTwin  # noqa: E402

SHARDS = 2


async def run_layout(args: argparse.Namespace, database_url: str, layout: list[str]) -> dict[str, Any]:
    """One run: a twin with 2 shards; one bot process per entry of ``layout`` (its SHARD_IDS)."""
    logging.getLogger("discord").setLevel(logging.WARNING)
    twin = DiscordTwin(rate_limits=False, shards=SHARDS, max_concurrency=SHARDS)
    await twin.start()
    guilds = [twin.add_guild(f"Bench {n}") for n in range(args.guilds)]
    channels = [twin.add_text_channel(guilds[n % len(guilds)].id, f"c{n}").id for n in range(args.channels)]
    total_users = args.messages + args.channels + args.rate * args.seconds
    users = []
    for n in range(total_users):
        guild = twin.world.channels[channels[n % len(channels)]].guild_id
        users.append(twin.add_member(guild, name=f"user{n}").id)
    bots = []
    try:
        for shard_ids in layout:
            bots.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "--serve-bot",
                    str(twin.port),
                    database_url,
                    twin.token,
                    shard_ids,
                    env={**os.environ, "LOG_LEVEL": "WARNING"},
                )
            )
        bench = Bench(twin, channels, users)
        await twin.wait_until(lambda: len(twin.gateway.live_sessions) >= SHARDS or None, 120, what="every shard")
        for channel in channels:
            await bench.send(channel)
        await bench.wait_replies(len(channels), 120)
        await asyncio.sleep(5.5)  # let every channel's 5-per-5-seconds window empty
        cpu_before = sum(process_cpu(bot.pid) for bot in bots)
        throughput = await burst(bench, args.messages)
        cpu_ms = (sum(process_cpu(bot.pid) for bot in bots) - cpu_before) * 1000 / args.messages
        await asyncio.sleep(5.5)
        latencies = await paced(bench, args.rate, args.seconds)
    finally:
        for bot in bots:
            bot.send_signal(signal.SIGTERM)
        for bot in bots:
            await asyncio.wait_for(bot.wait(), 30)
        await twin.stop()
    return {
        "processes": len(layout),
        "msgs_per_s": round(throughput, 1),
        "bot_cpu_ms_per_msg": round(cpu_ms, 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server: PostgresServer | None = None
    server_url = os.environ.get("T2_BENCH_POSTGRES_URL", "").strip()
    if not server_url:
        binaries = find_binaries()
        if binaries is None:
            raise SystemExit("PostgreSQL server binaries not found; set T2_BENCH_POSTGRES_URL")
        server = PostgresServer(binaries)
        server_url = server.start()
    results = []
    try:
        for layout in (["0-1"], ["0", "1"]):
            database = await asyncio.to_thread(create_database, server_url)
            try:
                results.append(await run_layout(args, database, layout))
            finally:
                await asyncio.to_thread(drop_database, server_url, database)
    finally:
        if server is not None:
            server.stop()
    one, two = results
    return {
        "one_process": one,
        "two_processes": two,
        "throughput_ratio": round(two["msgs_per_s"] / one["msgs_per_s"], 2),
        "cpus": os.cpu_count(),
        "messages": args.messages,
        "guilds": args.guilds,
        "channels": args.channels,
        "rate": args.rate,
    }


def serve_bot(port: str, database_url: str, token: str, shard_ids: str) -> None:
    """A bot process running ``shard_ids`` of the 2 shards, pointed at the twin on ``port``."""
    discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
    with tempfile.TemporaryDirectory(prefix="t2-scale-") as folder:
        os.chdir(folder)  # the data folder (the understanding model's cache comes from T2_CACHE_DIR)
        settings = Settings(
            database_url=database_url,
            discord_token=token,
            chat_turns_per_user=1_000_000,
            shard_count=SHARDS,
            shard_ids=shard_ids,  # type: ignore[arg-type]  # read as SHARD_IDS is
        )
        sys.exit(run_discord(settings))


def main() -> None:
    if sys.argv[1:2] == ["--serve-bot"]:
        serve_bot(*sys.argv[2:6])
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="messages in the throughput burst")
    parser.add_argument("--guilds", type=int, default=20, help="guilds, spread over the 2 shards")
    parser.add_argument("--channels", type=int, default=400, help="channels, spread over the guilds")
    parser.add_argument("--rate", type=int, default=100, help="messages per second for the latency run")
    parser.add_argument("--seconds", type=int, default=10, help="length of the latency run")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

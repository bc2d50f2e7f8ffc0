"""The Discord side of /healthz and /metrics: the gateway's state and this process's shards.

Imported only when ``METRICS_PORT`` is set (it imports prometheus-client).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import discord

from bot.app import App
from bot.ops.health import HealthCheck, HealthReport
from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer

__all__ = ["Monitor", "gateway_connected"]


def gateway_connected(client: discord.Client) -> bool:
    """True while the client is ready and every gateway socket it owns is open."""
    if client.is_closed() or not client.is_ready():
        return False
    if isinstance(client, discord.AutoShardedClient):
        return all(not shard.is_closed() for shard in client.shards.values())
    ws = client.ws
    return ws is not None and ws.open


class Monitor:
    """Serves /healthz and /metrics for a bot: its gateway, its database and outbox, its running games."""

    def __init__(
        self, client: discord.Client, app: App, metrics: Metrics, *, sent: Callable[[], Collection[str]] = frozenset
    ) -> None:
        """``sent``: the keys of posts that went out and are being removed from the outbox (not counted as waiting)."""
        self._client = client
        self._app = app
        self._metrics = metrics
        self.health = HealthCheck(lambda: gateway_connected(client), app.sessions, sent=sent)
        self.server = OpsServer(metrics, self.health.report, self._refresh)

    async def start(self, host: str, port: int) -> None:
        """Start serving."""
        await self.server.start(host, port)

    async def close(self) -> None:
        """Stop serving."""
        await self.server.close()

    def _refresh(self, report: HealthReport) -> None:
        """Set the gauges read at each scrape: health, and running games and sessions by shard."""
        self._metrics.set_health(report.gateway_connected, report.database_reachable, report.outbox_depth)
        shard = self._app.ownership.shard
        self._metrics.set_running(
            list(self._app.ownership.shard_ids),
            trivia=(shard(guild) for guild in self._app.trivia.running_guilds()),
            story=(shard(guild) for guild in self._app.story.running_guilds()),
        )

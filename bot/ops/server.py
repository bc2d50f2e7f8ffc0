"""The HTTP endpoints for whoever runs the bot: /healthz (JSON) and /metrics (Prometheus), served with aiohttp."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.config import ConfigError
from bot.ops.health import HealthReport
from bot.ops.metrics import CONTENT_TYPE, Metrics

__all__ = ["OpsServer"]

log = logging.getLogger(__name__)


class OpsServer:
    """Serves ``health`` at /healthz (200 when healthy, else 503) and ``metrics`` at /metrics.

    Before /metrics is rendered, ``refresh`` sets the gauges that are read rather than counted.
    """

    def __init__(
        self,
        metrics: Metrics,
        health: Callable[[], Awaitable[HealthReport]],
        refresh: Callable[[HealthReport], None] | None = None,
    ) -> None:
        self._metrics = metrics
        self._health = health
        self._refresh = refresh
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._render_metrics)
        self._runner = web.AppRunner(app, access_log=None)
        self._site: web.TCPSite | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port`` (port 0: any free port, see ``port``); ConfigError when that is refused."""
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        try:
            await self._site.start()
        except OSError as exc:
            await self.close()
            raise ConfigError(f"METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
        log.info("serving /healthz and /metrics on http://%s:%d", host, self.port)

    @property
    def port(self) -> int:
        """The port listened on."""
        addresses = self._runner.addresses
        if not addresses:
            raise RuntimeError("the server is not listening")
        return int(addresses[0][1])

    async def close(self) -> None:
        """Stop listening."""
        await self._runner.cleanup()
        self._site = None

    async def _healthz(self, request: web.Request) -> web.Response:
        report = await self._health()
        return web.json_response(report.to_json(), status=200 if report.healthy else 503)

    async def _render_metrics(self, request: web.Request) -> web.Response:
        if self._refresh is not None:
            self._refresh(await self._health())
        response = web.Response(body=self._metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

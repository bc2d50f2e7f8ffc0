"""The health report: is the gateway connected, does the database answer, how many posts wait to be sent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.common import describe_failure
from db.outbox import OutboxRepository

__all__ = ["DATABASE_TIMEOUT_S", "HealthCheck", "HealthReport"]

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_S = 2.0
"""How long the database may take to answer a health check before it counts as unreachable."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One look at the bot's health; healthy when the gateway is connected and the database answers."""

    gateway_connected: bool
    database_reachable: bool
    outbox_depth: int | None
    """Posts stored and not yet sent; None when the database did not answer."""

    @property
    def healthy(self) -> bool:
        """Whether the bot can take and answer messages now."""
        return self.gateway_connected and self.database_reachable

    def to_json(self) -> dict[str, Any]:
        """The report as /healthz serves it."""
        return {"healthy": self.healthy, **asdict(self)}


class HealthCheck:
    """Makes health reports: ``gateway_connected`` is asked, the database is sent ``SELECT 1`` and the outbox counted,
    both within ``timeout_s``."""

    def __init__(
        self,
        gateway_connected: Callable[[], bool],
        sessions: async_sessionmaker[AsyncSession],
        *,
        timeout_s: float = DATABASE_TIMEOUT_S,
        sent: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        """``sent``: the keys of posts that went out and whose removal from the outbox is not committed yet."""
        self._sent = sent
        self._gateway_connected = gateway_connected
        self._sessions = sessions
        self._timeout_s = timeout_s

    async def report(self) -> HealthReport:
        """Look at the gateway, the database and the outbox now."""
        reachable, depth = False, None
        try:
            async with asyncio.timeout(self._timeout_s), self._sessions() as session:
                await session.execute(text("SELECT 1"))
                reachable = True
                depth = await OutboxRepository(session).count(self._sent())
        except Exception as exc:  # any failure to answer is what this reports
            log.warning(
                "health check: the database %s (%s)", "failed" if reachable else "did not answer", describe_failure(exc)
            )
        return HealthReport(self._gateway_connected(), reachable, depth)

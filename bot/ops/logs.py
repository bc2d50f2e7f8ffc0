"""Log lines with their Discord context: plain text, or one JSON object per line (``LOG_FORMAT=json``).

The guild, channel and shard an event belongs to are set where the event enters the bot (``bind`` in a handler's
own task, ``log_context`` around a block) and are read by ``ContextFilter`` into every record logged meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = [
    "UNKNOWN",
    "ContextFilter",
    "JsonFormatter",
    "LogContext",
    "bind",
    "configure_handler",
    "current",
    "log_context",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True, slots=True)
class LogContext:
    """Where the work being logged comes from; None where it is not known (or not in a guild)."""

    guild: int | None = None
    channel: int | None = None
    shard: int | None = None


UNKNOWN = LogContext()
_context: ContextVar[LogContext | None] = ContextVar("t2_log_context", default=None)


def current() -> LogContext:
    """The context of the work running now."""
    return _context.get() or UNKNOWN


def bind(*, guild: int | None, channel: int | None, shard: int | None) -> None:
    """Set the context for the rest of the running task (an event handler's own task, which ends with it)."""
    _context.set(LogContext(guild, channel, shard))


@contextlib.contextmanager
def log_context(*, guild: int | None, channel: int | None, shard: int | None) -> Iterator[None]:
    """Set the context for the block only (in a task that goes on to other work afterwards)."""
    token = _context.set(LogContext(guild, channel, shard))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``guild``, ``channel`` and ``shard`` (None when unknown) to every record passing a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current()
        record.guild = context.guild
        record.channel = context.channel
        record.shard = context.shard
        return True


def _snowflake(value: object) -> str | None:
    # Discord ids pass 2**53: as JSON numbers, readers that parse them as doubles would round them.
    return str(value) if isinstance(value, int) else None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, guild, channel, shard, and the
    exception's traceback when there is one. Guild and channel ids are strings, as Discord writes them."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "guild": _snowflake(getattr(record, "guild", None)),
            "channel": _snowflake(getattr(record, "channel", None)),
            "shard": getattr(record, "shard", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_handler(handler: logging.Handler, log_format: Literal["text", "json"]) -> None:
    """Give ``handler`` the chosen format and the Discord context of each record."""
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())

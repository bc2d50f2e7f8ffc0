"""Discord's sharding as configuration: which shard a guild belongs to, which shards this process runs, and the
pace at which it may identify them.

A guild belongs to shard ``(guild_id >> 22) % shard_count``; direct messages belong to shard 0. Everything the bot
holds in memory for a guild (running games, story clocks, chat caches, rate limits) belongs to the process that runs
that guild's shard.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "IDENTIFY_INTERVAL_S",
    "IDENTIFY_SLACK_S",
    "IdentifyGate",
    "Ownership",
    "ShardRangeError",
    "parse_shard_ids",
    "shard_of",
]

IDENTIFY_INTERVAL_S = 5.0
"""Discord lets one shard of each rate-limit bucket identify every 5 seconds."""
IDENTIFY_SLACK_S = 0.5
"""Added to the 5 seconds a bucket is held across processes: the hold starts before the IDENTIFY is sent, and Discord
counts from when it arrives, which for the next process may be sooner after the hold than for this one."""

_PART = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


class ShardRangeError(ValueError):
    """SHARD_IDS cannot be read, or does not fit SHARD_COUNT."""


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """``"0-3"``, ``"4"`` or ``"0-1,6"`` as sorted, distinct shard ids."""
    ids: set[int] = set()
    for part in text.split(","):
        match = _PART.match(part)
        if match is None:
            raise ShardRangeError(f"cannot read {part.strip()!r}: use a range such as 0-3, or ids such as 0,2,5")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ShardRangeError(f"the range {first}-{last} runs backwards")
        ids.update(range(first, last + 1))
    return tuple(sorted(ids))


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard a guild's events come on; direct messages (no guild) come on shard 0."""
    if guild_id is None or shard_count <= 1:
        return 0
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class Ownership:
    """The shards this process runs, out of ``shard_count``; ``Ownership()`` is one process that runs them all."""

    shard_count: int = 1
    shard_ids: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if self.shard_count < 1:
            raise ShardRangeError("there must be at least one shard")
        if not self.shard_ids:
            raise ShardRangeError("a process must run at least one shard")
        if outside := [shard for shard in self.shard_ids if not 0 <= shard < self.shard_count]:
            raise ShardRangeError(f"shard {outside[0]} is outside 0-{self.shard_count - 1} (SHARD_COUNT)")

    @classmethod
    def of(cls, shard_count: int, shard_ids: Iterable[int] | None = None) -> Ownership:
        """This process's shards: ``shard_ids``, or all of them."""
        ids = tuple(sorted(set(shard_ids))) if shard_ids is not None else tuple(range(shard_count))
        return cls(shard_count, ids)

    @property
    def everything(self) -> bool:
        """True when this process runs every shard, so it owns every guild."""
        return len(self.shard_ids) == self.shard_count

    def shard(self, guild_id: int | None) -> int:
        """The shard of ``guild_id`` (0 for direct messages)."""
        return shard_of(guild_id, self.shard_count)

    def owns(self, guild_id: int | None) -> bool:
        """True when this process runs the shard of ``guild_id``."""
        return self.everything or self.shard(guild_id) in self.shard_ids

    def describe(self) -> str:
        """``shards 0-1 of 4``, for logs and messages."""
        ids = self.shard_ids
        if len(ids) == 1:
            return f"shard {ids[0]} of {self.shard_count}"
        contiguous = ids == tuple(range(ids[0], ids[-1] + 1))
        span = f"{ids[0]}-{ids[-1]}" if contiguous else ",".join(map(str, ids))
        return f"shards {span} of {self.shard_count}"


@dataclass(slots=True)
class IdentifyGate:
    """Paces IDENTIFY as Discord asks: shards fall into ``max_concurrency`` buckets (``shard_id % max_concurrency``),
    and each bucket may identify once every ``interval`` seconds."""

    max_concurrency: int = 1
    interval: float = IDENTIFY_INTERVAL_S
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    _last: dict[int, float] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    def bucket(self, shard_id: int) -> int:
        """The rate-limit bucket of ``shard_id``."""
        return shard_id % max(self.max_concurrency, 1)

    async def wait(self, shard_id: int) -> None:
        """Return when ``shard_id`` may identify, and count it as identifying now."""
        bucket = self.bucket(shard_id)
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            last = self._last.get(bucket)
            if last is not None and (wait := last + self.interval - self.clock()) > 0:
                await self.sleep(wait)
            self._last[bucket] = self.clock()

"""Rate limits with an injectable clock: a token bucket per key, and a sliding window per channel."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Clock", "SlidingWindow", "TokenBuckets"]

Clock = Callable[[], float]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


class TokenBuckets:
    """``capacity`` turns per ``period`` seconds for each key, refilled continuously; bounded memory."""

    def __init__(self, capacity: int, period: float, *, clock: Clock = time.monotonic, max_keys: int = 50_000) -> None:
        self.capacity = capacity
        self.rate = capacity / period
        self._clock = clock
        self._buckets: OrderedDict[object, _Bucket] = OrderedDict()
        self._max_keys = max_keys

    def take(self, key: object) -> bool:
        """Spend one token for ``key``; False when the bucket is empty."""
        bucket = self._refill(key)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return True
        return False

    def should_warn(self, key: object) -> bool:
        """True once per empty spell, so a flooding user is told only once."""
        bucket = self._refill(key)
        if bucket.warned:
            return False
        bucket.warned = True
        return True

    def _refill(self, key: object) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.capacity), now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket


class SlidingWindow:
    """At most ``limit`` events per ``period`` seconds per key; ``wait`` sleeps until one is allowed.

    A key is forgotten once its last event is ``period`` old (it no longer limits anything), so memory follows
    the keys active in the last period; ``max_keys`` caps even that, dropping the key least recently active.
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
        max_keys: int = 50_000,
    ) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._max_keys = max_keys
        self._events: OrderedDict[object, deque[float]] = OrderedDict()
        """Oldest last event first: expired keys are at the front."""

    def __len__(self) -> int:
        return len(self._events)

    def delay(self, key: object) -> float:
        """Seconds to wait before the next event for ``key`` is allowed (0 when it is allowed now)."""
        now = self._clock()
        self._expire(now)
        events = self._events.get(key)
        if events is None:
            return 0.0
        while events and now - events[0] >= self.period:
            events.popleft()
        if len(events) < self.limit:
            return 0.0
        return self.period - (now - events[0])

    async def wait(self, key: object) -> None:
        """Wait until an event for ``key`` is allowed, then record it."""
        while (pause := self.delay(key)) > 0:
            result = self._sleep(pause)
            if asyncio.iscoroutine(result):
                await result
        now = self._clock()
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit)
            if len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(now)

    def _expire(self, now: float) -> None:
        """Forget the keys whose last event is a whole period old."""
        while self._events:
            events = next(iter(self._events.values()))
            if events and now - events[-1] < self.period:
                return
            self._events.popitem(last=False)

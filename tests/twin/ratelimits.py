"""Discord's REST rate limits, as the twin enforces them.

Modelled on https://discord.com/developers/docs/topics/rate-limits:

* **Per-route buckets.** A bucket is a set of routes that share one limit (``X-RateLimit-Bucket``, the same hash
  for every route of the bucket and never including the ids), counted separately for each top-level resource in the
  path: ``channel_id``, ``guild_id``, or ``webhook_id`` (+ ``token``). A bucket allows ``limit`` requests in a window
  of ``period`` seconds that opens with the first request after the previous window ended.
* **The global limit.** 50 requests per second for each bot token (requests without ``Authorization`` count against
  the caller's address instead). Interaction endpoints - the callback and the application webhook of an interaction
  token (followups, ``@original``) - are not bound to it.
* **Interaction callbacks** carry no bucket: Discord allows exactly one per interaction, which the twin already
  enforces (``40060``).

The figures of the buckets are the ones Discord published in its route table (5 messages per 5 s per channel,
5 deletes per 1 s per channel, 1 reaction per 0.25 s per channel, 50 requests per second overall) and what it
reports in its headers for webhooks (5 per 2 s per webhook and token). Routes not listed get a bucket of their
own of ``DEFAULT`` size.

Every answer of a limited route carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds),
``-Reset-After`` and ``-Bucket``; a 429 adds ``X-RateLimit-Scope`` (``user`` or ``global``, with
``X-RateLimit-Global: true``), ``Retry-After`` (whole seconds, rounded up) and ``Via`` (discord.py takes a 429
without it for a Cloudflare ban). Times in headers and bodies are rounded *up* to the millisecond, so a client that
waits what it is told is never early.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT",
    "GLOBAL",
    "ROUTE_LIMITS",
    "Decision",
    "Limit",
    "RateLimiter",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    """``limit`` requests per ``period`` seconds; routes with the same ``name`` share one bucket."""

    name: str
    limit: int
    period: float

    @property
    def bucket_hash(self) -> str:
        """The ``X-RateLimit-Bucket`` value: stable, the same for every route of the bucket, without ids."""
        return hashlib.md5(f"twin:{self.name}".encode()).hexdigest()


MESSAGES = Limit("channel-messages-create", 5, 5.0)
MESSAGE_EDITS = Limit("channel-messages-edit", 5, 5.0)
MESSAGE_DELETES = Limit("channel-messages-delete", 5, 1.0)
REACTIONS = Limit("channel-reactions", 1, 0.25)
WEBHOOK_TOKEN = Limit("webhook-token", 5, 2.0)
WEBHOOK_CREATE = Limit("channel-webhooks-create", 10, 10.0)
TYPING = Limit("channel-typing", 5, 5.0)
THREADS = Limit("channel-threads-create", 10, 10.0)
COMMANDS = Limit("application-commands", 5, 20.0)
DEFAULT = Limit("default", 40, 1.0)
"""Routes that are not listed: one bucket per route and top-level resource."""
GLOBAL = Limit("global", 50, 1.0)

_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
_REACTION = _MESSAGE + "/reactions/{emoji}"
_WEBHOOK = "/webhooks/{webhook_id}/{token}"

ROUTE_LIMITS: Mapping[str, Limit] = {
    "POST /channels/{channel_id}/messages": MESSAGES,
    "PATCH " + _MESSAGE: MESSAGE_EDITS,
    "DELETE " + _MESSAGE: MESSAGE_DELETES,
    "PUT " + _REACTION + "/@me": REACTIONS,
    "DELETE " + _REACTION + "/@me": REACTIONS,
    "DELETE " + _REACTION + "/{user_id}": REACTIONS,
    "POST /channels/{channel_id}/typing": TYPING,
    "POST /channels/{channel_id}/webhooks": WEBHOOK_CREATE,
    "POST " + _MESSAGE + "/threads": THREADS,
    "POST /channels/{channel_id}/threads": THREADS,
    "POST " + _WEBHOOK: WEBHOOK_TOKEN,
    "GET " + _WEBHOOK: WEBHOOK_TOKEN,
    "PATCH " + _WEBHOOK: WEBHOOK_TOKEN,
    "DELETE " + _WEBHOOK: WEBHOOK_TOKEN,
    "GET " + _WEBHOOK + "/messages/{message}": WEBHOOK_TOKEN,
    "PATCH " + _WEBHOOK + "/messages/{message}": WEBHOOK_TOKEN,
    "DELETE " + _WEBHOOK + "/messages/{message}": WEBHOOK_TOKEN,
    "PUT /applications/{application_id}/commands": COMMANDS,
    "PUT /applications/{application_id}/guilds/{guild_id}/commands": COMMANDS,
}

UNLIMITED_ROUTES = frozenset({"POST /interactions/{interaction_id}/{token}/callback", "GET /gateway"})
MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id", "token")


def _ceil_ms(seconds: float) -> float:
    return math.ceil(round(seconds * 1000, 6)) / 1000


@dataclass
class _Window:
    count: int = 0
    reset: float = 0.0


@dataclass
class Decision:
    """What the limiter says about one request: ``status`` 429 or 0, and the headers to answer with."""

    headers: dict[str, str] = field(default_factory=dict)
    scope: str | None = None
    retry_after: float = 0.0
    bucket: str | None = None

    @property
    def limited(self) -> bool:
        return self.scope is not None

    def body(self) -> dict[str, object]:
        return {"message": "You are being rate limited.", "retry_after": self.retry_after, "global": self.is_global}

    @property
    def is_global(self) -> bool:
        return self.scope == "global"


class RateLimiter:
    """Per-route buckets and the global limit, counted on ``clock`` (seconds since the epoch, like ``time.time``)."""

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        routes: Mapping[str, Limit] = ROUTE_LIMITS,
        default: Limit = DEFAULT,
        global_limit: Limit = GLOBAL,
    ) -> None:
        self.clock = clock
        self.routes = dict(routes)
        self.default = default
        self.global_limit = global_limit
        self._windows: dict[str, _Window] = {}

    def bucket_for(self, route: str) -> Limit:
        """The bucket of a matched route (``"METHOD /template"``); unlisted routes each get a ``DEFAULT`` one."""
        found = self.routes.get(route)
        if found is not None:
            return found
        return Limit(f"{self.default.name}:{route}", self.default.limit, self.default.period)

    def check(
        self, route: str | None, params: Mapping[str, str], *, caller: str, interaction: bool = False
    ) -> Decision:
        """Count one request; a 429 decision when a limit is exceeded (the request is then not counted).

        ``route`` is the matched ``"METHOD /template"`` (``None`` for a path no route knows: only the global limit
        applies), ``params`` its path parameters, ``caller`` the global limit's key (the bot token or the address),
        ``interaction`` marks an interaction endpoint, which the global limit does not bind.
        """
        now = self.clock()
        if route in UNLIMITED_ROUTES:
            return Decision()
        if not interaction:
            window = self._window(f"global:{caller}", self.global_limit, now)
            if window.count >= self.global_limit.limit:
                return self._global_429(window.reset - now)
        bucket = self.bucket_for(route) if route is not None else None
        decision = Decision()
        if bucket is not None:
            major = "+".join(params[name] for name in MAJOR_PARAMETERS if name in params)
            window = self._window(f"{bucket.name}:{major}", bucket, now)
            if window.count >= bucket.limit:
                return self._route_429(bucket, window, now)
            window.count += 1
            decision = Decision(headers=self._headers(bucket, window, now), bucket=bucket.bucket_hash)
        if not interaction:
            self._windows[f"global:{caller}"].count += 1
        return decision

    def _window(self, key: str, limit: Limit, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.reset:
            window = self._windows[key] = _Window(0, now + limit.period)
        return window

    def _headers(self, bucket: Limit, window: _Window, now: float) -> dict[str, str]:
        after = _ceil_ms(window.reset - now)
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.limit - window.count)),
            "X-RateLimit-Reset": f"{_ceil_ms(window.reset):.3f}",
            "X-RateLimit-Reset-After": f"{after:.3f}",
            "X-RateLimit-Bucket": bucket.bucket_hash,
        }

    def _route_429(self, bucket: Limit, window: _Window, now: float) -> Decision:
        retry_after = _ceil_ms(window.reset - now)
        headers = self._headers(bucket, window, now)
        headers.update(_limited_headers(retry_after, "user"))
        return Decision(headers=headers, scope="user", retry_after=retry_after, bucket=bucket.bucket_hash)

    def _global_429(self, remaining: float) -> Decision:
        retry_after = _ceil_ms(remaining)
        headers = _limited_headers(retry_after, "global")
        headers["X-RateLimit-Global"] = "true"
        return Decision(headers=headers, scope="global", retry_after=retry_after)


def _limited_headers(retry_after: float, scope: str) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(retry_after))), "X-RateLimit-Scope": scope, "Via": "1.1 google"}

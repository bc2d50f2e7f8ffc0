"""The bot's Prometheus metrics, on a registry of their own (one per bot, so several never clash).

Counting is a few in-memory increments: no awaits, nothing between a turn and its reply. The gauges of running
games, the gateway, the database and the outbox are read when /metrics is scraped (``set_running``, ``set_health``).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "REPLY_KINDS", "Metrics", "reply_kind"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

REPLY_KINDS: dict[str, str] = {
    "facts": "fact",
    "follow_up": "fact",
    "unknown": "dont_know",
    "follow_up_exhausted": "dont_know",
    "greetings": "small_talk",
    "farewells": "small_talk",
    "thanks": "small_talk",
    "who_am_i": "small_talk",
    "how_are_you": "small_talk",
    "insults": "small_talk",
    "catchphrases": "small_talk",
    "off_topic": "refused",
    "injection": "refused",
    "empty": "refused",
    "unreadable": "refused",
    "model": "model",
}
"""The persona engine's reply kinds by what they are to someone watching the bot: a plot fact, "I don't know",
small talk, or a message not answered (off topic, an attempt to change the persona's rules, nothing readable); and
a reply worded by the language model backend, which passed the fact guard."""

SWITCHING_PROTOCOLS = 101
_KIND_LABELS = ("fact", "dont_know", "small_talk", "refused", "model", "other")

TURN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""A chat turn usually takes a few milliseconds; one waiting for the database may take seconds."""
REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)


def reply_kind(engine_kind: str) -> str:
    """The label of a reply kind in ``t2_chat_replies_total`` ("other" for a kind this table does not know)."""
    return REPLY_KINDS.get(engine_kind, "other")


class Metrics:
    """Every metric of one bot, and the registry /metrics renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.turns = Counter("t2_chat_turns", "Chat turns answered (stored and replied to)", registry=registry)
        self.replies = Counter(
            "t2_chat_replies", "Chat replies by kind: fact, dont_know, small_talk, refused", ["kind"], registry=registry
        )
        self._replies = {label: self.replies.labels(label) for label in _KIND_LABELS}
        self.turn_seconds = Histogram(
            "t2_chat_turn_seconds",
            "Time to answer one chat turn: understanding, the reply and its commit",
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.discord_request_seconds = Histogram(
            "t2_discord_request_seconds",
            "Time of one HTTP request to Discord (REST, webhooks, interaction answers), rate limit waits excluded",
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.database_errors = Counter(
            "t2_database_errors", "Database failures told to a user (the database failed or refused)", registry=registry
        )
        self.rate_limited = Counter(
            "t2_discord_rate_limited", "HTTP 429 answers from Discord, by scope", ["scope"], registry=registry
        )
        self.trivia_games = Gauge(
            "t2_trivia_games_running", "Trivia games running, by shard", ["shard"], registry=registry
        )
        self.story_sessions = Gauge(
            "t2_story_sessions_running",
            "Story sessions not ended (lobby, playing or paused), by shard",
            ["shard"],
            registry=registry,
        )
        self.gateway_connected = Gauge("t2_gateway_connected", "1 while the gateway is connected", registry=registry)
        self.database_reachable = Gauge(
            "t2_database_reachable", "1 when the database answered SELECT 1 at the last scrape", registry=registry
        )
        self.outbox_depth = Gauge("t2_outbox_depth", "Posts stored and not yet sent", registry=registry)
        self.model_answers = Counter(
            "t2_model_answers",
            "Language model answers by outcome: used, guard (refused by the fact guard), error, unreadable",
            ["outcome"],
            registry=registry,
        )

    def chat_turn(self, engine_kind: str, seconds: float) -> None:
        """One chat turn answered with a reply of ``engine_kind`` in ``seconds``."""
        self.turns.inc()
        self._replies[reply_kind(engine_kind)].inc()
        self.turn_seconds.observe(seconds)

    def model_answer(self, outcome: str) -> None:
        """The model backend answered: ``used``, or why the offline reply was posted instead."""
        self.model_answers.labels(outcome).inc()

    def database_error(self) -> None:
        """A database failure reached a user."""
        self.database_errors.inc()

    def discord_response(self, status: int, seconds: float, scope: str | None) -> None:
        """Discord answered an HTTP request with ``status`` after ``seconds``; ``scope`` is its rate limit scope.

        A gateway socket opening (101) is not a request: the gateway's health is ``t2_gateway_connected``.
        """
        if status == SWITCHING_PROTOCOLS:
            return
        self.discord_request_seconds.observe(seconds)
        if status == 429:
            self.rate_limited.labels(scope or "unknown").inc()

    def set_running(self, shards: Iterable[int], trivia: Iterable[int], story: Iterable[int]) -> None:
        """Set the running games and sessions per shard, from the shard of each (``shards``: this process's)."""
        for gauge, items in ((self.trivia_games, trivia), (self.story_sessions, story)):
            counts = Tally(items)
            gauge.clear()
            for shard in sorted(set(shards) | set(counts)):
                gauge.labels(str(shard)).set(counts[shard])

    def set_health(self, gateway_connected: bool, database_reachable: bool, outbox_depth: int | None) -> None:
        """Set the health gauges (the outbox depth stays as it was when the database did not answer)."""
        self.gateway_connected.set(int(gateway_connected))
        self.database_reachable.set(int(database_reachable))
        if outbox_depth is not None:
            self.outbox_depth.set(outbox_depth)

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

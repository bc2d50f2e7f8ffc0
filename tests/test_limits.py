"""Rate limits and message splitting, with an injected clock."""

from __future__ import annotations

import asyncio

from bot.limits import SlidingWindow, TokenBuckets
from bot.ordering import InOrder
from bot.splitting import split_message
from tests.clock import FakeClock


def test_token_bucket_allows_capacity_then_refills_over_time() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(5, 10.0, clock=clock)
    assert [buckets.take("alice") for _ in range(6)] == [True] * 5 + [False]
    assert buckets.take("bob")
    clock.now += 2.0
    assert buckets.take("alice") and not buckets.take("alice")


def test_a_flooding_user_is_warned_once_per_empty_spell() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(1, 10.0, clock=clock)
    assert buckets.take("alice") and not buckets.take("alice")
    assert buckets.should_warn("alice") and not buckets.should_warn("alice")
    clock.now += 10.0
    assert buckets.take("alice") and not buckets.take("alice")
    assert buckets.should_warn("alice")


def test_buckets_forget_the_oldest_keys_beyond_their_bound() -> None:
    buckets = TokenBuckets(1, 10.0, clock=FakeClock(), max_keys=2)
    for key in ("a", "b", "c"):
        assert buckets.take(key)
    assert buckets.take("a"), "the oldest key was dropped, so it starts full again"


async def test_sliding_window_waits_for_the_sixth_message() -> None:
    clock = FakeClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    window = SlidingWindow(5, 5.0, clock=clock, sleep=sleep)
    for _ in range(5):
        await window.wait("channel")
        clock.now += 0.5
    assert slept == []
    await window.wait("channel")
    assert slept == [2.5]
    assert window.delay("other") == 0.0


def test_split_keeps_short_text_whole_and_cuts_long_text_at_sentences() -> None:
    assert split_message("Short.") == ["Short."]
    assert split_message("   ") == []
    text = " ".join(f"Sentence number {n} is here." for n in range(200))
    parts = split_message(text, 500)
    assert all(len(part) <= 500 for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == text


def test_split_cuts_an_endless_word() -> None:
    parts = split_message("a" * 4500)
    assert [len(part) for part in parts] == [2000, 2000, 500]


async def test_in_order_lets_work_finish_in_the_order_it_started() -> None:
    order = InOrder()
    done: list[str] = []

    async def work(name: str, delay: float, *, answer: bool = True) -> None:
        ticket = order.ticket("channel")
        try:
            await asyncio.sleep(delay)
            if answer:
                await ticket.wait()
                done.append(name)
        finally:
            ticket.release()

    await asyncio.gather(work("slow", 0.03), work("quiet", 0.0, answer=False), work("fast", 0.0), work("other", 0.01))
    assert done == ["slow", "fast", "other"], "one that gives up early does not let later ones overtake"
    assert len(order) == 0, "nothing is kept once every ticket is released"


async def test_in_order_never_waits_forever_for_a_stuck_turn() -> None:
    order = InOrder(max_wait_s=0.01)
    stuck = order.ticket("channel")
    later = order.ticket("channel")
    await later.wait()
    later.release()
    stuck.release()
    await asyncio.sleep(0)  # the later ticket finishes in a callback of the earlier one
    assert len(order) == 0

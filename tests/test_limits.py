"""Rate limits and message splitting, with an injected clock."""

from __future__ import annotations

import asyncio

from bot.limits import SlidingWindow, TokenBuckets
from bot.ordering import InOrder
from bot.splitting import clip, fit_lines, split_lines, split_message
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


def test_split_lines_keeps_lines_and_cuts_a_line_too_long_for_one_message() -> None:
    lines = [f"**f-fact-{n}** (scene {n % 9}): a plot fact that is said in one line." for n in range(80)]
    parts = split_lines("\n".join(lines), 1000)
    assert all(len(part) <= 1000 for part in parts) and len(parts) > 1
    assert "\n".join(parts).split("\n") == lines
    long = split_lines("head\n" + "word " * 900 + "\ntail", 2000)
    assert all(len(part) <= 2000 for part in long)
    assert long[0] == "head" and long[-1].endswith("word\ntail")
    assert " ".join(part.removeprefix("head").removesuffix("tail").strip() for part in long).split() == ["word"] * 900
    assert split_lines("one\ntwo") == ["one\ntwo"] and split_lines(" \n ") == []


def test_clip_and_fit_lines_say_what_was_left_out() -> None:
    assert clip("short", 10) == "short"
    assert clip("x" * 50, 10) == "xxxxxxx..."
    lines = [f"line {n:03}" for n in range(500)]
    fitted = fit_lines(lines, 100, what="more lists")
    assert len(fitted) <= 100
    shown = fitted.split("\n")
    assert shown[:-1] == lines[: len(shown) - 1]
    assert shown[-1] == f"... and {500 - (len(shown) - 1)} more lists"
    assert fit_lines(lines[:3], 100) == "line 000\nline 001\nline 002"
    one_huge = fit_lines(["y" * 5000, "z"], 2000)
    assert len(one_huge) <= 2000 and one_huge.endswith("y...\nz")


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

"""What the model twin does with one request: the answer's content, or a failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = ["Behaviour", "cut", "grounded", "hang", "malformed", "plain", "refuse_structured", "slow", "status"]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One scripted answer. ``content`` is the assistant message; ``status`` an HTTP error instead; ``delay_s`` a
    wait before answering; ``chunk_delay_s`` a wait between the streamed events of the content; ``cut_after`` ends
    a stream (or a plain body) after that many characters of content; ``needs_plain`` answers 400 to a request asking
    for structured output, then ``then`` is used for the retry."""

    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    cut_after: int | None = None
    needs_plain: bool = False
    then: Behaviour | None = None
    prompt_tokens: int = 50
    completion_tokens: int | None = None
    chunk_delay_s: float = 0.0


def grounded(reply: str, fact_ids: Sequence[str]) -> Behaviour:
    """The structured answer the prompt asks for: the cited fact ids, then the reply."""
    return Behaviour(json.dumps({"fact_ids": list(fact_ids), "reply": reply}))


def plain(text: str) -> Behaviour:
    """Free text, as from a server that ignores the JSON instruction."""
    return Behaviour(text)


def malformed() -> Behaviour:
    """JSON that does not parse."""
    return Behaviour('{"fact_ids": ["f-', cut_after=None)


def status(code: int) -> Behaviour:
    """An HTTP error: 429 (with Retry-After), 500, ..."""
    return Behaviour(status=code)


def hang(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Answer only after ``seconds`` (longer than the client's timeout, usually)."""
    base = then or grounded("I'm here.", [])
    return Behaviour(base.content, base.status, seconds, base.cut_after)


def cut(behaviour: Behaviour, after_chars: int) -> Behaviour:
    """``behaviour``'s answer, stopped after ``after_chars`` characters of content (the connection drops)."""
    return replace(behaviour, cut_after=after_chars)


def slow(behaviour: Behaviour, chunk_delay_s: float) -> Behaviour:
    """``behaviour``'s answer, streamed with ``chunk_delay_s`` between its events, as a model that takes its time."""
    return replace(behaviour, chunk_delay_s=chunk_delay_s)


def refuse_structured(then: Behaviour) -> Behaviour:
    """400 to a request with ``response_format``; the retry without it gets ``then``."""
    return Behaviour(status=200, needs_plain=True, then=then)

"""What of a model reply may be shown while it streams: whole sentences only, and only once they pass the fact guard's
partial check (``FactGuard.check_partial``). The full guard still decides, once the answer is complete, whether the
reply stands or the offline reply replaces what was shown.

The model answers as JSON (``{"fact_ids": [...], "reply": "..."}``), which is read as it grows with ``jiter``'s
partial mode; a server without structured output answers in plain text, which is taken as it comes.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

import jiter

from bot.llm.guard import FactGuard

__all__ = ["PartialReply", "StreamPreview", "read_partial", "whole_sentences"]

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)]*(?=\s)")


@dataclass(frozen=True, slots=True)
class PartialReply:
    """The reply text received so far, and the cited fact ids once they are complete (None before that, or when
    the answer is plain text, which cites every fact the prompt held)."""

    text: str
    cited: tuple[str, ...] | None


def read_partial(raw: str) -> PartialReply | None:
    """The reply so far in a streamed answer, or None while there is none (or the JSON cannot be read)."""
    start = raw.find("{")
    if start < 0:
        stripped = raw.strip()
        return PartialReply(stripped, None) if stripped else None
    try:
        data = jiter.from_json(raw[start:].encode(), partial_mode="trailing-strings")
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("reply"), str):
        return None
    keys = list(data)
    ids = data.get("fact_ids")
    complete = "fact_ids" in data and keys.index("fact_ids") < keys.index("reply")  # the reply follows the list
    if complete and isinstance(ids, list) and all(isinstance(item, str) for item in ids):
        return PartialReply(data["reply"], tuple(ids))
    return PartialReply(data["reply"], None)


def whole_sentences(text: str) -> str:
    """``text`` up to the end of its last finished sentence (one followed by more text), or "" when none is."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].strip() if ends else ""


@dataclass(slots=True)
class StreamPreview:
    """Follows one streamed answer and says what may be shown of it: ``update`` with the raw text so far returns the
    text to show when it grew, else None. Once a part fails the partial check nothing more is shown: the full guard
    refuses the whole reply then as well, since it holds that part."""

    guard: FactGuard
    sent: Collection[str]
    at_scene: int | None = None
    shown: str = ""
    refused: bool = field(default=False)

    def update(self, raw: str) -> str | None:
        """The text that may be shown now, when it is more than what was shown so far."""
        if self.refused:
            return None
        partial = read_partial(raw)
        if partial is None:
            return None
        candidate = whole_sentences(partial.text)
        if len(candidate) <= len(self.shown) or not candidate.startswith(self.shown):
            return None
        verdict = self.guard.check_partial(candidate, self.sent, self.at_scene, cited=partial.cited)
        if not verdict.ok:
            self.refused = True
            return None
        self.shown = candidate
        return candidate

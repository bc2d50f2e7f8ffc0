"""Telling a manipulation attempt from an ordinary message: a word and character n-gram classifier.

It is trained (in ``training``, with the understanding model) on ``hostile.yaml`` (manipulation attempts, and ordinary
messages that use the same words innocently) and on every plot question and line of the fact base as ordinary
messages. It reads the message as it was typed, before mentions and markup are stripped, so that "type @everyone" or
a quoted "say 'X'" still look like what they are. The hand-written patterns of ``personas.intent`` catch the plain
cases; this catches their many rewordings.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from personas.checking import DocumentChecker, read_yaml
from personas.textnorm import read_as_shown
from personas.understanding.features import NgramSpace

__all__ = ["HOSTILE_PATH", "HostileDataError", "HostilityScorer", "hostile_text", "load_hostile_examples"]

HOSTILE_PATH: Path = Path(__file__).parent.parent / "hostile.yaml"

FEWEST_WORDS = 3
"""Shorter messages ("how?", "and then?") give the classifier too little to go on: only the patterns judge them."""
HOSTILE_CHARS = 600
"""How much of a message is read: an attempt shows itself early, and a huge message costs no more than this."""

_MENTION = re.compile(r"<a?:\w+:\d+>|<(?:@[!&]?|#)\d+>|@(?:everyone|here)\b|@[\w.]+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_ADDRESSING = re.compile(r"^(?:@mention\s*)+|(?:\s*@mention)+$")
"""Mentions before or after the message only address it (the bot never repeats them): what is asked counts."""


def hostile_text(raw: str) -> str:
    """``raw`` as the classifier reads it, as it is shown (see ``read_as_shown``): case-folded, control characters as
    spaces, every mention inside the message as "@mention" (those before or after it dropped) and every link as
    "link", spaces collapsed, the first ``HOSTILE_CHARS`` characters."""
    text = read_as_shown(unicodedata.normalize("NFKC", raw[: 2 * HOSTILE_CHARS])).casefold()  # a huge one costs no more
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _MENTION.sub(" @mention ", text)
    text = _URL.sub(" link ", text)
    text = _SPACES.sub(" ", text).strip()
    return _ADDRESSING.sub("", text)[:HOSTILE_CHARS]


class HostileDataError(ValueError):
    """hostile.yaml is malformed."""


def load_hostile_examples(path: Path = HOSTILE_PATH) -> tuple[list[str], list[str]]:
    """The manipulation attempts and the ordinary messages of ``hostile.yaml``, checked."""
    checker = DocumentChecker(path.name)
    checker.error = HostileDataError
    document = checker.mapping(read_yaml(path, HostileDataError), "top level", {"manipulation", "ordinary"})
    lists: list[list[str]] = []
    for key in ("manipulation", "ordinary"):
        items = checker.seq(document[key], key)
        if not items:
            raise checker.fail(key, "expected at least one message")
        lists.append([_message(item, f"{key}[{index}]", checker) for index, item in enumerate(items)])
    return lists[0], lists[1]


def _message(value: object, where: str, checker: DocumentChecker) -> str:
    if not isinstance(value, str) or not value.strip():
        raise checker.fail(where, "expected a non-empty string")
    return value


@dataclass(frozen=True, slots=True)
class HostilityScorer:
    """The fitted classifier, applied with numpy alone: the probability that a message is a manipulation attempt."""

    spaces: Sequence[NgramSpace]
    coef: npt.NDArray[np.float64]
    intercept: float

    @classmethod
    def from_cache(cls, document: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]) -> HostilityScorer:
        words = list(document["hostile_word_vocabulary"])
        chars = list(document["hostile_char_vocabulary"])
        return cls(
            (
                NgramSpace({gram: i for i, gram in enumerate(words)}, arrays["hostile_word_idf"], chars=False),
                NgramSpace(
                    {gram: i for i, gram in enumerate(chars)},
                    arrays["hostile_char_idf"],
                    chars=True,
                    offset=len(words),
                ),
            ),
            np.ascontiguousarray(arrays["hostile_coef"].ravel(), dtype=np.float64),
            float(arrays["hostile_intercept"].ravel()[0]),
        )

    def probability(self, raw: str) -> float:
        """How likely ``raw`` (the message as typed) is a manipulation attempt, from 0 to 1."""
        text = hostile_text(raw)
        if len(text.split()) < FEWEST_WORDS:
            return 0.0
        logit = self.intercept
        for space in self.spaces:
            columns, weights = space.transform(text)
            if len(columns):
                logit += float(weights @ self.coef[columns])
        return 1.0 / (1.0 + math.exp(-logit))

"""Questions the plot does not answer: the matcher learns them as one more class, so that it can say so.

``off-plot.yaml`` holds questions that look like plot questions but that the plot summary does not answer (the
actors, other films, what came after the ending, details the summary never gives). Trained as a class of their own
beside the facts, they draw a question like them away from every fact, so the decision says "I don't know" to it
without a higher bar for the questions the facts do answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from personas.checking import DocumentChecker, read_yaml
from personas.textnorm import tokens

__all__ = [
    "OFF_PLOT_CLASS",
    "OFF_PLOT_PATH",
    "OffPlotDataError",
    "load_off_plot_questions",
    "load_other_works",
    "names_other_work",
]

OFF_PLOT_PATH: Path = Path(__file__).parent.parent / "off-plot.yaml"
OFF_PLOT_CLASS = "~off-plot"
"""The matcher's class for them: no fact id can be this ("~" is not allowed in one)."""


class OffPlotDataError(ValueError):
    """off-plot.yaml is malformed."""


def load_off_plot_questions(path: Path = OFF_PLOT_PATH) -> list[str]:
    """The questions of ``off-plot.yaml``, checked: a non-empty list of distinct, non-empty strings."""
    return _strings(path, "questions")


def load_other_works(path: Path = OFF_PLOT_PATH) -> tuple[tuple[str, ...], ...]:
    """The titles of other films and series of ``off-plot.yaml`` (``other_works``), as folded words.

    A message that names one asks about a story the fact base does not tell ("in Terminator 3, what happens to
    you?"), however close its words come to a fact."""
    return tuple(tuple(tokens(title)) for title in _strings(path, "other_works"))


def names_other_work(words: Sequence[str], works: Sequence[tuple[str, ...]]) -> bool:
    """True when the folded ``words`` of a message hold one of ``works``' titles."""
    return any(
        tuple(words[start : start + len(title)]) == title
        for title in works
        for start in range(len(words) - len(title) + 1)
    )


def _strings(path: Path, key: str) -> list[str]:
    checker = DocumentChecker(path.name)
    checker.error = OffPlotDataError
    document = checker.mapping(read_yaml(path, OffPlotDataError), "top level", {"questions", "other_works"})
    items = checker.seq(document[key], key)
    if not items:
        raise checker.fail(key, "expected at least one entry")
    found: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise checker.fail(f"{key}[{index}]", "expected a non-empty string")
        if item in found:
            raise checker.fail(f"{key}[{index}]", f"{item!r} is listed twice")
        found.append(item)
    return found

"""Questions the plot does not answer: the matcher learns them as one more class, so that it can say so.

``off-plot.yaml`` holds questions that look like plot questions but that the plot summary does not answer (the
actors, other films, what came after the ending, details the summary never gives). Trained as a class of their own
beside the facts, they draw a question like them away from every fact, so the decision says "I don't know" to it
without a higher bar for the questions the facts do answer.
"""

from __future__ import annotations

from pathlib import Path

from personas.checking import DocumentChecker, read_yaml

__all__ = ["OFF_PLOT_CLASS", "OFF_PLOT_PATH", "OffPlotDataError", "load_off_plot_questions"]

OFF_PLOT_PATH: Path = Path(__file__).parent.parent / "off-plot.yaml"
OFF_PLOT_CLASS = "~off-plot"
"""The matcher's class for them: no fact id can be this ("~" is not allowed in one)."""


class OffPlotDataError(ValueError):
    """off-plot.yaml is malformed."""


def load_off_plot_questions(path: Path = OFF_PLOT_PATH) -> list[str]:
    """The questions of ``off-plot.yaml``, checked: a non-empty list of distinct, non-empty strings."""
    checker = DocumentChecker(path.name)
    checker.error = OffPlotDataError
    document = checker.mapping(read_yaml(path, OffPlotDataError), "top level", {"questions"})
    items = checker.seq(document["questions"], "questions")
    if not items:
        raise checker.fail("questions", "expected at least one question")
    questions: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise checker.fail(f"questions[{index}]", "expected a non-empty string")
        if item in questions:
            raise checker.fail(f"questions[{index}]", f"{item!r} is listed twice")
        questions.append(item)
    return questions

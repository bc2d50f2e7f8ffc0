"""The crash tests' figures: collected by the tests, written as JSON under pytest's temporary folder and printed
in the terminal summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

FIGURES = pytest.StashKey[dict[str, Any]]()


@pytest.fixture(scope="session")
def chaos_runs() -> dict[str, Any]:
    """The runs of the kill -9 test by backend, for the checks made on them afterwards."""
    return {}


@pytest.fixture(scope="session")
def chaos_figures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Figures by name; saved to ``<basetemp>/chaos-figures.json`` at the end of the session."""
    figures = request.config.stash.setdefault(FIGURES, {})
    yield figures
    if figures:
        path = tmp_path_factory.getbasetemp() / "chaos-figures.json"
        path.write_text(json.dumps(figures, indent=2, sort_keys=True))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the crash figures as one JSON object per line."""
    figures = config.stash.get(FIGURES, {})
    if not figures:
        return
    terminalreporter.section("crash figures")
    for name, values in sorted(figures.items()):
        terminalreporter.write_line(json.dumps({"test": name, **values}, sort_keys=True))

"""Fuzzing with hypothesis: profiles, and a count of the cases each fuzz test ran, reported at the end of the run.

``HYPOTHESIS_PROFILE=ci`` (the default) is deterministic (``derandomize``) and sized to keep the suite fast;
``HYPOTHESIS_PROFILE=long`` draws ten times as many cases from a random seed (reported on failure).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

SCALE = {"ci": 1, "long": 10}
"""How many times its base number of cases a fuzz test runs under each profile."""

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    "print_blob": True,
}
settings.register_profile("ci", derandomize=True, **_COMMON)
settings.register_profile("long", derandomize=False, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in SCALE:
    raise pytest.UsageError(f"HYPOTHESIS_PROFILE must be one of {sorted(SCALE)}, not {PROFILE!r}")
settings.load_profile(PROFILE)

CASES = pytest.StashKey[Counter[str]]()


def scaled(examples: int) -> int:
    """The number of hypothesis examples a test runs under the loaded profile."""
    return examples * SCALE[PROFILE]


class CaseCounter:
    """Counts the cases one fuzz test ran (a hypothesis example may carry several)."""

    def __init__(self, counter: Counter[str], name: str) -> None:
        self._counter = counter
        self._name = name

    def add(self, cases: int = 1) -> None:
        """Count ``cases`` more."""
        self._counter[self._name] += cases

    @property
    def total(self) -> int:
        """The cases counted so far for this test."""
        return self._counter[self._name]


@pytest.fixture
def cases(request: pytest.FixtureRequest) -> CaseCounter:
    """The case counter of this test; the run's figures are printed in the terminal summary."""
    counter = request.config.stash.setdefault(CASES, Counter())
    return CaseCounter(counter, request.node.nodeid.split("::", 1)[-1])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    counter = config.stash.get(CASES, None)
    if not counter:
        return
    terminalreporter.section(f"fuzz cases (HYPOTHESIS_PROFILE={PROFILE})")
    for name, count in sorted(counter.items()):
        terminalreporter.write_line(f"{count:>8,}  {name}")
    terminalreporter.write_line(f"{sum(counter.values()):>8,}  total")

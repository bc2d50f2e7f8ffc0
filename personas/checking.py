"""Checking parsed YAML documents: shapes and texts, with errors that name the file and the item at fault."""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["DocumentChecker", "read_yaml"]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (ten times faster at start-up), else the pure-Python one."""


def read_yaml(path: Path, error: type[ValueError]) -> object:
    """Parse a YAML data file safely; a syntax error becomes ``error`` naming the file."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from exc


class DocumentChecker:
    """Base of the data files' validators; subclasses set ``error`` and may widen ``forbidden``."""

    error: type[ValueError] = ValueError
    forbidden: tuple[str, ...] = ("@", "http", "<", "`")
    """Text that never belongs in data the bot posts: mentions, links, markup."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ValueError:
        """The error to raise for ``problem`` at ``where``."""
        return self.error(f"{self.source}: {where}: {problem}")

    def mapping(
        self, value: object, where: str, keys: set[str] | None = None, optional: frozenset[str] = frozenset()
    ) -> dict[str, object]:
        """A mapping with string keys; with ``keys``, exactly those, and any of ``optional``."""
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise self.fail(where, "expected a mapping with string keys")
        if keys is not None:
            if missing := sorted(keys - value.keys()):
                raise self.fail(where, f"missing key(s) {', '.join(missing)}")
            if extra := sorted(value.keys() - keys - optional):
                raise self.fail(where, f"unknown key(s) {', '.join(extra)}")
        return value

    def seq(self, value: object, where: str) -> list[object]:
        """A list."""
        if not isinstance(value, list):
            raise self.fail(where, "expected a list")
        return value

    def text(self, value: object, where: str) -> str:
        """A non-empty string with nothing forbidden in it."""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "expected a non-empty string")
        if bad := [token for token in self.forbidden if token in value]:
            raise self.fail(where, f"forbidden {bad[0]!r} in {value!r}")
        return value

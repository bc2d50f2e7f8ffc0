"""The layout's import rules: the game services stand alone, and the two front ends do not lean on each other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SERVICES = ("bot/trivia", "bot/story")
FRONT_ENDS = ("bot.console", "bot.discord", "discord")
"""What a service never imports: a front end builds on the services, not the other way round."""


def modules(folder: str, root: Path = ROOT) -> list[Path]:
    """Every Python file in a package of this project, sub-packages included."""
    found = sorted((root / folder).rglob("*.py"))
    assert found, f"no modules in {folder}"
    return found


def module_name(path: Path, root: Path = ROOT) -> str:
    """The dotted name of a module file (``bot/trivia/live.py`` -> ``bot.trivia.live``)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name) for every import in a file, at any depth (imports inside functions count too).

    ``import a.b`` gives (line, "a.b", None); ``from a import b`` gives (line, "a", "b"); relative imports are
    resolved against the file's package.
    """
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                yield node.lineno, module, alias.name


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    """True when ``module`` is one of ``prefixes`` or inside one of them."""
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def offending(folders: tuple[str, ...], forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    """``file:line module`` for each import of a forbidden module (or of a name from one) in the folders."""
    found = []
    for folder in folders:
        for path in modules(folder, root):
            for line, module, name in imports(path, root):
                targets = [module] + ([f"{module}.{name}"] if name else [])
                if any(within(target, forbidden) for target in targets):
                    found.append(f"{path.relative_to(root)}:{line} {module}")
    return found


def test_the_import_walker_sees_nested_and_relative_imports(tmp_path: Path) -> None:
    (tmp_path / "bot" / "trivia").mkdir(parents=True)
    source = tmp_path / "bot" / "trivia" / "probe.py"
    source.write_text("def f():\n    from ..app import App\n    import bot.discord.client\n", encoding="utf-8")
    assert list(imports(source, tmp_path)) == [(2, "bot.app", "App"), (3, "bot.discord.client", None)]
    assert offending(("bot/trivia",), ("bot.app",), tmp_path) == ["bot/trivia/probe.py:2 bot.app"]
    assert offending(("bot/trivia",), ("discord",), tmp_path) == []


@pytest.mark.parametrize("forbidden", ["bot.app", *FRONT_ENDS])
def test_game_services_import_no_app_and_no_front_end(forbidden: str) -> None:
    assert offending(SERVICES, (forbidden,)) == []


def test_front_ends_do_not_import_each_other() -> None:
    assert offending(("bot/console",), ("bot.discord", "discord")) == []
    assert offending(("bot/discord",), ("bot.console",)) == []

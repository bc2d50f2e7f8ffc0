"""The layout's import rules: the game services stand alone, and the two front ends do not lean on each other.

The services also never hold an ORM object: they import no models module nor a mapped class, and the repositories
they use hand back plain dataclasses.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.models import Base
from db.story.repository import StoryRepository
from db.trivia.repository import TriviaRepository
from db.trivia.stats import TriviaStatsRepository

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


MODELS = re.compile(r"^db(\.\w+)*\.models$")
"""A feature's ORM models module (``db.trivia.models``); ``db.models`` itself only holds the base and ``utcnow``."""


def orm_imports(folders: tuple[str, ...], root: Path = ROOT) -> list[str]:
    """``file:line name`` for each import of a feature's models module or of a mapped class (or the base)."""
    found = []
    for folder in folders:
        for path in modules(folder, root):
            for line, module, name in imports(path, root):
                if not within(module, ("db",)):
                    continue
                imported = importlib.import_module(module)
                target = getattr(imported, name) if name else imported
                dotted = f"{module}.{name}" if name and inspect.ismodule(target) else module
                if MODELS.match(dotted) and dotted != "db.models":
                    found.append(f"{path.relative_to(root)}:{line} {dotted}")
                elif isinstance(target, type) and issubclass(target, Base):
                    found.append(f"{path.relative_to(root)}:{line} {module}.{name}")
    return found


def test_game_services_import_no_orm_model() -> None:
    assert orm_imports(SERVICES) == []


def test_the_orm_check_sees_models_and_mapped_classes(tmp_path: Path) -> None:
    (tmp_path / "bot" / "story").mkdir(parents=True)
    (tmp_path / "bot" / "story" / "probe.py").write_text(
        "from db.models import utcnow\n"
        "from db.story.repository import SessionRow\n"
        "from db.trivia import models\n"
        "import db.story.models\n"
        "from db.chat.channels import ChannelSettings\n"
        "from db.models import Base\n",
        encoding="utf-8",
    )
    assert orm_imports(("bot/story",), tmp_path) == [
        "bot/story/probe.py:3 db.trivia.models",
        "bot/story/probe.py:4 db.story.models",
        "bot/story/probe.py:5 db.chat.channels.ChannelSettings",
        "bot/story/probe.py:6 db.models.Base",
    ]


def mentioned_types(hint: object) -> Iterator[object]:
    """``hint`` and every type inside it (``list[GameRow] | None`` gives list, GameRow, None...)."""
    yield hint
    for argument in typing.get_args(hint):
        yield from mentioned_types(argument)


@pytest.mark.parametrize("repository", [TriviaRepository, TriviaStatsRepository, StoryRepository])
def test_repositories_hand_the_services_plain_objects(repository: type) -> None:
    for name, method in inspect.getmembers(repository, inspect.isfunction):
        if name.startswith("_"):
            continue
        returned = typing.get_type_hints(method)["return"]
        mapped = [t for t in mentioned_types(returned) if isinstance(t, type) and issubclass(t, Base)]
        assert mapped == [], f"{repository.__name__}.{name} returns {mapped}"

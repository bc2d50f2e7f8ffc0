"""Red-DiscordBot trivia lists, imported unchanged: ``Question?: [answer, alias]`` plus AUTHOR, DESCRIPTION, CONFIG.

Scalars are read from the YAML node tree, so every answer keeps the text it was written with: ``[yes]`` stays
"yes" (and, as in Red, also accepts "True" and "On"), ``[1997]`` is "1997", ``[3.50]`` is "3.50". Errors name the
line of the file at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.splitting import clip

__all__ = ["CONFIG_KEYS", "MAX_LIST_BYTES", "RedList", "RedListError", "RedQuestion", "list_name", "parse_red_list"]

MAX_LIST_BYTES = 1_000_000
MAX_QUESTIONS = 5000
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 200
MAX_NAME_CHARS = 40
MAX_QUOTE_CHARS = 80
"""An error message quotes at most this much of a question or a setting."""
"""A list's name, from its file name, is cut to this length."""
CONFIG_KEYS = {
    "bot_plays": "bool",
    "delay": "number",
    "timeout": "number",
    "max_score": "number",
    "reveal_answer": "bool",
    "payout_multiplier": "number",
    "use_spoilers": "bool",
}
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NULL_TAG = "tag:yaml.org,2002:null"
_TRUTHY = {"true", "yes", "on", "y"}
_NAME = re.compile(r"[^a-z0-9_-]+")


class RedListError(ValueError):
    """A trivia list that cannot be imported; the message names the line and the problem."""

    def __init__(self, line: int | None, problem: str) -> None:
        super().__init__(f"line {line}: {problem}" if line is not None else problem)
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class RedQuestion:
    """A question with its accepted answers, canonical first."""

    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RedList:
    """A parsed list."""

    questions: tuple[RedQuestion, ...]
    author: str | None = None
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


def list_name(filename: str) -> str:
    """The list's name from its file name, as Red does: the stem, lower-cased, safe characters only."""
    stem = filename.rsplit("/", 1)[-1]
    for suffix in (".yaml", ".yml"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    name = _NAME.sub("-", stem.lower()).strip("-")[:MAX_NAME_CHARS]
    if not name:
        raise RedListError(None, f"cannot make a list name from the file name {_quote(filename)}")
    return name


def _quote(text: str) -> str:
    """Text from the file, quoted for an error message, cut short so the message stays short."""
    return repr(clip(text, MAX_QUOTE_CHARS))


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _text(node: Node, what: str) -> str:
    if not isinstance(node, ScalarNode):
        raise RedListError(_line(node), f"{what} must be plain text, not a list or a mapping")
    return str(node.value).strip()


def _answers(node: Node, question: str) -> tuple[str, ...]:
    if not isinstance(node, SequenceNode):
        raise RedListError(_line(node), f"the answers of {_quote(question)} must be a list like [answer, alias]")
    answers: list[str] = []
    for item in node.value:
        if not isinstance(item, ScalarNode):
            raise RedListError(_line(item), f"an answer of {_quote(question)} must be text or a number, not a list")
        if item.tag == _NULL_TAG and item.value in ("", "~", "null", "Null", "NULL"):
            raise RedListError(_line(item), f"an answer of {_quote(question)} is empty")
        text = str(item.value).strip()
        if not text:
            raise RedListError(_line(item), f"an answer of {_quote(question)} is empty")
        if len(text) > MAX_ANSWER_CHARS:
            raise RedListError(
                _line(item), f"an answer of {_quote(question)} is longer than {MAX_ANSWER_CHARS} characters"
            )
        found = [text]
        if item.tag == _BOOL_TAG:  # Red reads YAML booleans as True/Yes/On or False/No/Off
            found += ["True", "Yes", "On"] if text.lower() in _TRUTHY else ["False", "No", "Off"]
        for answer in found:
            if answer.casefold() not in {a.casefold() for a in answers}:
                answers.append(answer)
    if not answers:
        raise RedListError(_line(node), f"{_quote(question)} has no answers")
    return tuple(answers)


def _config(node: Node) -> dict[str, Any]:
    if not isinstance(node, MappingNode):
        raise RedListError(_line(node), "CONFIG must be a mapping of settings")
    config: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = _text(key_node, "a CONFIG key")
        kind = CONFIG_KEYS.get(key)
        if kind is None:
            raise RedListError(
                _line(key_node), f"unknown CONFIG key {_quote(key)}; known: {', '.join(sorted(CONFIG_KEYS))}"
            )
        value = _text(value_node, f"CONFIG {key}")
        if kind == "bool":
            if value_node.tag != _BOOL_TAG:
                raise RedListError(_line(value_node), f"CONFIG {key} must be true or false, not {_quote(value)}")
            config[key] = value.lower() in _TRUTHY
        else:
            if value_node.tag not in (_INT_TAG, _FLOAT_TAG):
                raise RedListError(_line(value_node), f"CONFIG {key} must be a number, not {_quote(value)}")
            number = float(value)
            if number <= 0:
                raise RedListError(_line(value_node), f"CONFIG {key} must be more than 0")
            config[key] = number
    return config


def parse_red_list(data: bytes | str) -> RedList:
    """Parse and validate a Red-DiscordBot trivia list; RedListError names the line at fault."""
    if isinstance(data, bytes):
        if len(data) > MAX_LIST_BYTES:
            raise RedListError(None, f"the file is larger than {MAX_LIST_BYTES // 1000} kB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RedListError(data[: exc.start].count(b"\n") + 1, "the file is not UTF-8 text") from exc
    else:
        text = data
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = int(mark.line) + 1 if mark is not None else None
        raise RedListError(where, f"not valid YAML: {clip(str(exc.problem or exc.context), MAX_QUOTE_CHARS)}") from exc
    except yaml.YAMLError as exc:
        raise RedListError(None, f"not valid YAML: {clip(str(exc), MAX_QUOTE_CHARS)}") from exc
    if root is None:
        raise RedListError(None, "the file is empty")
    if not isinstance(root, MappingNode):
        raise RedListError(_line(root), "a trivia list is a mapping of 'Question?: [answer, alias]' lines")
    author = description = None
    config: dict[str, Any] = {}
    questions: list[RedQuestion] = []
    seen: dict[str, int] = {}
    for key_node, value_node in root.value:
        key = _text(key_node, "a question")
        if key == "AUTHOR":
            author = _text(value_node, "AUTHOR")[:200] or None
        elif key == "DESCRIPTION":
            description = _text(value_node, "DESCRIPTION")[:2000] or None
        elif key == "CONFIG":
            config = _config(value_node)
        else:
            if not key:
                raise RedListError(_line(key_node), "a question is empty")
            if len(key) > MAX_QUESTION_CHARS:
                raise RedListError(_line(key_node), f"a question is longer than {MAX_QUESTION_CHARS} characters")
            if key in seen:
                raise RedListError(_line(key_node), f"the question {_quote(key)} is already on line {seen[key]}")
            seen[key] = _line(key_node)
            questions.append(RedQuestion(key, _answers(value_node, key)))
            if len(questions) > MAX_QUESTIONS:
                raise RedListError(_line(key_node), f"more than {MAX_QUESTIONS} questions")
    if not questions:
        raise RedListError(None, "the list has no questions")
    return RedList(tuple(questions), author, description, config)

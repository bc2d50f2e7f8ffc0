"""Red-DiscordBot trivia lists: imported unchanged, quirks kept as text, errors that name the line."""

from __future__ import annotations

import pytest

from bot.trivia.judge import judge
from bot.trivia.red_lists import RedListError, list_name, parse_red_list

# Written the way Red's bundled lists are (e.g. redbot/cogs/trivia/data/lists/*.yaml).
RED_STYLE = """\
AUTHOR: Red's contributors
DESCRIPTION: A short list in Red's own format.
CONFIG:
  bot_plays: false
  delay: 25
  timeout: 120.0
  max_score: 10
  reveal_answer: true
  payout_multiplier: 0.5
  use_spoilers: false
What is the capital of France?:
- Paris
Who painted the Mona Lisa?:
- Leonardo da Vinci
- da Vinci
- Leonardo
Is the earth flat?: [no]
Can penguins fly?: [No, false]
In what year did WW2 end?: [1945]
What is pi to two decimals?: [3.14]
'Quoted: with a colon?': ["yes: really"]
Tom & Jerry are a cat and a?: [mouse]
"""


def test_a_red_list_imports_unchanged() -> None:
    parsed = parse_red_list(RED_STYLE)
    assert parsed.author == "Red's contributors"
    assert parsed.description == "A short list in Red's own format."
    assert parsed.config == {
        "bot_plays": False,
        "delay": 25.0,
        "timeout": 120.0,
        "max_score": 10.0,
        "reveal_answer": True,
        "payout_multiplier": 0.5,
        "use_spoilers": False,
    }
    answers = {q.question: q.answers for q in parsed.questions}
    assert len(answers) == 8
    assert answers["What is the capital of France?"] == ("Paris",)
    assert answers["Who painted the Mona Lisa?"] == ("Leonardo da Vinci", "da Vinci", "Leonardo")
    assert answers["In what year did WW2 end?"] == ("1945",)
    assert answers["What is pi to two decimals?"] == ("3.14",), "numbers keep the text they were written with"
    assert answers["Quoted: with a colon?"] == ("yes: really",)


def test_yaml_booleans_are_read_as_text_like_red() -> None:
    answers = {q.question: q.answers for q in parse_red_list(RED_STYLE).questions}
    assert answers["Is the earth flat?"] == ("no", "False", "Off")
    assert answers["Can penguins fly?"] == ("No", "False", "Off")
    assert judge("no", answers["Is the earth flat?"]).correct
    assert judge("false", answers["Is the earth flat?"]).correct
    assert not judge("yes", answers["Is the earth flat?"]).correct


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Q1?: [a]\nQ2?: answer\n", 2, "must be a list"),
        ("Q1?: [a]\nQ2?: []\n", 2, "no answers"),
        ("Q1?: [a]\nQ2?: [[a, b]]\n", 2, "not a list"),
        ("Q1?: [a]\nQ2?: [a, ~]\n", 2, "empty"),
        ("Q1?: [a]\n\nQ1?: [b]\n", 3, "already on line 1"),
        ("AUTHOR: x\nCONFIG:\n  delay: soon\nQ?: [a]\n", 3, "must be a number"),
        ("CONFIG:\n  colour: red\nQ?: [a]\n", 2, "unknown CONFIG key"),
        ("CONFIG:\n  bot_plays: maybe\nQ?: [a]\n", 2, "true or false"),
        ("CONFIG: [1]\nQ?: [a]\n", 1, "CONFIG must be a mapping"),
        ("Q1?: [a\nQ2?: [b]\n", 2, "not valid YAML"),
        ("- just\n- a list\n", 1, "mapping"),
        ("AUTHOR: [a, b]\nQ?: [a]\n", 1, "AUTHOR must be plain text"),
    ],
)
def test_invalid_lists_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(RedListError) as caught:
        parse_red_list(text)
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"line {line}: ") and words in str(caught.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"", "empty"), (b"AUTHOR: me\n", "no questions"), (b"\xff\xfeQ?: [a]", "UTF-8"), (b"x" * 1_000_001, "larger")],
)
def test_files_that_are_not_lists(data: bytes, words: str) -> None:
    with pytest.raises(RedListError, match=words):
        parse_red_list(data)


def test_list_names_come_from_the_file_name() -> None:
    assert list_name("Movies.yaml") == "movies"
    assert list_name("my list!.yml") == "my-list"
    assert list_name("path/to/games") == "games"
    with pytest.raises(RedListError):
        list_name("!!!.yaml")

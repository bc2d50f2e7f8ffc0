"""Text normalisation shared by retrieval and answer judging: cleaning input, folding, tokenising, stemming."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "MAX_INPUT_CHARS",
    "CleanInput",
    "clean_input",
    "fold",
    "read_as_shown",
    "stem",
    "tokens",
]

MAX_INPUT_CHARS = 4000
"""Messages longer than this are answered from their first part only."""

_FIRST_PART_CHARS = 600

_DISCORD_MARKUP = re.compile(
    r"<a?:\w+:\d+>"  # custom emoji
    r"|<(?:@[!&]?|#)\d+>"  # user, role and channel mentions
    r"|</[\w -]+:\d+>"  # slash command mentions
    r"|<t:\d+(?::\w)?>"  # timestamps
    r"|@(?:everyone|here)\b",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MARKDOWN = re.compile(r"[`*_~|>#\[\]]+")
_SPACES = re.compile(r"\s+")
_RIGHT_TO_LEFT = re.compile("\u202e([^\u202a-\u202c\n]*)")
_T_MODEL = re.compile(r"\bt[\s\-]?(\d{3,4})\b")
_TOKEN = re.compile(r"[a-z0-9]+")
_POSSESSIVE = re.compile(r"(\w)['’]s\b")
_APOSTROPHE = re.compile(r"['’]")


@dataclass(frozen=True, slots=True)
class CleanInput:
    """A user's message made safe to read: no markup, no control characters, bounded length."""

    text: str
    truncated: bool
    had_letters: bool
    latin: bool
    """At least half of the letters are Latin: a message mostly in another script is one the personas cannot read,
    even with a word of English in it ("<a sentence in Chinese> thx")."""


def clean_input(raw: str) -> CleanInput:
    """Strip mentions, URLs, markdown and control characters; keep the first part of a huge message.

    Text after a right-to-left override is read as it is shown: reversed.
    """
    truncated = len(raw) > MAX_INPUT_CHARS
    if truncated:
        raw = raw[:_FIRST_PART_CHARS]  # only the first part is read: the rest costs nothing
    text = read_as_shown(unicodedata.normalize("NFKC", raw))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    if truncated:
        text = _first_part(text)
    text = _DISCORD_MARKUP.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _MARKDOWN.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    letters = [ch for ch in text if ch.isalpha()]
    latin = 2 * sum("LATIN" in unicodedata.name(ch, "") for ch in letters) >= len(letters)
    return CleanInput(text=text, truncated=truncated, had_letters=bool(letters), latin=latin)


def read_as_shown(text: str) -> str:
    """``text`` with what follows a right-to-left override reversed, as a reader sees it."""
    return _RIGHT_TO_LEFT.sub(lambda match: match.group(1)[::-1], text)


def _first_part(text: str) -> str:
    head = text[:_FIRST_PART_CHARS]
    cut = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
    return head[: cut + 1] if cut > 0 else head


def fold(text: str) -> str:
    """Lower-case, accent-free, apostrophe-free text with Terminator model names joined ("t-1000" -> "t1000")."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _POSSESSIVE.sub(r"\1", text)
    text = _APOSTROPHE.sub("", text)
    return _T_MODEL.sub(r"t\1", text)


def tokens(text: str) -> list[str]:
    """The folded words of ``text``."""
    return _TOKEN.findall(fold(text))


_IRREGULAR = {
    "shot": "shoot",
    "fought": "fight",
    "fled": "flee",
    "sent": "send",
    "met": "meet",
    "ran": "run",
    "took": "take",
    "made": "make",
    "felt": "feel",
    "taken": "take",
    "went": "go",
    "gone": "go",
    "died": "die",
    "dead": "die",
    "death": "die",
    "dies": "die",
    "brought": "bring",
    "came": "come",
    "thrown": "throw",
    "threw": "throw",
    "told": "tell",
    "learnt": "learn",
    "women": "woman",
    "men": "man",
    "children": "child",
    "wounded": "wound",
}


def stem(word: str) -> str:
    """A light suffix stemmer, enough to meet "kills", "killed" and "killing" at "kill"."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            if suffix == "es" and not word.endswith(("ses", "xes", "ches", "shes")):
                continue
            word = word[: len(word) - len(suffix)] + keep
            if suffix in ("ing", "ed") and len(word) > 3 and word[-1] == word[-2] and word[-1] not in "ls":
                word = word[:-1]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word

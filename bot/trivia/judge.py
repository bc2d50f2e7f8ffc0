"""Answer judging: normalise a guess and the accepted answers, then match them fairly both ways (pure functions).

Normalising: NFKC, case folding, accents folded, punctuation removed, "&" read as "and", articles dropped,
number words read as digits ("twenty-nine" -> 29), dates in any common form read as one date token.
Matching: equal to an accepted answer, or containing one as a whole-word phrase with at most one other
content word (filler such as "it was", "dr", "I think" is free). Lists ("red, blue or green"), negations
("not Dyson") and guesses that put several candidates around the answer are wrong. Typos are forgiven by
a threshold that grows with the answer's length; short answers and anything with digits must be exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from personas.textnorm import fold, stem

__all__ = [
    "Accepted",
    "Verdict",
    "damerau_levenshtein",
    "judge",
    "normalise",
    "prepare",
    "reveal",
    "typo_allowance",
]

MAX_GUESS_CHARS = 200
MAX_CONTENT_EXTRAS = 1
MAX_EXTRAS = 6

_ARTICLES = frozenset({"a", "an", "the"})
_FILLER = frozenset(
    {
        *("it", "its", "is", "was", "were", "are", "be", "been", "he", "she", "they", "his", "her", "hers", "their"),
        *("him", "them", "i", "im", "think", "guess", "believe", "maybe", "probably", "perhaps", "answer", "um"),
        *("uh", "hmm", "er", "erm", "that", "this", "in", "at", "on", "of", "to", "by", "from", "with", "for"),
        *("dr", "doctor", "mr", "mrs", "ms", "miss", "sir", "mister", "prof", "professor", "called", "named"),
        *("just", "definitely", "surely", "sure", "pretty", "mean", "ok", "okay", "well", "so", "oh", "yeah"),
        *("final", "my", "obviously", "clearly", "duh", "easy", "lol", "must", "has", "had", "got"),
    }
)
_NEGATIONS = frozenset(
    {"not", "no", "never", "nt", "isnt", "wasnt", "arent", "werent", "dont", "doesnt", "didnt", "neither", "except"}
)
_LIST_WORDS = frozenset({"or", "nor", "and", "vs", "versus", "either"})
_SEPARATORS = frozenset({",", ";", "/", "|", "+"})

_UNITS = {
    "zero": 0,
    "oh": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
_NUMERIC_DATE = re.compile(r"(?<![\w/.-])(\d{1,4})([/.-])(\d{1,2})\2(\d{2,4})(?![\w/-]|\.\d)")
_TOKEN = re.compile(r"[^\W_]+|[,;/|+]")
_ORDINAL_DIGITS = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


@dataclass(frozen=True, slots=True)
class _Text:
    """A normalised text: its stemmed tokens, whether it had digits, and where list separators were."""

    tokens: tuple[str, ...]
    separators: tuple[int, ...]
    """For each separator character, the index of the token it came before."""

    @property
    def joined(self) -> str:
        return "".join(self.tokens)


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str
    norm: _Text
    exact_only: bool
    allowance: int


@dataclass(frozen=True, slots=True)
class Accepted:
    """Accepted answers prepared once for many guesses."""

    answers: tuple[_Answer, ...]

    @property
    def canonical(self) -> str:
        """The first accepted answer, as written."""
        return self.answers[0].text if self.answers else ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a guess is right, which accepted answer it matched, and how (or why not)."""

    correct: bool
    matched: str | None
    how: str
    """``exact``, ``contains``, ``fuzzy``; or the reason it is wrong: ``list``, ``negated``, ``extra words``,
    ``no match``, ``empty``."""
    normalised: str
    distance: int = 0

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form, as the command line prints it."""
        return {
            "correct": self.correct,
            "matched": self.matched,
            "how": self.how,
            "normalised": self.normalised,
            "distance": self.distance,
        }


def _replace_numeric_dates(text: str) -> str:
    def date(match: re.Match[str]) -> str:
        first, _, second, third = match.groups()
        a, b, c = int(first), int(second), int(third)
        if len(first) == 4:
            year, month, day = a, b, c
        else:
            year = c if len(third) == 4 else (2000 + c if c < 30 else 1900 + c)
            month, day = (a, b) if a <= 12 else (b, a)
        token = _date_token(year, month, day)
        return f" {token} " if token else match.group(0)

    return _NUMERIC_DATE.sub(date, text)


def _date_token(year: int, month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31 and 0 < year < 10000):
        return None
    return f"d{year:04d}{month:02d}{day:02d}"


def _parse_number(words: Sequence[str]) -> int | None:
    """The value of number words such as ["two", "hundred", "and", "one"]; year style ["nineteen", "95"] too."""
    total = current = 0
    groups: list[int] = []
    seen_scale = False
    for word in words:
        if word == "and":
            continue
        if word in _UNITS or word in _ORDINALS:
            value = _UNITS.get(word, _ORDINALS.get(word, 0))
            if current % 100 and (current % 10 or value >= 10):
                groups.append(current)
                current = 0
            current += value
        elif word in _TENS:
            if current % 100:
                groups.append(current)
                current = 0
            current += _TENS[word]
        elif word in _SCALES:
            seen_scale = True
            scale = _SCALES[word]
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0
        else:
            return None
    if groups:
        if seen_scale or total:
            return None
        groups.append(current)
        if any(group >= 100 for group in groups):
            return None
        return int("".join(f"{g:02d}" if i else str(g) for i, g in enumerate(groups)))
    return total + current


def _numbers(tokens: list[str]) -> list[str]:
    """Runs of number words become digits; "29th" becomes "29"."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        digits = _ORDINAL_DIGITS.match(word)
        if digits:
            out.append(str(int(digits.group(1))))
            i += 1
            continue
        if word in _UNITS or word in _TENS or word in _ORDINALS or (word in _SCALES and out and out[-1].isdigit()):
            j = i
            run: list[str] = []
            while j < len(tokens):
                nxt = tokens[j]
                numeric = nxt in _UNITS or nxt in _TENS or nxt in _ORDINALS or nxt in _SCALES
                joining = nxt == "and" and run and run[-1] in _SCALES and j + 1 < len(tokens)
                if not (numeric or joining):
                    break
                run.append(nxt)
                j += 1
            if run[0] in _SCALES:
                prefix = int(out.pop())
                value = _parse_number(run)
                if value is not None:
                    out.append(str(prefix * _SCALES[run[0]] + value - _SCALES[run[0]]))
                    i = j
                    continue
                out.append(str(prefix))
            value = _parse_number(run) if run else None
            if value is not None and not (len(run) == 1 and word == "oh"):
                out.append(str(value))
                i = j
                continue
        out.append(word)
        i += 1
    return out


def _month_dates(tokens: list[str], separators: list[int]) -> tuple[list[str], list[int]]:
    """["aug", "29", "1997"] / ["29", "of", "august", "1997"] become one date token; separators inside it go."""
    out: list[str] = []
    index_map: dict[int, int | None] = {}
    i = 0
    while i < len(tokens):
        index_map[i] = len(out)
        found = None
        word = tokens[i]
        if word in _MONTHS and i + 2 < len(tokens) and tokens[i + 1].isdigit() and tokens[i + 2].isdigit():
            found = (_MONTHS[word], int(tokens[i + 1]), tokens[i + 2], 3)
        elif word.isdigit() and i + 2 < len(tokens):
            step = 1 if tokens[i + 1] != "of" else 2
            if i + step + 1 < len(tokens) and tokens[i + step] in _MONTHS and tokens[i + step + 1].isdigit():
                found = (_MONTHS[tokens[i + step]], int(word), tokens[i + step + 1], step + 2)
        if found is not None:
            month, day, year_text, length = found
            year = int(year_text)
            if len(year_text) == 2:
                year = 2000 + year if year < 30 else 1900 + year
            token = _date_token(year, month, day) if len(year_text) in (2, 4) else None
            if token is not None:
                out.append(token)
                for k in range(i + 1, i + length):
                    index_map[k] = None
                i += length
                continue
        out.append(word)
        i += 1
    index_map[len(tokens)] = len(out)
    kept = [mapped for position in separators if (mapped := index_map.get(position)) is not None]
    return out, kept


def _text(raw: str) -> _Text:
    text = fold(raw[:MAX_GUESS_CHARS]).replace("&", " and ")
    text = _replace_numeric_dates(text)
    raw_tokens = _TOKEN.findall(text)
    words: list[str] = []
    separators: list[int] = []
    for token in raw_tokens:
        if token in _SEPARATORS:
            separators.append(len(words))
        else:
            words.append(token)
    words = _numbers(words)
    words, separators = _month_dates(words, separators)
    # A comma inside a date ("August 29, 1997") was consumed with it: drop separators that now fall inside.
    separators = [s for s in separators if 0 < s < len(words)] if words else []
    kept = [w for w in words if w not in _ARTICLES] or words
    if len(kept) != len(words):
        shift = [0] * (len(words) + 1)
        removed = 0
        for index, word in enumerate(words):
            shift[index] = index - removed
            if word in _ARTICLES and len(kept) != len(words):
                removed += 1
        shift[len(words)] = len(words) - removed
        separators = [shift[s] for s in separators]
    return _Text(tuple(stem(w) for w in kept), tuple(separators))


def normalise(text: str) -> str:
    """The normalised form of an answer or guess, tokens joined by spaces (for display and tests)."""
    return " ".join(_text(text).tokens)


def typo_allowance(answer: str) -> int:
    """How many typos an answer of this length forgives: none up to 4 letters, then 1, 2 and 3."""
    letters = len(answer.replace(" ", ""))
    if letters <= 4:
        return 0
    if letters <= 7:
        return 1
    if letters <= 11:
        return 2
    return 3


def prepare(answers: Iterable[str]) -> Accepted:
    """Normalise accepted answers once, to judge many guesses against them."""
    prepared: list[_Answer] = []
    for answer in answers:
        norm = _text(str(answer))
        if not norm.tokens:
            continue
        exact = any(ch.isdigit() for ch in norm.joined)
        prepared.append(_Answer(str(answer), norm, exact, 0 if exact else typo_allowance(" ".join(norm.tokens))))
    return Accepted(tuple(prepared))


def damerau_levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment); stops early past ``limit``."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        best = current[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            best = min(best, value)
        if limit is not None and best > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[len(b)]


def _span_ok(guess: _Text, answer: _Answer, start: int, end: int) -> str | None:
    """None when the guess around the matched span [start, end) is acceptable, else why not."""
    extras = guess.tokens[:start] + guess.tokens[end:]
    answer_words = set(answer.norm.tokens)
    if any(word in _NEGATIONS and word not in answer_words for word in extras):
        return "negated"
    if any(word in _LIST_WORDS and word not in answer_words for word in extras):
        return "list"
    if len(guess.separators) > len(answer.norm.separators):
        before = any(s <= start for s in guess.separators)
        if before or len(guess.separators) - len(answer.norm.separators) > 1 or end - start < 2:
            return "list"
    if answer.exact_only and any(ch.isdigit() for word in extras for ch in word):
        return "list"
    content = [word for word in extras if word not in _FILLER]
    if len(content) > MAX_CONTENT_EXTRAS or len(extras) > MAX_EXTRAS:
        return "extra words"
    return None


def _match_one(guess: _Text, answer: _Answer) -> tuple[str, int] | str:
    """(how, distance) when ``guess`` gives ``answer``, else the reason it does not."""
    tokens, wanted = guess.tokens, answer.norm.tokens
    size = len(wanted)
    reason = "no match"
    if tokens == wanted:
        return ("exact", 0)
    for start in range(len(tokens) - size + 1):
        if tokens[start : start + size] == wanted:
            problem = _span_ok(guess, answer, start, start + size)
            if problem is None:
                return ("contains", 0)
            reason = problem
    target = "".join(wanted)
    best: tuple[int, int, int] | None = None
    for width in {size - 1, size, size + 1} - {0}:
        for start in range(len(tokens) - width + 1):
            window = tokens[start : start + width]
            candidate = "".join(window)
            if candidate == target:
                distance = 0
            elif answer.allowance == 0 or candidate[:1] != target[:1]:
                continue
            else:
                distance = damerau_levenshtein(candidate, target, answer.allowance)
                if distance > answer.allowance:
                    continue
            if best is None or distance < best[0]:
                best = (distance, start, start + width)
    if best is not None:
        problem = _span_ok(guess, answer, best[1], best[2])
        if problem is None:
            return ("fuzzy" if best[0] else "exact", best[0])
        reason = problem
    return reason


_REASON_RANK = {"no match": 0, "extra words": 1, "list": 2, "negated": 3}


def judge(guess: str, accepted: Accepted | Sequence[str]) -> Verdict:
    """Judge ``guess`` against the accepted answers (prepared or as written)."""
    prepared = accepted if isinstance(accepted, Accepted) else prepare(accepted)
    norm = _text(guess)
    shown = " ".join(norm.tokens)
    if not norm.tokens:
        return Verdict(False, None, "empty", shown)
    reason = "no match"
    best: Verdict | None = None
    for answer in prepared.answers:
        result = _match_one(norm, answer)
        if isinstance(result, tuple):
            how, distance = result
            verdict = Verdict(True, answer.text, how, shown, distance)
            if how == "exact" and distance == 0:
                return verdict
            if best is None or (distance, how != "contains") < (best.distance, best.how != "contains"):
                best = verdict
        elif _REASON_RANK[result] > _REASON_RANK[reason]:
            reason = result
    return best if best is not None else Verdict(False, None, reason, shown)


def reveal(answer: str, shown: float) -> str:
    """The answer with about ``shown`` (0..1) of its letters and digits visible, the rest as underscores.

    First letters of words show first, then letters spread evenly; spaces and punctuation always show.
    """
    positions = [i for i, ch in enumerate(answer) if ch.isalnum()]
    if not positions:
        return answer
    count = max(0, min(len(positions), round(len(positions) * shown)))
    firsts = [i for i in positions if i == 0 or not answer[i - 1].isalnum()]
    rest = [i for i in positions if i not in set(firsts)]
    order = firsts + rest[::2] + rest[1::2]
    visible = set(order[:count])
    return "".join(ch if (not ch.isalnum() or i in visible) else "_" for i, ch in enumerate(answer))

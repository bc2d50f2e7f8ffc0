"""Answer judging: match a normalised guess against the accepted answers fairly both ways (pure functions).

Matching: equal to an accepted answer, or containing one as a whole-word phrase with at most one other
content word (filler such as "it was", "dr", "I think" is free). Lists ("red, blue or green"), negations
("not Dyson") and guesses that put several candidates around the answer are wrong. Typos are forgiven by
a threshold that grows with the answer's length; short answers and anything with digits must be exact.
Normalising (folding, number words, dates) is ``bot.trivia.normalise``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.trivia.normalise import Normalised, normalised

__all__ = [
    "Accepted",
    "Verdict",
    "damerau_levenshtein",
    "judge",
    "prepare",
    "reveal",
    "typo_allowance",
]

MAX_CONTENT_EXTRAS = 1
MAX_EXTRAS = 6

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


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str
    norm: Normalised
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
        norm = normalised(str(answer))
        if not norm.tokens:
            continue
        exact = any(ch.isdigit() for ch in norm.joined)
        prepared.append(_Answer(str(answer), norm, exact, 0 if exact else typo_allowance(" ".join(norm.tokens))))
    return Accepted(tuple(prepared))


def damerau_levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment); ``limit + 1`` past ``limit``."""
    from rapidfuzz.distance import OSA

    return int(OSA.distance(a, b, score_cutoff=limit))


def _span_ok(guess: Normalised, answer: _Answer, start: int, end: int) -> str | None:
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


def _match_one(guess: Normalised, answer: _Answer) -> tuple[str, int] | str:
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
    norm = normalised(guess)
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

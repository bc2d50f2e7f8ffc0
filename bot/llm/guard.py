"""The fact guard: a language model's reply is posted only if it says nothing the fact base does not hold.

Checked, in order, before anyone sees the reply:

- every cited fact id was in the prompt, and this persona knows that fact at this scene;
- every name, date and number in the reply appears in a cited fact or in the persona's card: a capitalised word is
  a name unless it opens a sentence and is a common word, so an invented "Kyle", "Pescadero" or "2029" is refused;
- no mention, link or markup, and no line spoken as another persona;
- the length stays within limits.

A refusal names its reasons; the caller then posts the offline engine's reply instead. While a reply streams, the
sentences received so far are shown only once they pass ``check_partial`` (the same checks, against the facts of the
prompt until the answer has named the ones it cites); the complete reply still passes ``check`` or is replaced.
Everything the checks need is computed once per persona (``FactGuard``), so one check is a few set look-ups per word.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields

from personas.factbase import Fact, FactBase
from personas.persona import Persona

__all__ = ["MAX_REPLY_CHARS", "FactGuard", "Verdict"]

MAX_REPLY_CHARS = 600
"""The longest reply a persona posts: a few sentences, like the offline engine's."""

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d[\d,.:]*\d|\d")
_SENTENCE_OPENERS = frozenset('.!?…\n"“(')
_MARKUP = re.compile(
    r"(?:<[@#!&:a][^>]*>|@everyone|@here|@\w|https?://|www\.|\]\(|[*_~`|]{1,}\S|^\s*[>#-]\s|\bdiscord\.gg/)",
    re.IGNORECASE | re.MULTILINE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
}
"""Number words, which must be backed by a cited fact as much as digits are ("one" as in "the one" is not a
number: see ``_numbers``)."""
_ORDINARY_ONE = frozenset({"one", "ones"})
_FUNCTION_WORDS = frozenset(
    """a an the and but or nor so yet for if then than that this these those there here it its it's i i'm i've i'd
    i'll me my mine we we're our us you you're your yours he he's him his she she's her hers they they're them their
    what when where why how who whom whose which yes no not never always maybe perhaps well oh ah hey listen look
    okay ok sure right now later soon still just only even also too very all some any every each both either neither
    nothing something anything everything nobody somebody anybody everybody none is are was were be been being do
    does did done have has had can could will would shall should may might must let let's don't didn't doesn't
    can't won't isn't aren't wasn't weren't haven't hasn't hadn't wouldn't couldn't shouldn't in on at by with from
    to of about into over under after before as because while until since though although affirmative negative
    sorry thanks thank please good fine great no-one""".split()
)
"""Words that open sentences without being names, beyond those the fact base and the card use themselves."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A guard's answer: ``ok``, or the reasons the reply was refused."""

    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the reply may be posted."""
        return not self.reasons


def _fold(word: str) -> str:
    """A word as compared: lower case, straight apostrophes, no possessive "'s", no edge punctuation."""
    folded = word.lower().replace("’", "'").strip("'-.,:")
    return folded.removesuffix("'s")


def _numbers(words: Iterable[str]) -> set[str]:
    """The numbers among ``words``, as digit strings: "1,000" and "thousand" are both "1000"."""
    found: set[str] = set()
    for word in words:
        folded = _fold(word)
        if folded and folded[0].isdigit():
            found.add(folded.replace(",", ""))
        elif folded in _NUMBER_WORDS and folded not in _ORDINARY_ONE:
            found.add(_NUMBER_WORDS[folded])
    return found


def _proper_words(texts: Iterable[str]) -> set[str]:
    """Every word of ``texts`` folded, so a name used in them may be used again."""
    return {_fold(word) for text in texts for word in _WORD.findall(text)}


@dataclass(slots=True)
class _Backing:
    """What one fact, or the card, lets a reply say: its words (names included) and its numbers."""

    words: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def of(cls, texts: Sequence[str]) -> _Backing:
        words = _proper_words(texts)
        return cls(frozenset(words), frozenset(_numbers(words)))


@dataclass(slots=True)
class FactGuard:
    """The checks for one persona, over one fact base; build once, then call ``check`` for each reply."""

    persona: Persona
    base: FactBase
    others: Sequence[Persona] = ()
    card_texts: Sequence[str] = ()
    """The persona's card as the model saw it (description, personality, examples): names it may use."""
    max_chars: int = MAX_REPLY_CHARS
    knows_like: str | None = None
    """Whose knowledge bounds the cited facts (a card's character knows what a persona knows); None: the persona's."""
    until_scene: int | None = None
    """The last scene whose facts may be cited (a card's boundary), on top of the scene ``check`` is given."""
    _facts: Mapping[str, tuple[Fact, _Backing]] = field(init=False)
    _card: _Backing = field(init=False)
    _common: frozenset[str] = field(init=False)
    _other_voices: re.Pattern[str] | None = field(init=False)

    def __post_init__(self) -> None:
        self._facts = {fact.id: (fact, _Backing.of(_fact_texts(fact))) for fact in self.base.facts}
        self._card = _Backing.of([self.persona.display_name, *self.persona.short_names, *self.card_texts])
        self._common = _FUNCTION_WORDS | _lowercase_words(self.base, self.persona)
        names = "|".join(re.escape(name) for other in self.others for name in (other.display_name, *other.short_names))
        speaker = rf"(?:^|\n)\s*[*_(\[]?\s*(?:{names})\s*[*_)\]]?\s*:"  # "Sarah: ..." on a line of its own
        claimed = rf"\bI(?:'m| am)\s+(?:{names})\b(?!['’]s)"  # "I'm Sarah", not "I'm Sarah's son"
        self._other_voices = re.compile(f"{speaker}|{claimed}", re.IGNORECASE) if names else None

    def check(self, reply: str, cited: Sequence[str], sent: Collection[str], at_scene: int | None = None) -> Verdict:
        """Whether ``reply`` (citing ``cited``, from a prompt that held ``sent``) may be posted as this persona."""
        reasons: list[str] = []
        text = reply.strip()
        if not text:
            return Verdict(("empty reply",))
        if len(text) > self.max_chars:
            reasons.append(f"too long ({len(text)} > {self.max_chars} characters)")
        if _CONTROL.search(text):
            reasons.append("control characters")
        if markup := _MARKUP.search(text):
            reasons.append(f"mention, link or markup: {markup.group(0).strip()!r}")
        if self._other_voices is not None and (voice := self._other_voices.search(text)):
            reasons.append(f"speaks as another persona: {voice.group(0).strip()!r}")
        backing: list[_Backing] = [self._card]
        knower = self.knows_like or self.persona.id
        if self.until_scene is not None:
            at_scene = self.until_scene if at_scene is None else min(at_scene, self.until_scene)
        for fact_id in cited:
            known = self._facts.get(fact_id)
            if known is None or fact_id not in sent:
                reasons.append(f"cites {fact_id!r}, which the prompt did not hold")
            elif not known[0].known_by(knower, at_scene):
                reasons.append(f"cites {fact_id!r}, which {self.persona.display_name} does not know here")
            else:
                backing.append(known[1])
        reasons += self._unbacked(text, backing)
        return Verdict(tuple(reasons))

    def check_partial(
        self, text: str, sent: Collection[str], at_scene: int | None = None, *, cited: Sequence[str] | None = None
    ) -> Verdict:
        """Whether the part of a reply received so far may be shown while the rest streams in: the same checks as
        ``check``, its names, dates and numbers backed by the facts it cites when the answer has named them already,
        else by any fact of the prompt this persona knows here (and by the card)."""
        if cited is None:
            cited = [
                fact_id
                for fact_id in sent
                if fact_id in self._facts and self._facts[fact_id][0].known_by(self.persona.id, at_scene)
            ]
        return self.check(text, cited, sent, at_scene)

    def _unbacked(self, text: str, backing: Sequence[_Backing]) -> list[str]:
        """Names and numbers in ``text`` that no cited fact and not the card holds."""
        reasons: list[str] = []
        numbers = set().union(*(b.numbers for b in backing))
        for match in _WORD.finditer(text):
            word = match.group(0)
            folded = _fold(word)
            if not folded:
                continue
            if folded[0].isdigit() or (folded in _NUMBER_WORDS and folded not in _ORDINARY_ONE):
                if next(iter(_numbers([word]))) not in numbers:
                    reasons.append(f"number not in a cited fact: {word!r}")
                continue
            if not word[0].isupper() or folded == "i":
                continue
            if _opens_sentence(text, match.start()) and folded in self._common:
                continue
            if not any(folded in b.words for b in backing):
                reasons.append(f"name not in a cited fact: {word!r}")
        return reasons


def _opens_sentence(text: str, start: int) -> bool:
    """True when the word at ``start`` is the first of a sentence, a line or a quotation."""
    index = start - 1
    while index >= 0 and text[index] in " \t":
        index -= 1
    return index < 0 or text[index] in _SENTENCE_OPENERS


def _fact_texts(fact: Fact) -> list[str]:
    return [fact.text, *(line for lines in fact.lines.values() for line in lines), *fact.answers.values()]


def _lowercase_words(base: FactBase, persona: Persona) -> frozenset[str]:
    """Words the fact base and the persona's voice write in lower case and never as a name: common words.

    The asks are left out: they are typed as people chat, names in lower case too.
    """
    texts = [text for fact in base.facts for text in _fact_texts(fact)]
    texts += [line for each in fields(persona.voice) for line in getattr(persona.voice, each.name)]
    lower: set[str] = set()
    names: set[str] = {_fold(word) for entity in base.entities.values() for word in _WORD.findall(entity.name)}
    for text in texts:
        for match in _WORD.finditer(text):
            word = match.group(0)
            if word[0].islower():
                lower.add(_fold(word))
            elif not _opens_sentence(text, match.start()):
                names.add(_fold(word))
    return frozenset(lower - names)

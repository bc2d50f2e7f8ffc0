"""Retrieve: rank the facts for a message by fusing the matcher, BM25 and nearest-example signals."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from personas.factbase import Fact
from personas.textnorm import tokens
from personas.understanding.analyse import STOPWORDS, Analysis
from personas.understanding.model import FactScores, UnderstandingModel

__all__ = ["Candidate", "Retriever"]

_LEXICAL_WEIGHT = 0.05
_NEAREST_WEIGHT = 0.05
"""How far BM25 and the nearest example move the matcher's probability: enough to settle a near tie between two
facts, never to outvote it (reciprocal rank fusion of the three, measured on the dev half, lost ten points)."""
_CONTEXT_WEIGHT = 0.15
"""How much a message that goes on from the last answer favours the facts of that scene."""
_PREMISE_SHARE = 0.5
"""How much of a fact's sentence a question must already say for the fact to be its premise."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fact with its signals for one message; ``fused`` is what it is ranked and judged by."""

    fact: Fact
    probability: float
    lexical: float
    nearest: float
    fused: float


_OPEN_TYPES = frozenset({"what", "yes_no", "why", "how"})
_CHOICE = frozenset({"or", "between"})
"""Words that offer the answer among what the question names ("was it John or Sarah?", "between you and it")."""


class Retriever:
    """Ranks facts for analysed messages."""

    def __init__(self, model: UnderstandingModel) -> None:
        self.model = model
        self.facts = model.base.facts
        self._slots: dict[str, dict[str, frozenset[str]]] = {}
        self._sentence: dict[str, frozenset[str]] = {fact.id: self._terms(fact.text) for fact in self.facts}
        self._names: dict[str, frozenset[str]] = {}
        for fact in self.facts:
            self._slots[fact.id] = {kind: self._terms(slot) for kind, slot in fact.answers.items()}
            said = " ".join(fact.answers.get(kind, "") for kind in ("who", "what", "where"))
            self._names[fact.id] = frozenset(
                " ".join(tokens(word)) for word in re.findall(r"[\w-]+", said) if word[0].isupper()
            )

    def _terms(self, text: str) -> frozenset[str]:
        lemmas = self.model.normalise(text).lemmas
        return frozenset(term for lemma in lemmas for term in lemma.split() if term and term not in STOPWORDS)

    def restates(self, fact: Fact, analysis: Analysis) -> bool:
        """True when the question already says most of what ``fact`` says: it is the question's premise ("why did
        you break into Cyberdyne?" presumes "we broke into Cyberdyne"), so it answers "why" only with a reason."""
        sentence = self._sentence[fact.id]
        asked = set(analysis.query) | {term.removeprefix("_") for term in analysis.query}
        return bool(sentence) and len(sentence & asked) >= _PREMISE_SHARE * len(sentence)

    def tells(self, fact: Fact, analysis: Analysis) -> bool:
        """True when ``fact`` has a slot for the question's type that says something the question does not: "what did
        the T-800 tell John and Sarah?" is not answered by its premise alone, but "Skynet's history" is new."""
        slot = self._slots[fact.id].get(analysis.qtype)
        return slot is not None and bool(slot) and not slot <= set(analysis.query)

    def fits(self, fact: Fact, analysis: Analysis) -> bool:
        """True when ``fact`` can answer the kind of question ``analysis`` is.

        Any fact says what happened, or yes or no, and "why" and "how" are asked of events in so many senses
        ("how did it die?") that any fact may answer them. "Who is Dyson?" wants a fact that is about Dyson first.
        Who, when, where and how many need the fact's slot for them, and that slot must tell something the question
        does not already say: "where is the steel mill?" is not answered by "a steel mill", but "was it at the mall
        or the mill?" is, since it offers the choice. A who question that names the one who acted ("who did the
        T-1000 chase?") is answered by what they did. A name question needs a proper name (a capitalised word of
        the fact's who, what or where slot) the question does not hold.
        """
        qtype = analysis.qtype
        if qtype == "identity":
            return bool(set(fact.entities) & set(analysis.named))
        if qtype in _OPEN_TYPES:
            return True
        asked = set(analysis.query)
        if qtype == "name":
            return bool(self._names[fact.id] - set(analysis.words))
        slots = self._slots[fact.id]
        slot = slots.get(qtype)
        if slot is None:
            return False
        if qtype == "when" and analysis.words[-1:] == ("from",) and "from" not in tokens(fact.answers[qtype]):
            return False  # "which year was the T-1000 sent from?" asks when a journey began, not when the fact happened
        if not slot <= asked or _CHOICE & set(analysis.words):
            return True  # it tells something new, or picks one of the choices the question offers ("you or him?")
        # "Who did the T-1000 chase?" names the one who acted: it asks for whom the fact is about.
        done_to = slots.get("what") if qtype == "who" else None
        return done_to is not None and not done_to <= asked

    def rank(self, analysis: Analysis, limit: int = 12, context: Sequence[Fact] = ()) -> list[Candidate]:
        """The best ``limit`` facts for ``analysis`` over the whole fact base, best first.

        ``context``: what was just said, when the message goes on from it ("where did he work?", "why?"): facts of
        the same scene about the same people move up.
        """
        scores = self.model.scores(analysis)
        fused = self._fuse(scores)
        if context:
            fused += _CONTEXT_WEIGHT * self._closeness(context)
        order = np.argsort(-fused, kind="stable")[:limit]
        return [
            Candidate(
                self.facts[index],
                float(scores.probability[index]),
                float(scores.lexical[index]),
                float(scores.nearest[index]),
                float(fused[index]),
            )
            for index in order
        ]

    def _closeness(self, context: Sequence[Fact]) -> npt.NDArray[np.float64]:
        """1 for a fact of the same scene sharing someone with a context fact; half for each of those missing."""
        near = np.zeros(len(self.facts))
        for index, fact in enumerate(self.facts):
            for said in context:
                gap = abs(fact.scene - said.scene)
                if gap <= 1:
                    shared = bool(set(fact.entities) & set(said.entities))
                    near[index] = max(near[index], (1.0 if gap == 0 else 0.5) * (1.0 if shared else 0.5))
        return near

    def _fuse(self, scores: FactScores) -> npt.NDArray[np.float64]:
        """The matcher's probability, nudged by BM25 (relative to the best) and by holding the nearest example."""
        fused = scores.probability.copy()
        if (best := scores.lexical.max()) > 0:
            fused += _LEXICAL_WEIGHT * scores.lexical / best
        if (nearest := scores.nearest.max()) > 0:
            fused += _NEAREST_WEIGHT * (scores.nearest >= nearest)
        return fused

"""Decide: answer with a fact or say "I don't know", from the retrieval signals and what the question names."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from personas.factbase import Fact
from personas.understanding.analyse import Analysis
from personas.understanding.retrieve import Candidate

__all__ = ["Decision", "Thresholds", "decide"]

_IDENTITY_SHARE = 0.5
"""How likely, against the likeliest, a fact about the one asked after must be to answer "who is X?"."""
_SLOTTED = frozenset({"who", "when", "where", "how_many", "name"})
_CLAUSES = frozenset({"when", "after", "once", "before", "while", "as"})
"""Words that open a clause setting the time of a question ("what happened when the police arrived?")."""
_LATER = frozenset({"after", "once"})
"""Clause words that ask for what came next: "what happened after they escaped?" is answered by the next event.
("when" is left out: "who came when you escaped?" asks about the escape itself as often as about what followed.)"""
_SETTING = _LATER | {"while"}
"""Clause words that set the time a question asks about ("while you were in the hospital, where did John live?")."""
_QUESTION_STARTS = frozenset({"who", "what", "which", "where", "how", "why", "whom", "whose"})
_AUXILIARIES = frozenset(
    {"be", "do", "have", "can", "could", "will", "would", "shall", "should", "may", "might", "must"}
)
"""The verbs that open a yes-or-no question (as lemmas)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The decision's settings, chosen on the four blind dev sets together (``tests/data/blind-dev.jsonl`` to
    ``blind-dev4.jsonl``: 828 answerable questions, 216 the plot does not answer) by a grid over confidence, slotted
    and agreement (``bench/grounding.py ... --sweep name=values`` scores one at a time): among the settings with the
    fewest invented answers, the one with the most right answers less wrong ones (a wrong fact undoes what a right
    one earns). No setting keeps invented answers within 1 %: the fewest is 3 of 216, from questions that ask for a
    detail a fact's subject brings to mind but the fact does not hold (what exactly a dream showed). This gives 688
    right of 828, 9 wrong and 3 invented (the settings before, 0.75 and 0.2, gave 686, 10 and 4)."""

    confidence: float = 0.8
    """The least support (the matcher's probability, less when the fact misses an entity asked about) to answer.
    The matcher also knows questions the plot does not answer (``offplot``): they draw the probability away from
    every fact (0.75 gives 699 right, 10 wrong and 5 invented; 0.85 gives 656, 8 and 3)."""
    unknown_share: float = 0.2
    """How large a share of the question's content words may be words that no fact is ever said or asked with
    (words that are only ever adjectives or adverbs, ``Lexicon.modifiers``, are not counted). A short question
    whose main word no fact knows ("can it be frozen?") is about that word; a long one that says one such word
    beside four or more known ones ("my notebook says someone sent the terminator back to protect john, who?") is
    about what is known."""
    agreement: float = 0.3
    """How much the probability of agreeing facts (one scene, or one person asked about) adds to a fact's support
    (0.2 gives 671 right, 8 wrong and 3 invented; 0.1 gives 662, 8 and 3)."""
    slotted: float = 0.75
    """The least support to answer a question that wants a slot (who, when, where, how many, a name): the fact
    must also have that slot, saying something the question does not (0.7 gives 691 right, 9 wrong and 4
    invented; 0.8 gives 678, 9 and 3)."""
    context: float = 0.6
    """The least support to answer a message that goes on from the last answer ("where was that?", "and did it
    work out?") with a fact that carries the story on from it (the same scene or the next, about someone of it): 0.6
    gives 3 more right answers and one fewer wrong on the dev sets than none (0.75); 0.4 and 0.5 the same as 0.6,
    0.3 two more wrong."""
    verbatim: float = 0.95
    """How near (rapidfuzz's ratio over the normalised words, 0 to 1) a message must come to one of a fact's asks to
    be answered by that fact whatever its support: the asks say which fact answers them, and the matcher spreads
    the probability of a question asked word for word among the facts like it (0.9 is too near a question the plot
    does not answer, at 0.891 on the dev sets)."""
    hostile: float = 0.6
    """The least probability of the manipulation classifier (``hostility``) at which a message is refused as one:
    0.15 above the likeliest ordinary message of the dev sets (0.416, in ``tests/data/hostile-fresh.jsonl``; the
    others are ``tests/data/hostile-dev.jsonl`` and the blind dev sets), rounded up to 0.05.
    The asks teach the classifier what ordinary messages look like, so the likeliest one moves as they grow."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The fact to answer with, or why there is none.

    ``outcome`` is ``answer``, ``unknown`` (nothing supports an answer) or ``not_known`` (the best fact is one this
    persona does not know, or not yet).
    """

    fact: Fact | None
    outcome: str
    support: float
    candidate: Candidate | None = None


def decide(
    analysis: Analysis,
    candidates: Sequence[Candidate],
    fits: Callable[[Fact, Analysis], bool],
    restates: Callable[[Fact, Analysis], bool],
    related: Mapping[str, frozenset[str]],
    settings: Mapping[str, frozenset[int]],
    first_scene: Mapping[str, int],
    persona: str,
    at_scene: int | None,
    unknown_share: float,
    thresholds: Thresholds,
    exclude: Collection[str] = (),
    reasons: Callable[[Fact], Sequence[Fact]] = lambda fact: (),
    sequels: Callable[[Fact], Sequence[Fact]] = lambda fact: (),
    results: Callable[[Fact], Sequence[Fact]] = lambda fact: (),
    tells: Callable[[Fact, Analysis], bool] = lambda fact, analysis: False,
    context: Sequence[Fact] = (),
) -> Decision:
    """Pick the best candidate that fits the question's type and names what it asks about; answer if it is safe.

    ``related`` gives the entities that stand for each other (``EntityTable.related``); ``settings`` the scenes
    a place or organisation is the setting of, where a fact need not name it ("what happened at Cyberdyne?");
    ``first_scene`` the first scene each entity is named in;
    ``reasons`` the facts that say why a fact happened (``Fact.because``); ``sequels`` the facts that come next in
    the story after a fact; ``results`` the facts a fact is a reason for; ``tells`` whether a fact's slot for the
    question's type says something the question does not.

    ``exclude``: facts not to answer with (what was just said, when the message asks "why?" about it).
    """
    named = {entity for entity in analysis.named if entity not in analysis.addressed}
    # What an answer from the time a clause sets must name: "after the police car escape, what did you explain?"
    # names the police car to set the time, and is answered by what was explained, which need not name it.
    clause, main = _time_clause(analysis.query, _SETTING)
    asked = {entity for entity in named if f"_{entity}" in main} if clause else named
    since = max((first_scene.get(entity, 0) for entity in named - asked), default=0)
    fitting: list[tuple[float, Candidate]] = []
    for candidate in candidates:
        if not fits(candidate.fact, analysis):
            continue
        premise = _premise(candidate.fact, analysis, named, related, results)
        if premise is not None:
            # "Why did you break into Cyberdyne?" matched to the fact that says why they did: it answers, and the
            # people and things the question names are those of its premise.
            if weight := _weight(candidate, analysis, named, related, settings, None, premise=premise.entities):
                fitting.append((weight, candidate))
            continue
        reason = _reason(candidate.fact, analysis, reasons, exclude) or _sequel(
            candidate.fact, analysis, restates, sequels, fits, exclude
        )
        if reason is not None:
            # "Why did you break into Cyberdyne?" presumes the break-in: the fact that says why it happened answers,
            # as strongly as the question matches the break-in. So does "what happened after the break-in?" the
            # fact that comes next.
            if weight := _weight(candidate, analysis, named, related, settings, None):
                fitting.append((weight, replace(candidate, fact=reason)))
        elif candidate.fact.id not in exclude and (
            weight := _weight(
                candidate,
                analysis,
                asked if candidate.fact.scene >= since else named,
                related,
                settings,
                restates,
                tells,
            )
        ):
            fitting.append((weight, candidate))
    best: tuple[float, Candidate] | None = None
    identity = analysis.qtype == "identity"
    for weight, candidate in fitting:
        # Facts of one scene agree with each other, and so do the facts about the one asked after: a broad
        # question ("what happened at Cyberdyne?", "who is Dyson?") spreads its probability over them, and any
        # one of them answers it. (Counting facts that do not fit the question as allies too was measured: it
        # gave more wrong answers.)
        allies = sum(
            other_weight
            for other_weight, other in fitting
            if other is not candidate and (identity or other.fact.scene == candidate.fact.scene)
        )
        support = weight + thresholds.agreement * allies
        if best is None or support > best[0]:
            best = (support, candidate)
    if best is not None and analysis.qtype == "identity":
        # "Who is Dyson?" is answered by the first thing the story says about him, of the facts likely enough.
        likely = max(weight for weight, _ in fitting) * _IDENTITY_SHARE
        about = [c for weight, c in fitting if weight >= likely and c.fact.entities[0] in named]
        if about:
            best = (best[0], min(about, key=lambda c: (c.fact.scene, c.fact.sources[0])))
    if best is None:
        return Decision(None, "unknown", 0.0)
    support, candidate = best
    least = thresholds.slotted if analysis.qtype in _SLOTTED else thresholds.confidence
    if any(_goes_on_from(candidate.fact, said) for said in context):
        least = min(least, thresholds.context)
    if candidate.nearest >= thresholds.verbatim:
        least = 0.0  # asked as one of the fact's own examples is
    if unknown_share > thresholds.unknown_share or support < least:
        return Decision(None, "unknown", support, candidate)
    if not candidate.fact.known_by(persona, at_scene):
        return Decision(None, "not_known", support, candidate)
    return Decision(candidate.fact, "answer", support, candidate)


def _goes_on_from(fact: Fact, said: Fact) -> bool:
    """True when ``fact`` carries the story on from ``said``: the same scene or the next, about someone of it."""
    return 0 <= fact.scene - said.scene <= 1 and bool(set(fact.entities) & set(said.entities))


def _premise(
    fact: Fact,
    analysis: Analysis,
    named: set[str],
    related: Mapping[str, frozenset[str]],
    results: Callable[[Fact], Sequence[Fact]],
) -> Fact | None:
    """For a "why" or yes-or-no question matched to ``fact``, the fact it is the reason for (``Fact.because``) that
    names every person and thing the question names: the question asks why that happened ("why did you go after
    Dyson?", "was the nightmare the reason you went after Dyson?"), and ``fact`` says why. (A question that names
    nothing is left to the matcher's reading; a fact that says why of itself and names all the question names
    answers as itself.)"""
    if analysis.qtype not in ("why", "yes_no") or not named:
        return None
    if "why" in fact.answers and all(related.get(entity, {entity}) & set(fact.entities) for entity in named):
        return None  # it says why of itself, and names what the question names
    for result in results(fact):
        mentioned = set(result.entities)
        if all(related.get(entity, {entity}) & mentioned for entity in named):
            return result
    return None


def _reason(
    fact: Fact,
    analysis: Analysis,
    reasons: Callable[[Fact], Sequence[Fact]],
    exclude: Collection[str],
) -> Fact | None:
    """For a "why" question matched to ``fact``, when the fact does not say why itself: the fact that says why it
    happened. The question need not restate the fact in its words ("why did you go break your mom out?" for "John
    orders the T-800 to help free Sarah"): the matcher has already read it as being about that event."""
    if analysis.qtype != "why" or "why" in fact.answers:
        return None
    return next((reason for reason in reasons(fact) if reason.id not in exclude), None)


def _sequel(
    fact: Fact,
    analysis: Analysis,
    restates: Callable[[Fact, Analysis], bool],
    sequels: Callable[[Fact], Sequence[Fact]],
    fits: Callable[[Fact, Analysis], bool],
    exclude: Collection[str],
) -> Fact | None:
    """For a question about what came after ``fact`` ("what did you do after you escaped?", "once the police
    arrived, what happened?"), the next fact in the story that answers the question's type."""
    if analysis.qtype in ("why", "yes_no", "identity", "when"):
        return None
    clause, main = _time_clause(analysis.query)
    if not clause or restates(fact, replace(analysis, query=main)):
        return None  # the time clause must be the premise, not what the question asks about
    if not restates(fact, replace(analysis, query=clause)):
        return None
    return next((later for later in sequels(fact)[:1] if later.id not in exclude and fits(later, analysis)), None)


def _time_clause(query: Sequence[str], opening: frozenset[str] = _LATER) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A query's clause that sets the time by an earlier event ("after they escaped", "once the police arrived"),
    up to the next question word, and the rest of the query; no clause when the query has none."""
    for start, term in enumerate(query):
        if term in opening:
            end = next((i for i in range(start + 1, len(query)) if query[i] in _QUESTION_STARTS), len(query))
            return tuple(query[start + 1 : end]), tuple(query[:start]) + tuple(query[end:])
    return (), tuple(query)


def _weight(
    candidate: Candidate,
    analysis: Analysis,
    named: set[str],
    related: Mapping[str, frozenset[str]],
    settings: Mapping[str, frozenset[int]],
    restates: Callable[[Fact, Analysis], bool] | None,
    tells: Callable[[Fact, Analysis], bool] = lambda fact, analysis: False,
    premise: Sequence[str] = (),
) -> float:
    """How strongly ``candidate`` answers: its fused score, less when it misses what was asked about or only
    restates the question (``restates`` None: the question's premise is being answered by its reason); 0 when it
    names none of the people or things asked about (``premise``: more entities that count as named by it)."""
    mentioned = set(candidate.fact.entities) | set(premise)
    hits = sum(
        bool(related.get(entity, {entity}) & mentioned) or candidate.fact.scene in settings.get(entity, ())
        for entity in named
    )
    covered = hits / len(named) if named else 1.0
    if not covered:
        return 0.0  # a fact must name the person or thing asked about
    weight = candidate.fused * (0.5 + 0.5 * covered)
    if restates is not None and analysis.qtype not in ("yes_no", "identity") and restates(candidate.fact, analysis):
        clause = _CLAUSES & set(analysis.words[1:])
        if analysis.qtype not in candidate.fact.answers or (
            analysis.qtype == "what" and clause and not tells(candidate.fact, analysis)
        ):
            # "Why did you break into Cyberdyne?" is not answered by "we broke into Cyberdyne", nor "what
            # happened when the police arrived?" by "the police arrived". "What did the T-800 tell them after the
            # escape?" is answered by "it told them Skynet's history": what it told is news.
            weight *= 0.3
    listener = analysis.addressed
    if analysis.qtype == "yes_no" and _subject(analysis) in listener and not set(listener) & mentioned:
        # "did you shoot Dyson?" asks about the listener: "Dyson is shot" does not say. "Is the T-1000 older than
        # you?" asks about the T-1000.
        weight *= 0.4
    if analysis.qtype == "identity" and candidate.fact.entities[0] not in named:
        weight *= 0.75  # "who is Dyson?" is best answered by a fact about Dyson first
    return weight


def _subject(analysis: Analysis) -> str | None:
    """The one a yes-or-no question asks about: the first person or thing named after its first auxiliary ("did
    *you* shoot Dyson?", "is *the T-1000* older than you?"), else the one spoken to."""
    start = next((i for i, term in enumerate(analysis.query) if term in _AUXILIARIES), len(analysis.query))
    named = (term.removeprefix("_") for term in analysis.query[start + 1 :] if term.startswith("_"))
    return next(named, analysis.addressed[0] if analysis.addressed else None)

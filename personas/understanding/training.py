"""Building the understanding model from the fact base: the lexicon, the examples, the fitted matcher.

Slow (it imports scikit-learn, lemminflect and pyspellchecker), so it runs once per fact base and code version and
its result is cached as a JSON and a NumPy file; ``model.load_model`` reads them back with numpy alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from personas.factbase import FACTS_PATH, FactBase
from personas.persona import Persona
from personas.textnorm import tokens
from personas.understanding.analyse import Analyser, EntityTable
from personas.understanding.features import CHAR_NGRAMS, WORD_NGRAMS
from personas.understanding.hostility import HOSTILE_PATH, hostile_text, load_hostile_examples
from personas.understanding.language import LANGUAGE_PATH, Language
from personas.understanding.lexicon import build_lexicon
from personas.understanding.normalise import Normaliser
from personas.understanding.offplot import OFF_PLOT_CLASS, OFF_PLOT_PATH, load_off_plot_questions

__all__ = ["Example", "build_model_files", "cache_key", "examples", "first_person", "second_person"]

log = logging.getLogger(__name__)

Example = tuple[str, str, str]
"""(fact id, who the text is heard as: "any", "to:<persona>" or "by:<persona>", text)."""

_REGULARISATION = 50.0
"""LogisticRegression's C: how closely the matcher may fit its examples."""
_HOSTILE_REGULARISATION = 10.0
"""The manipulation classifier's C."""
_HOSTILE_TOLERANCE = 1e-6
"""The manipulation classifier is fitted to convergence: at scikit-learn's default (1e-4) the solver stopped early,
and the scores of messages near the threshold moved by 0.3 or more when a few hundred plot questions were added."""


def second_person(persona: Persona) -> dict[tuple[str, ...], str]:
    """What "you", "your", "your mom"... mean when said to ``persona``, as folded words."""
    table = {tuple(tokens(phrase)): entity for phrase, entity in persona.perspective.items()}
    if ("you",) in table:
        for word in ("your", "yours", "yourself", "yourselves"):
            table.setdefault((word,), table[("you",)])
    return table


def first_person(persona: Persona) -> dict[tuple[str, ...], str]:
    """What "I", "my", "my mom"... mean when ``persona`` says them, as folded words."""
    table: dict[tuple[str, ...], str] = {}
    for words, entity in second_person(persona).items():
        if words[0] in ("you", "yourself"):
            for word in ("i", "me", "myself"):
                table[(word,)] = entity
        elif words[0] in ("your", "yours"):
            table[("my", *words[1:])] = entity
    return table


def examples(base: FactBase) -> Iterator[Example]:
    """Every text a fact is said or asked by: its sentence, trivia questions, asks and each persona's lines."""
    for fact in base.facts:
        yield fact.id, "any", fact.text
        for item in fact.trivia:
            yield fact.id, "any", item.question
        for audience, asks in fact.asks.items():
            heard = "any" if audience == "any" else f"to:{audience}"
            for ask in asks:
                yield fact.id, heard, ask
        for persona_id, lines in fact.lines.items():
            for line in lines:
                yield fact.id, f"by:{persona_id}", line


def cache_key(base_files: Iterable[Path] = (FACTS_PATH, LANGUAGE_PATH, HOSTILE_PATH, OFF_PLOT_PATH)) -> str:
    """A digest of the fact base, language data, personas and this package's code: a new one rebuilds the model."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    personas_dir = package.parent
    sources = sorted(package.glob("*.py")) + sorted(personas_dir.glob("*.py")) + list(base_files)
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def build_model_files(
    base: FactBase, language: Language, personas: Mapping[str, Persona], json_path: Path, arrays_path: Path
) -> None:
    """Fit the matcher and write the cache files (atomically: a half-written cache is never read)."""
    from sklearn.linear_model import LogisticRegression

    rows = list(examples(base))
    names: list[str] = [*language.words()]
    for fact in base.facts:
        names += tokens(fact.text)
        for lines in fact.lines.values():
            for line in lines:
                names += tokens(line)
    for entity in base.entities.values():
        for phrase in (entity.name, *entity.aliases):
            names += tokens(phrase)
    words = [*names]
    for _, _, text in rows:
        words += tokens(text)
    lexicon = build_lexicon(words, names)
    normalise = Normaliser(language, lexicon)
    analyse = Analyser(EntityTable.of(base), language)
    tables: dict[str, dict[tuple[str, ...], str] | None] = {"any": None}
    for persona in personas.values():
        tables[f"to:{persona.id}"] = second_person(persona)
        tables[f"by:{persona.id}"] = first_person(persona)
    texts, labels, analysed = [], [], []
    for fact_id, heard, text in rows:
        analysis = analyse(normalise(text), tables[heard])
        texts.append(analysis.text)
        labels.append(fact_id)
        analysed.append({"fact": fact_id, "heard": heard, "query": analysis.text, "content": list(analysis.content)})
    off_plot = load_off_plot_questions()
    for text in off_plot:
        texts.append(analyse(normalise(text), None).text)
        labels.append(OFF_PLOT_CLASS)
    from scipy.sparse import hstack

    word_space, char_space = _ngram_spaces()

    matrix = hstack([word_space.fit_transform(texts), char_space.fit_transform(texts)]).tocsr()
    classifier = LogisticRegression(C=_REGULARISATION, max_iter=5000)
    classifier.fit(matrix, labels)
    word_vocab = sorted(word_space.vocabulary_, key=word_space.vocabulary_.__getitem__)
    char_vocab = sorted(char_space.vocabulary_, key=char_space.vocabulary_.__getitem__)
    follow_ups = [" ".join(phrase) for phrases in language.follow_ups.values() for phrase in phrases]
    hostile = _fit_hostility([text for _, _, text in rows] + follow_ups + off_plot)
    document: dict[str, Any] = {
        "lexicon": lexicon.to_data(),
        "classes": [str(label) for label in classifier.classes_],
        "examples": analysed,
        "word_vocabulary": word_vocab,
        "char_vocabulary": char_vocab,
        "hostile_word_vocabulary": hostile.pop("word_vocabulary"),
        "hostile_char_vocabulary": hostile.pop("char_vocabulary"),
    }
    _write_atomically(json_path, json.dumps(document).encode())
    temporary = arrays_path.with_name(arrays_path.name + f".{os.getpid()}.tmp.npz")
    np.savez(
        temporary,
        word_idf=word_space.idf_,
        char_idf=char_space.idf_,
        coef=classifier.coef_.astype(np.float32),
        intercept=classifier.intercept_.astype(np.float32),
        **{f"hostile_{name}": array for name, array in hostile.items()},
    )
    os.replace(temporary, arrays_path)
    log.info("understanding model built: %d examples, %d features", len(texts), matrix.shape[1])


def _ngram_spaces() -> tuple[Any, Any]:
    """Fresh word and character n-gram TF-IDF vectorizers, as ``features.NgramSpace`` applies them."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    word_space = TfidfVectorizer(
        analyzer="word", token_pattern=r"\S+", lowercase=False, ngram_range=WORD_NGRAMS, sublinear_tf=True
    )
    char_space = TfidfVectorizer(analyzer="char_wb", lowercase=False, ngram_range=CHAR_NGRAMS, sublinear_tf=True)
    return word_space, char_space


def _fit_hostility(plot_texts: list[str]) -> dict[str, Any]:
    """Fit the manipulation classifier: ``hostile.yaml``'s attempts against its ordinary messages, every plot
    question and line of the fact base, the questions of off-plot.yaml and the follow-up phrases of language.yaml.
    Returns its vocabularies (lists) and arrays (idf, coef, intercept).

    The classes are not reweighted to balance: with the ordinary messages several times the attempts, balancing
    made every attempt weigh more each time plot questions were added, and ordinary messages that share a word with
    attempts ("the one rule you'd teach") crept over the threshold."""
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression

    attempts, ordinary = load_hostile_examples()
    texts = [hostile_text(text) for text in (*attempts, *ordinary, *plot_texts)]
    labels = [1] * len(attempts) + [0] * (len(ordinary) + len(plot_texts))
    word_space, char_space = _ngram_spaces()
    matrix = hstack([word_space.fit_transform(texts), char_space.fit_transform(texts)]).tocsr()
    classifier = LogisticRegression(C=_HOSTILE_REGULARISATION, max_iter=5000, tol=_HOSTILE_TOLERANCE)
    classifier.fit(matrix, labels)
    return {
        "word_vocabulary": sorted(word_space.vocabulary_, key=word_space.vocabulary_.__getitem__),
        "char_vocabulary": sorted(char_space.vocabulary_, key=char_space.vocabulary_.__getitem__),
        "word_idf": word_space.idf_,
        "char_idf": char_space.idf_,
        "coef": classifier.coef_.astype(np.float32),
        "intercept": classifier.intercept_.astype(np.float32),
    }


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def main(argv: list[str]) -> int:
    """``python -m personas.understanding.training JSON_PATH ARRAYS_PATH``: build the model of the shipped fact base."""
    from personas.factbase import load_fact_base
    from personas.roster import PERSONAS
    from personas.understanding.language import load_language

    json_path, arrays_path = (Path(arg) for arg in argv)
    build_model_files(load_fact_base(), load_language(), PERSONAS, json_path, arrays_path)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))

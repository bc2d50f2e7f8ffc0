"""The understanding model: loaded from its cache (built on first use), it scores every fact for a message."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from personas.factbase import FactBase
from personas.persona import Persona
from personas.understanding.analyse import STOPWORDS, Analyser, Analysis, EntityTable
from personas.understanding.features import NgramSpace
from personas.understanding.hostility import HostilityScorer
from personas.understanding.language import Language, load_language
from personas.understanding.lexicon import Lexicon
from personas.understanding.normalise import Normaliser
from personas.understanding.offplot import OFF_PLOT_CLASS
from personas.understanding.training import cache_key, second_person

__all__ = ["FactScores", "UnderstandingModel", "default_cache_dir", "load_model", "model_cache_dir"]

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float64]


_NEAREST_AMONG = 4
_SCORES_KEPT = 2048
"""For how many of the matcher's best facts the nearest example is looked for."""


def default_cache_dir() -> Path:
    """``T2_CACHE_DIR``, else the user's cache folder (``XDG_CACHE_HOME`` or ~/.cache) / t2-companion."""
    return model_cache_dir(None)


def model_cache_dir(data_dir: Path | None) -> Path:
    """Where the model is cached: ``T2_CACHE_DIR`` if set, else ``data_dir``/cache, else the user's cache folder."""
    if folder := os.environ.get("T2_CACHE_DIR"):
        return Path(folder)
    if data_dir is not None:
        return data_dir / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "t2-companion"


@dataclass(frozen=True, slots=True)
class FactScores:
    """Every fact's score for one message, in fact base order, from three independent signals."""

    probability: Vector
    """The matcher's (word and character n-gram logistic regression) probability."""
    lexical: Vector
    """BM25 over the fact's sentence, lines, trivia questions and asks."""
    nearest: Vector
    """The best fuzzy similarity (0 to 1) between the message and one of the fact's examples (for the matcher's
    first few facts only: it settles near ties among them; 0 for the rest)."""


class UnderstandingModel:
    """Normaliser, analyser and the fitted scorers for one fact base."""

    def __init__(
        self,
        base: FactBase,
        language: Language,
        lexicon: Lexicon,
        personas: Mapping[str, Persona],
        document: Mapping[str, object],
        arrays: Mapping[str, npt.NDArray[np.floating[Any]]],
    ) -> None:
        from rank_bm25 import BM25Okapi

        self.base = base
        self.normalise = Normaliser(language, lexicon)
        self.analyse = Analyser(EntityTable.of(base), language)
        self.perspectives = {persona.id: second_person(persona) for persona in personas.values()}
        classes = [str(name) for name in document["classes"]]  # type: ignore[attr-defined]
        self.fact_index = {fact.id: index for index, fact in enumerate(base.facts)}
        if sorted(name for name in classes if name != OFF_PLOT_CLASS) != sorted(self.fact_index):
            raise ValueError("the cached model does not match the fact base")
        order = np.array([classes.index(fact.id) for fact in base.facts] + [classes.index(OFF_PLOT_CLASS)])
        """The facts in fact base order, then the class of questions the plot does not answer (``offplot``)."""
        self._coef_by_feature = np.ascontiguousarray(arrays["coef"][order].T, dtype=np.float32)
        """One row per feature, one column per fact (in fact base order): a message's features pick rows. Kept in
        single precision, as stored: half the memory, and each message sums only a few hundred rows."""
        self._intercept = arrays["intercept"][order].astype(np.float64)
        word_vocab = list(document["word_vocabulary"])  # type: ignore[call-overload]
        char_vocab = list(document["char_vocabulary"])  # type: ignore[call-overload]
        self._spaces = (
            NgramSpace({gram: i for i, gram in enumerate(word_vocab)}, arrays["word_idf"], chars=False),
            NgramSpace(
                {gram: i for i, gram in enumerate(char_vocab)}, arrays["char_idf"], chars=True, offset=len(word_vocab)
            ),
        )
        rows = list(document["examples"])  # type: ignore[call-overload]
        corpus: list[list[str]] = [[] for _ in base.facts]
        self._examples_of: list[list[str]] = [[] for _ in base.facts]
        for row in rows:
            index = self.fact_index[row["fact"]]
            corpus[index].extend(row["content"])
            self._examples_of[index].append(row["query"])
        self.content_vocabulary = frozenset(term for terms in corpus for term in terms)
        """Every content word some fact's examples use: a question's word outside it is about something else."""
        self._bm25 = BM25Okapi(corpus)
        self.hostility = HostilityScorer.from_cache(document, arrays)
        """How likely a message is a manipulation attempt."""
        self._scores = lru_cache(maxsize=_SCORES_KEPT)(self._score)
        """Messages repeat on a busy server ("who is dyson?"): each wording is scored once."""

    def scores(self, analysis: Analysis) -> FactScores:
        """Score every fact for ``analysis`` (the same words are scored once: the scores are read-only)."""
        return self._scores(analysis.text, analysis.content)

    def _score(self, text: str, content: tuple[str, ...]) -> FactScores:
        logits = self._intercept.copy()
        for space in self._spaces:
            columns, weights = space.transform(text)
            if len(columns):
                logits += weights @ self._coef_by_feature[columns].astype(np.float64)
        logits -= logits.max()
        likelihood = np.exp(logits)
        probability = likelihood[:-1] / likelihood.sum()  # what is left is the chance that no fact answers it
        terms = list(dict.fromkeys(term for term in content if term not in STOPWORDS))
        lexical = np.asarray(self._bm25.get_scores(terms), dtype=np.float64) if terms else np.zeros(len(probability))
        nearest = np.zeros(len(probability))
        if text:
            for index in np.argsort(-probability)[:_NEAREST_AMONG]:
                examples = self._examples_of[index]
                best = process.extractOne(text, examples, scorer=fuzz.ratio, processor=None) if examples else None
                nearest[index] = best[1] / 100.0 if best else 0.0
        for array in (probability, lexical, nearest):
            array.flags.writeable = False
        return FactScores(probability, lexical, nearest)


def _build_apart(json_path: Path, arrays_path: Path) -> None:
    """Build the model files in a child process, so that scikit-learn never weighs on the bot's own memory."""
    command = [sys.executable, "-m", "personas.understanding.training", str(json_path), str(arrays_path)]
    root = Path(__file__).resolve().parent.parent.parent
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0 or not (json_path.exists() and arrays_path.exists()):
        raise RuntimeError(f"building the understanding model failed:\n{done.stderr.strip()}")


def load_model(base: FactBase, personas: Mapping[str, Persona], cache_dir: Path | None = None) -> UnderstandingModel:
    """The model for ``base``: read from ``cache_dir`` (default: ``default_cache_dir()``), built there when missing."""
    language = load_language()
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    key = cache_key()
    json_path = folder / f"understanding-{key}.json"
    arrays_path = folder / f"understanding-{key}.npz"
    if not (json_path.exists() and arrays_path.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        log.warning("building the understanding model in %s (first start only, about half a minute)", folder)
        _build_apart(json_path, arrays_path)
        for stale in folder.glob("understanding-*"):
            if stale.name not in (json_path.name, arrays_path.name) and ".tmp" not in stale.name:
                stale.unlink(missing_ok=True)  # built for an older fact base or code
    document = json.loads(json_path.read_text(encoding="utf-8"))
    with np.load(arrays_path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    lexicon = Lexicon.from_data(document["lexicon"])
    return UnderstandingModel(base, language, lexicon, personas, document, arrays)

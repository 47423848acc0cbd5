"""Is an answer faithful to its context? One calibrated scorer for the answerer and the eval harness.

Why this design: the product must judge every answer sentence on CPU in milliseconds, offline, so
an NLI model or an LLM judge is out. Instead each sentence gets a handful of cheap signals that
each catch a different failure — embedding similarity to the nearest context sentences (topic
drift), content-word and bigram recall (invented details), missing numbers/names/legal references
(``rag.verify``: the errors embeddings miss), unsupported negation — and two logistic regressions
trained on RAGTruth (``eval/faithfulness/train.py``) turn them into probabilities:

* the sentence model gives ``check_sentence`` its support score and threshold;
* the response model aggregates the sentence signals (worst sentence, mean, counts) into the
  probability that a whole answer is faithful.

The weights live in ``rag/data/faithfulness_model.json`` (plain JSON, predicted with numpy), so
the model is reviewable, diffable and safe to load.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from nltk.stem.porter import PorterStemmer

from .sentences import sentence_spans, split_sentences
from .types import SentenceCheck
from .verify import _CLAIM_NOISE, fact_counts, missing_facts, normalise

MODEL_PATH = Path(__file__).with_name("data") / "faithfulness_model.json"
Encoder = Callable[[Sequence[str]], np.ndarray]

SENTENCE_FEATURES = [
    "cos_max", "cos_top3", "recall", "recall_near", "bigram_recall", "missing_numbers", "missing_refs",
    "missing_names", "novel_caps", "novel_words", "novel_run", "log_words", "negation_mismatch",
]
RESPONSE_FEATURES = [
    "p_max", "p_mean", "n_flagged", "frac_flagged", "cos_min", "cos_mean", "recall_min", "recall_mean",
    "recall_all", "near_min", "bigram_min", "missing_numbers", "missing_refs", "missing_names", "novel_caps",
    "novel_words", "novel_run", "log_sentences", "log_words", "log_compression", "negations",
]

_STOP = frozenset("""a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most my myself
no nor not of off on once only or other our ours ourselves out over own same she should so some such than that
the their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves s t d ll m re
ve y may might must shall also however which whose upon per via within without among""".split())
_NEGATION = re.compile(r"\b(?:not|no|never|none|nor|neither|without|cannot|n't)\b|n't\b", re.I)
_TOKEN = re.compile(r"[a-z0-9]+")
_CAPS = re.compile(r"(?<=[\w,;)] )[A-Z][a-zA-Z]+")
# "Here is a summary of the article in 87 words:" restates the request; it claims nothing.
_PREAMBLE = re.compile(r"^\W*(?:(?:sure|okay|ok|certainly|of course)\b\W*)?(?:here(?:'s|\s+is|\s+are)|below\s+is"
                       r"|the\s+following\s+is)\b.*(?::\s*|\b(?:summary|overview)\b.*)$", re.I | re.S)


def is_claim(sentence: str) -> bool:
    """False for a preamble that only announces the answer ("Here's a summary in 80 words:")."""
    return not _PREAMBLE.match(sentence.strip())


_PORTER = PorterStemmer()


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _PORTER.stem(word)


def content_words(text: str) -> list[str]:
    """Stemmed content words: the unit of lexical overlap (stop words carry no claim)."""
    return [_stem(w) for w in _TOKEN.findall(normalise(text).lower()) if w not in _STOP]


def flatten_context(context: Any) -> list[str]:
    """Passages from a context: a string, a list of strings, or structured JSON data.

    Structured data (RAGTruth data-to-text, API results) becomes one "key path: value" line per
    leaf, with camelCase keys split into words, so sentences about it can be matched lexically.
    """
    if isinstance(context, str):
        stripped = context.strip()
        if stripped[:1] in "{[" and stripped[-1:] in "}]":
            try:
                return flatten_context(json.loads(stripped))
            except ValueError:
                pass
        return [context]
    if isinstance(context, dict):
        lines: list[str] = []
        _flatten(context, "", lines)
        return ["\n\n".join(lines)]
    if isinstance(context, (list, tuple)) and all(isinstance(c, str) for c in context):
        return [c for c in context if c.strip()]
    lines = []
    _flatten(context, "", lines)
    return ["\n\n".join(lines)]


def _flatten(value: Any, prefix: str, lines: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            words = re.sub(r"(?<=[a-z])(?=[A-Z])|_", " ", str(key))
            _flatten(item, f"{prefix} {words}".strip(), lines)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(item, f"{prefix} {i + 1}" if not isinstance(item, str) else prefix, lines)
    else:
        text = ("yes" if value else "no") if isinstance(value, bool) else "none" if value is None else str(value)
        lines.append(f"{prefix}: {text}" if prefix else text)


# --------------------------------------------------------------------------- evidence and features

@dataclass
class Evidence:
    """A context prepared once: its sentences, their (and adjacent pairs') vectors, word sets."""

    text: str
    units: list[str]
    vecs: np.ndarray  # one row per sentence, then one per pair of adjacent sentences
    rows: list[tuple[int, int]]  # the sentence range each row covers
    words: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    n_words: int
    unit_words: list[frozenset[str]] = field(default_factory=list)


def context_sentences(passages: Sequence[str]) -> list[str]:
    units = [s for p in passages for s in split_sentences(p) if s.strip()]
    return units or [p for p in passages if p.strip()]


def prepare_evidence(passages: Sequence[str], encode: Encoder, extra_words: Iterable[str] = ()) -> Evidence:
    """Embed each context sentence once; a pair's vector is the normalised sum of its two
    sentences (near-identical to embedding the pair, at no extra model cost)."""
    units = context_sentences(passages)
    vecs = encode(units) if units else np.zeros((0, 384), dtype=np.float32)
    rows = [(i, i + 1) for i in range(len(units))]
    if len(units) > 1:
        pairs = vecs[:-1] + vecs[1:]
        pairs /= np.maximum(np.linalg.norm(pairs, axis=1, keepdims=True), 1e-9)
        vecs = np.vstack([vecs, pairs])
        rows += [(i, i + 2) for i in range(len(units) - 1)]
    unit_words = [frozenset(content_words(u)) for u in units]
    seq = [content_words(p) for p in passages]
    bigrams = frozenset(b for s in seq for b in zip(s, s[1:]))
    words = frozenset().union(*unit_words, (_stem(w) for w in extra_words))
    return Evidence("\n\n".join(passages), units, vecs, rows, words, bigrams, sum(map(len, seq)), unit_words)


def sentence_features(sentence: str, vec: np.ndarray, ev: Evidence) -> list[float]:
    """The SENTENCE_FEATURES of one answer sentence against prepared evidence."""
    claim = _CLAIM_NOISE.sub(" ", sentence)
    cos = ev.vecs @ vec if len(ev.vecs) else np.zeros(1, dtype=np.float32)
    top = np.argsort(-cos)[:3]
    near_ids = {i for r in top if r < len(ev.rows) for i in range(*ev.rows[r])}
    near = frozenset().union(*(ev.unit_words[i] for i in near_ids)) if near_ids else frozenset()
    words = content_words(claim)
    unique = set(words)
    recall = len(unique & ev.words) / len(unique) if unique else 1.0
    recall_near = len(unique & near) / len(unique) if unique else 1.0
    pairs = set(zip(words, words[1:]))
    bigram = len(pairs & ev.bigrams) / len(pairs) if pairs else 1.0
    numbers, refs, names = fact_counts(claim, ev.text)
    run = longest = 0
    for w in words:
        run = 0 if w in ev.words else run + 1
        longest = max(longest, run)
    caps = {_stem(w.lower()) for w in _CAPS.findall(normalise(claim))}
    near_text = " ".join(ev.units[i] for i in sorted(near_ids))
    negation = bool(_NEGATION.search(claim)) != bool(_NEGATION.search(near_text))
    return [float(cos.max()), float(np.mean(cos[top])), recall, recall_near, bigram, numbers, refs, names,
            len(caps - ev.words), len(unique - ev.words), longest, math.log1p(len(unique)), float(negation)]


def response_features(feats: np.ndarray, probs: np.ndarray, threshold: float, context_words: int) -> list[float]:
    """Aggregate sentence rows (SENTENCE_FEATURES) and sentence hallucination probabilities;
    ``context_words`` gives the compression ratio (long answers to short contexts invent more)."""
    if len(feats) == 0:
        return [0.0] * len(RESPONSE_FEATURES)
    col = {name: feats[:, i] for i, name in enumerate(SENTENCE_FEATURES)}
    words = np.expm1(col["log_words"])
    flagged = float((probs >= threshold).sum())
    recall_all = float((col["recall"] * words).sum() / max(words.sum(), 1.0))
    return [float(probs.max()), float(probs.mean()), flagged, flagged / len(probs), float(col["cos_max"].min()),
            float(col["cos_max"].mean()), float(col["recall"].min()), float(col["recall"].mean()), recall_all,
            float(col["recall_near"].min()), float(col["bigram_recall"].min()), float(col["missing_numbers"].sum()),
            float(col["missing_refs"].sum()), float(col["missing_names"].sum()), float(col["novel_caps"].sum()),
            float(col["novel_words"].sum()), float(col["novel_run"].max()), math.log1p(len(probs)),
            math.log1p(float(words.sum())), math.log((1.0 + words.sum()) / (1.0 + context_words)),
            float(col["negation_mismatch"].sum())]


# --------------------------------------------------------------------------- the JSON model

@dataclass(frozen=True)
class Logistic:
    """Standardise, dot, sigmoid: a logistic regression with no sklearn at run time."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float  # on the probability of hallucination

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Logistic":
        arr = lambda k: np.asarray(d[k], dtype=np.float64)  # noqa: E731
        return cls(tuple(d["features"]), arr("mean"), arr("scale"), arr("coef"), float(d["intercept"]),
                   float(d["threshold"]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of hallucination for each row of ``x``."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass
class FaithfulnessResult:
    score: float  # probability the answer is faithful
    hallucinated: bool
    unsupported: list[str]
    sentences: list[SentenceCheck]

    def to_json(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "hallucinated": self.hallucinated, "unsupported": self.unsupported}


class _VectorCache:
    """Embeddings of recently seen texts: the answerer checks one sentence against several
    passage combinations, and the same passages against every sentence."""

    def __init__(self, embedder: Any, size: int = 8192):
        self.embedder, self.size = embedder, size
        self.store: OrderedDict[str, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self.lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self.store))
        found = dict(zip(todo, self.embedder.encode(todo))) if todo else {}
        with self.lock:
            for t in texts:
                if t not in found:
                    found[t] = self.store[t] if t in self.store else self.embedder.encode([t])[0]
                self.store[t] = found[t]
                self.store.move_to_end(t)
            while len(self.store) > self.size:
                self.store.popitem(last=False)
        return np.stack([found[t] for t in texts])


class FaithfulnessScorer:
    """Scores (context, answer) pairs; also the sentence verdicts behind ``rag.verify.check_sentence``."""

    def __init__(self, model: dict[str, Any], embedder: Any = None):
        self.model = model
        self.sentence_model = Logistic.from_json(model["sentence"])
        self.response_model = Logistic.from_json(model["response"])
        for m, names in ((self.sentence_model, SENTENCE_FEATURES), (self.response_model, RESPONSE_FEATURES)):
            if list(m.features) != names:  # weights would silently apply to the wrong signals
                raise ValueError("faithfulness model was trained on other features: rerun eval/faithfulness/train.py")
        self._embedder = embedder
        self._encode: _VectorCache | None = None
        self._evidence: OrderedDict[tuple[str, ...], Evidence] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path | None = None, embedder: Any = None) -> "FaithfulnessScorer":
        with open(path or MODEL_PATH, encoding="utf-8") as f:
            return cls(json.load(f), embedder)

    @property
    def encode(self) -> _VectorCache:
        if self._encode is None:
            if self._embedder is None:
                from .embed import get_embedder

                self._embedder = get_embedder()
            self._encode = _VectorCache(self._embedder)
        return self._encode

    @property
    def support_threshold(self) -> float:
        """Minimum sentence support score (1 - P(hallucinated)) for ``check_sentence``."""
        return 1.0 - self.sentence_model.threshold

    def evidence(self, passages: Sequence[str], question: str | None = None) -> Evidence:
        key = (question or "", *passages)
        with self._lock:
            ev = self._evidence.get(key)
        if ev is None:
            extra = _TOKEN.findall(normalise(question or "").lower())
            ev = prepare_evidence(passages, self.encode, [w for w in extra if w not in _STOP])
        with self._lock:
            self._evidence[key] = ev
            self._evidence.move_to_end(key)
            while len(self._evidence) > 64:
                self._evidence.popitem(last=False)
        return ev

    def sentence_probabilities(self, sentences: Sequence[str], ev: Evidence) -> tuple[np.ndarray, np.ndarray]:
        """(feature rows, hallucination probabilities) for answer sentences against evidence."""
        if not sentences:
            return np.zeros((0, len(SENTENCE_FEATURES))), np.zeros(0)
        vecs = self.encode([_CLAIM_NOISE.sub(" ", s) for s in sentences])
        feats = np.array([sentence_features(s, v, ev) for s, v in zip(sentences, vecs)])
        return feats, self.sentence_model.predict(feats)

    def score(self, answer: str, context: str | Sequence[str], question: str | None = None) -> FaithfulnessResult:
        """Probability that ``answer`` is faithful to ``context``, with the sentences that are not."""
        passages = flatten_context(context)
        ev = self.evidence(passages, question)
        sentences = [answer[s:e] for s, e in sentence_spans(answer)]
        claims = [s for s in sentences if is_claim(s)]
        feats, probs = self.sentence_probabilities(claims, ev)
        x = response_features(feats, probs, self.sentence_model.threshold, ev.n_words)
        p_halluc = float(self.response_model.predict(np.array(x))[0]) if claims else 0.0
        checks: list[SentenceCheck] = []
        verdicts = iter(probs)
        for s in sentences:
            if not is_claim(s):
                checks.append(SentenceCheck(s, (), True, 1.0, (), "not a claim (announces the answer)"))
                continue
            p = float(next(verdicts))
            missing = tuple(missing_facts(s, ev.text))
            ok = not missing and p < self.sentence_model.threshold
            reason = ("not in the context: " + ", ".join(missing)) if missing else (
                "supported" if ok else f"weak support ({1 - p:.2f} < {self.support_threshold:.2f})")
            checks.append(SentenceCheck(s, (), ok, round(1 - p, 3), missing, reason))
        return FaithfulnessResult(1.0 - p_halluc, p_halluc >= self.response_model.threshold,
                                  [c.text for c in checks if not c.supported], checks)

    def support(self, sentence: str, evidence: Sequence[str]) -> float:
        """Support score (1 - P(hallucinated)) of one sentence against the quotes it cites."""
        _, probs = self.sentence_probabilities([sentence], self.evidence(list(evidence)))
        return float(1.0 - probs[0])


_SCORERS: dict[int, FaithfulnessScorer] = {}


def default_scorer(embedder: Any = None) -> FaithfulnessScorer:
    """One scorer per embedder, so caches are shared by every caller in the process."""
    key = id(embedder) if embedder is not None else 0
    if key not in _SCORERS:
        _SCORERS[key] = FaithfulnessScorer.load(embedder=embedder)
    return _SCORERS[key]


def sentence_support(sentence: str, evidence: Sequence[str], embedder: Any = None) -> tuple[float, float]:
    """(support score, threshold) used by ``rag.verify.check_sentence``."""
    scorer = default_scorer(embedder)
    return scorer.support(sentence, evidence), scorer.support_threshold


def score_records(records: Iterable[dict[str, Any]], scorer: FaithfulnessScorer | None = None) -> Iterator[dict]:
    """``{"id", "question"?, "context", "answer"}`` in, ``{"id", "score", "hallucinated", "unsupported"}`` out."""
    scorer = scorer or default_scorer()
    for i, rec in enumerate(records):
        result = scorer.score(str(rec.get("answer") or ""), rec.get("context") or "", rec.get("question"))
        yield {"id": rec.get("id", i), **result.to_json()}

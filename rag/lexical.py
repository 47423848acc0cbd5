"""BM25 over the same passages as the dense index (bm25s: sparse matrices, numpy files, no pickle).

Legal and numeric tokens matter here ("Article 5", "10^25", "M-24-10"), so the tokenizer keeps
numbers and hyphenated identifiers and only stems plain words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_STOP = frozenset(
    "a an and are as at be been being but by can could did do does for from had has have how i if in "
    "into is it its of on or our so such than that the their them then there these they this those to "
    "was we were what when where which who whom why will with would you your about also any may shall "
    "should must not no".split()
)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stem(word)


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


# Words users ask with that legal texts rarely use (query side only).
SYNONYMS = {
    "ban": ["prohibit"], "bans": ["prohibit"], "banned": ["prohibit"], "forbid": ["prohibit"],
    "fine": ["penalti"], "fines": ["penalti"], "penalty": ["fine"], "watermark": ["label", "watermark"],
    "rule": ["requir"], "deadline": ["within", "day"], "chip": ["semiconductor"], "chips": ["semiconductor"],
    # Whether a text binds is said in its own words: "voluntary", "binding".
    "mandatory": ["voluntari", "bind"], "compulsory": ["voluntari", "bind"], "obligatory": ["voluntari", "bind"],
    "quickly": ["within", "day"],
}


def query_tokens(text: str) -> list[str]:
    toks = tokenize(text)
    extra = [s for w in re.findall(r"[a-z]+", text.lower()) for s in SYNONYMS.get(w, [])]
    return toks + [t for t in extra if t not in toks]


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower().replace("\u2019", "'")):
        if tok in _STOP:
            continue
        out.append(tok if any(c.isdigit() for c in tok) or "-" in tok else _stem(tok))
    return out


class Lexical:
    """A saved bm25s index; ``search`` honours an optional boolean mask of allowed passages."""

    def __init__(self, model) -> None:
        self.model = model
        self.vocab: dict[str, int] = model.vocab_dict

    @classmethod
    def build(cls, texts: Sequence[str]) -> "Lexical":
        import bm25s

        model = bm25s.BM25(k1=1.2, b=0.75)
        corpus = [tokenize(t) or ["<empty>"] for t in texts]
        model.index(corpus, show_progress=False)
        return cls(model)

    def save(self, folder: Path) -> None:
        self.model.save(str(folder))

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> "Lexical":
        import bm25s

        return cls(bm25s.BM25.load(str(folder), mmap=mmap))

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        toks = [t for t in query_tokens(query) if t in self.vocab]
        total = self.model.scores["num_docs"]
        if not toks or total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self.model.get_scores(toks)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(n, total)
        idx = np.argpartition(-scores, n - 1)[:n]
        idx = idx[np.argsort(-scores[idx])]
        keep = scores[idx] > 0
        return idx[keep].astype(np.int64), scores[idx][keep].astype(np.float32)

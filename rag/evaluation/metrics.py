"""Metric definitions. Each takes plain data so it can be tested on its own."""

from __future__ import annotations

import math
import re
from typing import Sequence

from ..verify import normalise


def norm(text: str) -> str:
    return " ".join(normalise(text).lower().split())


def contains_fact(answer: str, fact: str) -> bool:
    return norm(fact) in norm(answer)


def gold_spans(doc_text: str, quote: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    while quote and (i := doc_text.find(quote, start)) >= 0:
        spans.append((i, i + len(quote)))
        start = i + 1
    return spans


def overlaps(a: tuple[int, int], b: tuple[int, int], min_share: float = 0.5) -> bool:
    """True when span a covers at least ``min_share`` of span b."""
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return inter > 0 and inter >= min_share * (b[1] - b[0])


def relevance(passages: Sequence[tuple[str, int, int]], gold: Sequence[tuple[str, int, int]]) -> list[int]:
    """1 for each retrieved (doc_id, start, end) that holds (most of) a gold quote."""
    return [int(any(d == gd and overlaps((s, e), (gs, ge)) for gd, gs, ge in gold)) for d, s, e in passages]


def hit_at(rel: list[int], k: int) -> float:
    return float(any(rel[:k]))


def mrr(rel: list[int], k: int = 10) -> float:
    for i, r in enumerate(rel[:k]):
        if r:
            return 1.0 / (i + 1)
    return 0.0


def ndcg(rel: list[int], n_gold: int, k: int = 10) -> float:
    dcg = sum(r / math.log2(i + 2) for i, r in enumerate(rel[:k]))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(max(n_gold, 1), k)))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


_STATUS_WORDS = re.compile(r"\b(revoked|rescinded|superseded|replaced|no longer in force)\b", re.I)


def mentions_status(text: str) -> bool:
    return bool(_STATUS_WORDS.search(text))

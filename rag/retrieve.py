"""Hybrid retrieval: dense (FAISS) and BM25 rankings fused by reciprocal rank, with filters.

RRF needs no score calibration between the two retrievers, which is why it is the default in
Haystack and txtai. A question that names an article or section ("What does Article 5 say?")
adds a third ranking: the passages of that article, in document order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dense

if TYPE_CHECKING:
    from .index import Index
    from .types import Passage

RRF_K = 60
_JURISDICTION_ALIASES = {
    "us": "united states", "usa": "united states", "u.s.": "united states", "united states": "united states",
    "eu": "european union", "european union": "european union", "europe": "european union",
    "uk": "united kingdom", "u.k.": "united kingdom", "united kingdom": "united kingdom", "britain": "united kingdom",
    "cn": "china", "china": "china",
}
_REF = re.compile(
    r"\b(?:(Art(?:icle)?\.?|Sec(?:tion)?\.?|§)\s*(\d+(?:\.\d+)?[a-z]?)|(Annex|ANNEX)\s+([IVXLC]+)\b|(Recital)\s+(\d+))",
    re.I,
)


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value if str(v)]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def allowed_mask(index: "Index", filters: dict[str, Any] | None) -> np.ndarray | None:
    """Boolean mask over passages, or None when nothing is filtered."""
    if not filters:
        return None
    ok_docs = set()
    for doc_id, d in index.docs.items():
        if doc_matches(d["meta"], doc_id, filters):
            ok_docs.add(doc_id)
    if len(ok_docs) == len(index.docs):
        return None
    return np.fromiter((doc in ok_docs for doc in index.doc_of), dtype=bool, count=len(index.doc_of))


def doc_matches(meta: dict[str, Any], doc_id: str, filters: dict[str, Any]) -> bool:
    for key, raw in filters.items():
        values = as_list(raw)
        if not values:
            continue
        if key == "doc_id":
            if doc_id not in values:
                return False
        elif key == "jurisdiction":
            have = str(meta.get("jurisdiction", "")).lower()
            if not any(_JURISDICTION_ALIASES.get(v.lower(), v.lower()) in have for v in values):
                return False
        elif key in ("date_from", "since"):
            if not meta.get("date") or str(meta["date"]) < values[0]:
                return False
        elif key in ("date_to", "until", "as_of"):
            # "2025" (a year only) counts as published on the first day of that year.
            if not meta.get("date") or str(meta["date"])[: len(values[0])] > values[0]:
                return False
        else:
            have = str(meta.get(key, "")).lower()
            if have not in {v.lower() for v in values}:
                return False
    return True


def references(question: str) -> list[str]:
    """Structural references in a question: 'Article 5' -> 'Art. 5', 'section 4.2' -> 'Sec. 4.2'."""
    out = []
    for m in _REF.finditer(question):
        if m.group(1):
            kind = "Art." if m.group(1).lower().startswith("art") else "Sec."
            out.append(f"{kind} {m.group(2)}")
        elif m.group(3):
            out.append(f"Annex {m.group(4).upper()}")
        else:
            out.append(f"Recital {m.group(6)}")
    return out


def hybrid_search(index: "Index", question: str, k: int = 5, filters: dict[str, Any] | None = None,
                  candidates: int = 60) -> list["Passage"]:
    if len(index) == 0 or not question.strip():
        return []
    mask = allowed_mask(index, filters)
    if mask is not None and not mask.any():
        return []
    n = max(candidates, 4 * k)
    qvec = index.embedder.encode([question])[0]
    allowed = np.flatnonzero(mask) if mask is not None else None
    d_ids, d_scores = dense.search(index.faiss, qvec, n, allowed)
    l_ids, _ = index.lexical.search(question, n, mask)
    rankings = [list(d_ids), list(l_ids)]
    refs = references(question)
    if refs:
        rankings.append(_section_ranking(index, refs, mask, qvec))
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking):
            fused[int(pid)] = fused.get(int(pid), 0.0) + 1.0 / (RRF_K + rank + 1)
    dense_score = dict(zip(map(int, d_ids), map(float, d_scores)))
    top = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    out = []
    for pid, score in top:
        p = index.passage(pid, score)
        p.meta.setdefault("_", None)
        out.append(_with_similarity(p, dense_score.get(pid)))
    return out


def _with_similarity(p: "Passage", sim: float | None) -> "Passage":
    from dataclasses import replace

    meta = dict(p.meta)
    meta["similarity"] = sim
    return replace(p, meta=meta)


def _section_ranking(index: "Index", refs: list[str], mask: np.ndarray | None, qvec: np.ndarray) -> list[int]:
    hits = []
    for pid, row in enumerate(index._rows):
        section = row[5] or ""
        top = section.split("(")[0].strip()
        if top in refs and (mask is None or mask[pid]):
            hits.append(pid)
    return hits[:20]

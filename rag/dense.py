"""The FAISS part of the index: picks its structure by size and searches with optional filters.

Exact inner-product search is best while it is fast (up to ~100k passages on two cores); beyond
that HNSW keeps p50 latency in milliseconds with recall@10 above 0.95. IVF-PQ is offered for
collections that must fit in little memory.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

HNSW_FROM = 100_000


def choose_kind(n: int, requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    return "flat" if n < HNSW_FROM else "hnsw"


def build(vectors: np.ndarray, kind: str = "auto") -> faiss.Index:
    n, dim = vectors.shape
    kind = choose_kind(n, kind)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 96
    elif kind == "ivfpq":
        nlist = max(16, int(4 * np.sqrt(n)))
        quant = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quant, dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[np.random.default_rng(0).choice(n, min(n, 50 * nlist), replace=False)])
        index.nprobe = 32
    else:
        raise ValueError(f"unknown FAISS index kind '{kind}' (use auto, flat, hnsw or ivfpq)")
    if n:
        index.add(vectors)
    return index


def kind_of(index: faiss.Index) -> str:
    name = type(index).__name__
    return {"IndexFlatIP": "flat", "IndexHNSWFlat": "hnsw", "IndexIVFPQ": "ivfpq"}.get(name, name)


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path) -> faiss.Index:
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path))


def search(index: faiss.Index, query: np.ndarray, n: int, allowed: np.ndarray | None = None):
    """Top-n (ids, scores); ``allowed`` is an array of permitted passage ids."""
    n = min(n, index.ntotal)
    if n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    params = None
    if allowed is not None:
        if len(allowed) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        if isinstance(index, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(96, n))
        elif isinstance(index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=sel, nprobe=getattr(index, "nprobe", 32))
        else:
            params = faiss.SearchParameters(sel=sel)
        n = min(n, len(allowed))
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), n, params=params)
    keep = ids[0] >= 0
    return ids[0][keep].astype(np.int64), scores[0][keep]

"""The FAISS part of the index: picks its structure by size and searches with optional filters.

Exact inner-product search is best while it is fast (up to ~100k passages on two cores, a few
ms a query); beyond that HNSW keeps p50 latency in milliseconds with recall@10 above 0.95 (see
eval/bench/scale.py for the measurements behind the parameters below). IVF-PQ is offered for
collections that must fit in little memory (it trades recall for that).

Filters: a filter that keeps few passages (a document or two) is searched exactly over just
those vectors; a broad one goes through FAISS's ID selector, with HNSW's search widened in
proportion to how much the filter removes so that it still finds k allowed neighbours.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

HNSW_FROM = 100_000
# HNSW: M links per node (2M on the base layer). efConstruction is the build-time beam, efSearch
# the query-time one. Tuned with eval/bench/scale.py (real questions against 100k-1M MiniLM-like
# vectors): efConstruction 40 builds twice as fast as 80 for the same recall, and a wide
# efSearch costs ~1-2 ms a query, far under the 30 ms budget, while lifting recall@10 above 0.95.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 768  # 1M: recall@10 0.973 at p50 2 ms (512: 0.954; 384: 0.943)
IVF_NPROBE = 32
EXACT_FILTER_MAX = 20_000  # a filter keeping at most this many passages is searched exactly


def choose_kind(n: int, requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    return "flat" if n < HNSW_FROM else "hnsw"


def build(vectors: np.ndarray, kind: str = "auto") -> faiss.Index:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    kind = choose_kind(n, kind)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "ivfpq":
        nlist = max(16, int(4 * np.sqrt(n)))
        quant = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quant, dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[np.random.default_rng(0).choice(n, min(n, 50 * nlist), replace=False)])
        index.nprobe = IVF_NPROBE
    else:
        raise ValueError(f"unknown FAISS index kind '{kind}' (use auto, flat, hnsw or ivfpq)")
    if n:
        index.add(vectors)
    return index


def kind_of(index: faiss.Index) -> str:
    name = type(index).__name__
    return {"IndexFlatIP": "flat", "IndexHNSWFlat": "hnsw", "IndexIVFPQ": "ivfpq"}.get(name, name)


def params(index: faiss.Index) -> str:
    """The search parameters of an index, for reports ("M=32 efC=80 efS=96")."""
    if isinstance(index, faiss.IndexHNSW):
        h = index.hnsw
        return f"M={(h.nb_neighbors(1))} efC={h.efConstruction} efS={h.efSearch}"
    if isinstance(index, faiss.IndexIVF):
        return f"nlist={index.nlist} nprobe={index.nprobe}"
    return "exact"


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path) -> faiss.Index:
    """Open a saved index; flat vectors (also HNSW's) are memory-mapped, not read: cold start stays flat."""
    index = None
    for flags in (faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY):
        try:
            index = faiss.read_index(str(path), flags)
            break
        except RuntimeError:
            continue
    if index is None:
        index = faiss.read_index(str(path))
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH  # today's tuning, also for indexes saved with older settings
    return index


def _vectors_of(index: faiss.Index, ids: np.ndarray) -> np.ndarray | None:
    """The stored vectors of ``ids`` for flat and HNSW-flat indexes (None for compressed ones)."""
    if isinstance(index, faiss.IndexHNSW):
        index = faiss.downcast_index(index.storage)
    if isinstance(index, faiss.IndexFlat):
        return index.reconstruct_batch(ids)
    return None


def search(index: faiss.Index, query: np.ndarray, n: int, allowed: np.ndarray | None = None):
    """Top-n (ids, scores); ``allowed`` is an array of permitted passage ids."""
    n = min(n, index.ntotal)
    if n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    params = None
    if allowed is not None:
        if len(allowed) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        allowed = np.ascontiguousarray(allowed, dtype=np.int64)
        n = min(n, len(allowed))
        if not isinstance(index, faiss.IndexFlat) and len(allowed) <= EXACT_FILTER_MAX:
            vecs = _vectors_of(index, allowed)
            if vecs is not None:
                scores = vecs @ q[0]
                top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
                top = top[np.lexsort((allowed[top], -scores[top]))]
                return allowed[top], scores[top].astype(np.float32)
        sel = faiss.IDSelectorBatch(allowed)
        if isinstance(index, faiss.IndexHNSW):
            # The graph walk skips filtered-out nodes: widen the beam by how much the filter removes.
            share = len(allowed) / max(1, index.ntotal)
            ef = int(max(index.hnsw.efSearch, n) * min(4.0, max(1.0, 0.25 / share)))
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        elif isinstance(index, faiss.IndexIVF):
            # Probe more lists when the filter leaves few passages in each.
            share = len(allowed) / max(1, index.ntotal)
            nprobe = int(min(index.nlist, index.nprobe * min(float(index.nlist), max(1.0, 0.5 / share))))
            params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
        else:
            params = faiss.SearchParameters(sel=sel)
    elif isinstance(index, faiss.IndexHNSW) and n > index.hnsw.efSearch:
        params = faiss.SearchParametersHNSW(efSearch=n)
    scores, ids = index.search(q, n, params=params)
    keep = ids[0] >= 0
    return ids[0][keep].astype(np.int64), scores[0][keep]

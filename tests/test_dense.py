"""rag.dense: every index kind finds the right neighbours, with and without ID filters (correctness only)."""

from __future__ import annotations

import numpy as np
import pytest

from rag import dense


def _data(n: int = 3000, dim: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    x = centres[rng.integers(40, size=n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(n, 20, replace=False)] + 0.05 * rng.standard_normal((20, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.ascontiguousarray(x), np.ascontiguousarray(q)


def _exact(x: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    s = x @ q
    if allowed is not None:
        keep = np.full(len(x), -np.inf, dtype=np.float32)
        keep[allowed] = s[allowed]
        s = keep
    return np.argsort(-s, kind="stable")[:k]


def _recall(index, x, queries, k, allowed=None) -> float:
    got = []
    for q in queries:
        ids, scores = dense.search(index, q, k, allowed)
        assert len(ids) == len(scores) <= k
        assert np.all(np.diff(scores) <= 1e-5), "scores come best first"
        if allowed is not None:
            assert set(ids.tolist()) <= set(allowed.tolist()), "a filtered search returned a passage outside the filter"
        got.append(len(set(ids.tolist()) & set(_exact(x, q, k, allowed).tolist())) / k)
    return float(np.mean(got))


@pytest.mark.parametrize("kind,min_recall", [("flat", 1.0), ("hnsw", 0.95), ("ivfpq", 0.5)])
def test_kinds_find_the_nearest_neighbours(kind, min_recall):
    x, q = _data()
    index = dense.build(x, kind)
    assert dense.kind_of(index) == kind and index.ntotal == len(x)
    assert dense.params(index)
    assert _recall(index, x, q, 10) >= min_recall


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
@pytest.mark.parametrize("share", [0.005, 0.3])
def test_filters_keep_only_allowed_passages(kind, share):
    x, q = _data()
    allowed = np.sort(np.random.default_rng(1).choice(len(x), max(3, int(share * len(x))), replace=False))
    index = dense.build(x, kind)
    r = _recall(index, x, q, 10, allowed)
    assert r >= {"flat": 1.0, "hnsw": 0.9, "ivfpq": 0.3}[kind]


def test_small_filter_on_hnsw_is_exact(monkeypatch):
    x, q = _data()
    index = dense.build(x, "hnsw")
    allowed = np.arange(100, 160)
    for query in q[:5]:
        ids, scores = dense.search(index, query, 10, allowed)
        assert ids.tolist() == _exact(x, query, 10, allowed).tolist()
        np.testing.assert_allclose(scores, (x[ids] @ query), rtol=1e-5, atol=1e-5)


def test_filter_smaller_than_k_and_empty():
    x, q = _data(n=500)
    for kind in ("flat", "hnsw"):
        index = dense.build(x, kind)
        ids, _ = dense.search(index, q[0], 10, np.array([3, 7], dtype=np.int64))
        assert sorted(ids.tolist()) == [3, 7]
        ids, scores = dense.search(index, q[0], 10, np.array([], dtype=np.int64))
        assert len(ids) == 0 and len(scores) == 0


def test_k_larger_than_ef_search_returns_k():
    x, q = _data(n=2000)
    index = dense.build(x, "hnsw")
    ids, _ = dense.search(index, q[0], dense.HNSW_EF_SEARCH + 50)
    assert len(ids) == dense.HNSW_EF_SEARCH + 50


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_save_and_memory_mapped_load_give_the_same_results(tmp_path, kind):
    x, q = _data(n=2000)
    index = dense.build(x, kind)
    path = tmp_path / "dense.faiss"
    dense.save(index, path)
    loaded = dense.load(path)
    assert dense.kind_of(loaded) == kind and loaded.ntotal == len(x)
    for query in q[:5]:
        a = dense.search(index, query, 10)
        b = dense.search(loaded, query, 10)
        assert a[0].tolist() == b[0].tolist()
    allowed = np.arange(0, 2000, 7)
    assert dense.search(loaded, q[0], 5, allowed)[0].tolist() == dense.search(index, q[0], 5, allowed)[0].tolist()


def test_auto_kind_by_size():
    assert dense.choose_kind(10) == "flat"
    assert dense.choose_kind(dense.HNSW_FROM - 1) == "flat"
    assert dense.choose_kind(dense.HNSW_FROM) == "hnsw"
    assert dense.choose_kind(5, "ivfpq") == "ivfpq"
    with pytest.raises(ValueError):
        dense.build(np.zeros((4, 8), dtype=np.float32), "bogus")

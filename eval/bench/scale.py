"""Scale benchmark: the dense (FAISS) and lexical (BM25) parts at 100k and 1M passages.

    .venv/bin/python eval/bench/scale.py [--quick] [--json OUT]

The corpus has ~2k passages, so larger collections are synthetic but built from it:

* vectors: mixtures of three real passage embeddings (random Dirichlet weights) plus Gaussian
  noise, normalised. They keep the corpus's structure (topics) without putting hundreds of
  near-duplicates around each real passage, which no real collection has.
* queries: real question embeddings and held-out synthetic vectors; the ground truth is exact
  inner-product search over the same vectors.
* BM25: each synthetic passage is a real passage's tokens with ~25 % dropped and ~15 % replaced
  by words drawn from the corpus's own word frequencies, plus rare "new" words so that the
  vocabulary grows with the collection as real ones do.

For each size it reports what `rag.dense` builds (``dense.build(vectors, "auto")``), its build
time, serialised size and process memory, single-query search p50/p95 (one query at a time, as
retrieval does), recall@10 against exact search, an efSearch sweep, search with an ID filter,
load time from disk (mmap), and the BM25 build time and query latency through ``rag.lexical``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    pos = (len(xs) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the real material
def corpus_material(index_dir: Path):
    """Real passage embeddings, passage texts and question embeddings from an index of the corpus."""
    from rag.index import Index

    sources = [ROOT / "corpus"] + ([ROOT.parent / "shared" / "corpus"] if (ROOT.parent / "shared" / "corpus").is_dir() else [])
    idx, _ = Index.build(sources, index_dir)
    vectors = np.load(idx.version / "vectors.npy")
    texts = [idx.passage(i).text for i in range(len(idx))]
    qs = []
    for name in ("golden.jsonl", "bench/questions.jsonl"):
        path = ROOT / "eval" / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    qs.append(json.loads(line)["question"])
                except (json.JSONDecodeError, KeyError):
                    continue
    qvecs = idx.embedder.encode(qs) if qs else np.zeros((0, vectors.shape[1]), np.float32)
    return vectors, texts, qs, qvecs


def synthetic_vectors(base: np.ndarray, n: int, seed: int, noise: float = 0.02, block: int = 200_000) -> np.ndarray:
    """Mixtures of three real passage embeddings (Dirichlet weights) plus noise, normalised.

    Copies of single passages plus noise would put hundreds of near-duplicates around each real
    passage at 1M, which no real collection has; mixtures fill the space between real passages.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for lo in range(0, n, block):
        m = min(block, n - lo)
        w = rng.dirichlet((1.0, 1.0, 1.0), size=m).astype(np.float32)
        v = sum(w[:, c:c + 1] * base[rng.integers(len(base), size=m)] for c in range(3))
        v += rng.standard_normal((m, base.shape[1]), dtype=np.float32) * noise
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[lo:lo + m] = v
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 250_000) -> np.ndarray:
    """Exact top-k ids by inner product (numpy, block by block; no second copy of the vectors)."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for lo in range(0, len(vectors), block):
        s = queries @ vectors[lo:lo + block].T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + lo], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return best_i


def recall(found: list[np.ndarray], truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]))


# ---------------------------------------------------------------------------- dense
def bench_dense(n: int, base: np.ndarray, qvecs: np.ndarray, n_queries: int, work: Path) -> dict:
    from rag import dense

    import faiss

    log(f"{n:,} vectors: generating")
    vectors = synthetic_vectors(base, n, seed=n)
    held_out = synthetic_vectors(base, max(0, n_queries - len(qvecs)), seed=n + 1)
    queries = np.ascontiguousarray(np.concatenate([qvecs, held_out])[:n_queries], dtype=np.float32)
    truth = exact_top(vectors, queries, 10)
    res: dict = {"n": n, "dim": int(vectors.shape[1]), "queries": len(queries), "vectors_mb": vectors.nbytes / 1e6,
                 "faiss_threads": faiss.omp_get_max_threads()}
    rss0 = rss_mb()
    log(f"{n:,} vectors: building ({dense.choose_kind(n)})")
    t = time.perf_counter()
    index = dense.build(vectors, "auto")
    res["build_s"] = time.perf_counter() - t
    res["kind"] = dense.kind_of(index)
    res["params"] = dense.params(index)
    res["index_rss_mb"] = rss_mb() - rss0  # memory the index took on top of the vectors
    path = work / f"dense-{n}.faiss"
    dense.save(index, path)
    res["index_file_mb"] = path.stat().st_size / 1e6

    def timed(ix, params_fn=None, allowed=None, qs=queries):
        lat, found = [], []
        for q in qs[:5]:
            dense.search(ix, q, 10, allowed)
        for q in qs:
            t0 = time.perf_counter()
            ids, _ = dense.search(ix, q, 10, allowed)
            lat.append((time.perf_counter() - t0) * 1000)
            found.append(ids)
        return lat, found

    log(f"{n:,} vectors: searching")
    lat, found = timed(index)
    res.update({"p50_ms": statistics.median(lat), "p95_ms": pct(lat, 0.95), "recall@10": recall(found, truth, 10)})
    if res["kind"] == "hnsw":
        sweep = []
        default_ef = index.hnsw.efSearch
        for ef in (64, 128, 256, 384, 512, 768):
            index.hnsw.efSearch = ef
            lat_e, found_e = timed(index)
            sweep.append({"efSearch": ef, "p50_ms": statistics.median(lat_e), "p95_ms": pct(lat_e, 0.95),
                          "recall@10": recall(found_e, truth, 10)})
        index.hnsw.efSearch = default_ef
        res["ef_sweep"] = sweep
    # A filter that keeps 10 % of the collection (e.g. one jurisdiction): recall against exact search within it.
    rng = np.random.default_rng(7)
    allowed = np.sort(rng.choice(n, n // 10, replace=False)).astype(np.int64)
    fq = queries[: min(50, len(queries))]
    ftruth_local = exact_top(vectors[allowed], fq, 10)
    ftruth = allowed[ftruth_local]
    lat_f, found_f = timed(index, allowed=allowed, qs=fq)
    res["filtered_10pct"] = {"p50_ms": statistics.median(lat_f), "p95_ms": pct(lat_f, 0.95),
                             "recall@10": recall(found_f, ftruth, 10), "queries": len(fq)}
    del index, vectors
    gc.collect()
    t = time.perf_counter()
    loaded = dense.load(path)
    res["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    dense.search(loaded, queries[0], 10)
    res["first_query_after_load_ms"] = (time.perf_counter() - t) * 1000
    lat_l, found_l = timed(loaded)
    res["loaded_p50_ms"] = statistics.median(lat_l)
    res["loaded_recall@10"] = recall(found_l, truth, 10)
    del loaded
    path.unlink()
    gc.collect()
    res["peak_rss_mb"] = peak_mb()
    log(f"{n:,} vectors: {res['kind']} p50 {res['p50_ms']:.2f} ms, recall@10 {res['recall@10']:.3f}, "
        f"built in {res['build_s']:.0f}s")
    return res


# ---------------------------------------------------------------------------- lexical
def synthetic_token_corpus(texts: list[str], n: int, seed: int):
    from rag.lexical import tokenize

    rng = np.random.default_rng(seed)
    docs = [tokenize(t) or ["<empty>"] for t in texts]
    vocab: dict[str, int] = {}
    ids = [np.array([vocab.setdefault(tok, len(vocab)) for tok in d], dtype=np.int32) for d in docs]
    counts = np.bincount(np.concatenate(ids), minlength=len(vocab)).astype(np.float64)
    p = counts / counts.sum()
    real_vocab = len(vocab)
    # New words: a Zipf-like tail, so that a 1M collection has a vocabulary of a few hundred thousand.
    n_new = max(1000, int(40 * n ** 0.5 * 10))
    for k in range(n_new):
        vocab[f"w{k}"] = real_vocab + k
    corpus: list[list[int]] = []
    for _ in range(n):
        src = ids[rng.integers(len(ids))]
        keep = src[rng.random(len(src)) > 0.25]
        r = rng.random(len(keep))
        repl = r < 0.15
        keep = keep.copy()
        keep[repl] = rng.choice(real_vocab, size=int(repl.sum()), p=p)
        m = rng.poisson(2)
        new = real_vocab + np.minimum((rng.pareto(1.1, size=m) * 50).astype(np.int64), n_new - 1)
        doc = np.concatenate([keep, new.astype(np.int32)]) if m else keep
        corpus.append(doc.tolist() or [0])
    return corpus, vocab


def bench_lexical(n: int, texts: list[str], questions: list[str]) -> dict:
    import bm25s

    from rag.lexical import Lexical

    log(f"{n:,} BM25 passages: generating")
    corpus, vocab = synthetic_token_corpus(texts, n, seed=n)
    res: dict = {"n": n, "vocab": len(vocab), "avg_tokens": float(np.mean([len(d) for d in corpus]))}
    rss0 = rss_mb()
    log(f"{n:,} BM25 passages: indexing")
    t = time.perf_counter()
    model = bm25s.BM25(k1=1.2, b=0.75)
    model.index((corpus, vocab), show_progress=False)
    res["build_s"] = time.perf_counter() - t
    del corpus
    gc.collect()
    res["index_rss_mb"] = rss_mb() - rss0
    s = model.scores
    res["postings"] = int(len(s["data"]))
    res["matrix_mb"] = (s["data"].nbytes + s["indices"].nbytes + s["indptr"].nbytes) / 1e6
    lex = Lexical(model)
    qs = questions or ["What does the EU AI Act ban?"]
    for q in qs[:3]:
        lex.search(q, 60)
    lat = []
    for _ in range(max(1, 200 // len(qs))):
        for q in qs:
            t0 = time.perf_counter()
            lex.search(q, 60)
            lat.append((time.perf_counter() - t0) * 1000)
    res.update({"p50_ms": statistics.median(lat), "p95_ms": pct(lat, 0.95), "queries": len(lat)})
    mask = np.zeros(n, dtype=bool)
    mask[::10] = True
    lat_m = []
    for q in qs:
        t0 = time.perf_counter()
        lex.search(q, 60, mask)
        lat_m.append((time.perf_counter() - t0) * 1000)
    res["filtered_p50_ms"] = statistics.median(lat_m)
    res["peak_rss_mb"] = peak_mb()
    log(f"{n:,} BM25 passages: p50 {res['p50_ms']:.1f} ms, built in {res['build_s']:.0f}s")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k passages only")
    ap.add_argument("--sizes", default=None, help="comma-separated sizes (default 100000,1000000)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-bm25", action="store_true")
    ap.add_argument("--index", type=Path, default=ROOT / ".cache" / "eval-index",
                    help="index of the corpus to take real embeddings from (built or updated if needed)")
    ap.add_argument("--json", type=Path, default=ROOT / "eval" / "bench" / "scale.json")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([100_000] if args.quick else [100_000, 1_000_000])
    t_all = time.perf_counter()
    log("reading corpus embeddings")
    base, texts, questions, qvecs = corpus_material(args.index)
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "nproc": os.cpu_count(), "base_passages": len(base),
                 "dense": [], "bm25": []}
    with tempfile.TemporaryDirectory(prefix="rag-scale-") as tmp:
        for n in sizes:
            out["dense"].append(bench_dense(n, base, qvecs, args.queries, Path(tmp)))
            gc.collect()
            if not args.skip_bm25:
                out["bm25"].append(bench_lexical(n, texts, questions))
                gc.collect()
    out["total_s"] = time.perf_counter() - t_all
    print(report(out))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.json} ({out['total_s']:.0f}s)")


def report(out: dict) -> str:
    lines = ["| passages | FAISS | params | build (s) | index MB (file) | p50 ms | p95 ms | recall@10 | "
             "filtered 10% p50 ms / recall | load (s) |", "|" + "---|" * 10]
    for r in out["dense"]:
        f = r["filtered_10pct"]
        lines.append(f"| {r['n']:,} | {r['kind']} | {r['params']} | {r['build_s']:.0f} | {r['index_file_mb']:.0f} | "
                     f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['recall@10']:.3f} | "
                     f"{f['p50_ms']:.2f} / {f['recall@10']:.3f} | {r['load_s']:.2f} |")
    for r in out["dense"]:
        if r.get("ef_sweep"):
            lines.append(f"\nefSearch sweep at {r['n']:,}: " + ", ".join(
                f"ef {e['efSearch']}: {e['recall@10']:.3f} @ {e['p50_ms']:.2f} ms" for e in r["ef_sweep"]))
    if out["bm25"]:
        lines += ["", "| passages | BM25 vocab | postings | matrix MB | build (s) | query p50 ms | p95 ms | "
                      "filtered p50 ms |", "|" + "---|" * 8]
        for r in out["bm25"]:
            lines.append(f"| {r['n']:,} | {r['vocab']:,} | {r['postings']:,} | {r['matrix_mb']:.0f} | "
                         f"{r['build_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['filtered_p50_ms']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

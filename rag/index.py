"""The persistent hybrid index: build it from files, open it, retrieve passages from it.

``Index.build`` makes the index hold exactly the given sources (re-embedding only new or changed
files); ``Index.add``/``Index.remove`` change it in place for uploads. Both go through one
``_write`` that stages a complete new version and flips to it atomically (see ``store``).
"""

from __future__ import annotations

import bisect

import fcntl
import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from . import dense, store
from .chunking import chunk_text
from .embed import Embedder, get_embedder
from .errors import IngestError, RagError
from .ingest import content_hash, iter_files, load_document
from .lexical import Lexical
from .settings import Settings, get_settings
from .structure import headings, markers, top_level
from .types import Document, Passage

Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    passages: int = 0
    embedded: int = 0
    seconds: float = 0.0


@dataclass
class _Doc:
    doc: dict[str, Any]  # the sqlite row as a dict
    spans: list[tuple[int, int, int | None, str | None]]  # start, end, page, section
    vectors: np.ndarray | None  # None until embedded


# Bump when what a passage's vector is made of changes (chunking rules, the embedded header), so a
# rebuild re-embeds instead of mixing old and new vectors.
PASSAGE_VERSION = 7


def _fingerprint(settings: Settings, model: str) -> str:
    return f"{store.FORMAT}:{model}:{settings.chunk_tokens}:{settings.overlap_tokens}:p{PASSAGE_VERSION}"


class Index:
    def __init__(self, path: Path, version: Path, manifest: dict[str, Any], docs: list[dict[str, Any]],
                 rows: list[tuple], faiss_index, lexical: Lexical, settings: Settings):
        self.path = path
        self.version = version
        self.manifest = manifest
        self.settings = settings
        self.docs: dict[str, dict[str, Any]] = {d["doc_id"]: d for d in docs}
        self._rows = rows
        self.faiss = faiss_index
        self.lexical = lexical
        self.doc_of = np.array([r[1] for r in rows], dtype=object)
        self._embedder: Embedder | None = None
        self.headings: list[tuple] = []  # (doc_id, offset, label, heading text)
        self.heading_vectors = np.zeros((0, 1), dtype=np.float32)

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, index_dir: str | Path | None = None, settings: Settings | None = None) -> "Index":
        settings = settings or get_settings()
        path = Path(index_dir or settings.index)
        version = store.current_version(path)
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        docs, rows = store.read_sqlite(version / "store.sqlite")
        faiss_index = dense.load(version / "dense.faiss")
        lexical = Lexical.load(version / "bm25")
        idx = cls(path, version, manifest, docs, rows, faiss_index, lexical, settings)
        if (version / "headings.json").exists():
            idx.headings = [tuple(h) for h in json.loads((version / "headings.json").read_text(encoding="utf-8"))]
            idx.heading_vectors = np.load(version / "headings.npy")
        return idx

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = get_embedder(self.manifest.get("model_path") or s.embed_model, s.embed_backend, s.embed_batch)
        return self._embedder

    def __len__(self) -> int:
        return len(self._rows)

    # Lookups built once on first use, so per-question rankings never scan every passage (at a
    # million passages a Python loop over rows costs a second per question).
    @cached_property
    def doc_pids(self) -> dict[str, np.ndarray]:
        """Each document's passage ids, in document order."""
        out: dict[str, list[int]] = {}
        for pid, row in enumerate(self._rows):
            out.setdefault(row[1], []).append(pid)
        return {k: np.array(sorted(v, key=lambda p: self._rows[p][2]), dtype=np.int64) for k, v in out.items()}

    @cached_property
    def _doc_starts(self) -> dict[str, list[int]]:
        """Start offsets of ``doc_pids``, for bisecting in ``pid_at``."""
        return {k: [self._rows[p][2] for p in v] for k, v in self.doc_pids.items()}

    @cached_property
    def part_pids(self) -> dict[tuple[str, str], list[int]]:
        """(doc_id, top-level part such as 'Art. 5') -> its passage ids, in document order."""
        out: dict[tuple[str, str], list[int]] = {}
        for doc_id, pids in self.doc_pids.items():
            for pid in pids:
                part = top_level(self._rows[pid][5])
                if part:
                    out.setdefault((doc_id, part), []).append(int(pid))
        return out

    def pid_at(self, doc_id: str, offset: int) -> int | None:
        """The passage of ``doc_id`` that holds ``offset`` (the later one where two overlap)."""
        pids = self.doc_pids.get(doc_id)
        if pids is None:
            return None
        i = bisect.bisect_right(self._doc_starts[doc_id], offset) - 1
        while i >= 0:
            pid = int(pids[i])
            if self._rows[pid][2] <= offset < self._rows[pid][3]:
                return pid
            i -= 1
            if i >= 0 and self._rows[int(pids[i])][3] <= offset:
                break
        return None

    def passage(self, pid: int, score: float = 0.0) -> Passage:
        _, doc_id, start, end, page, section = self._rows[pid]
        d = self.docs[doc_id]
        m = d["meta"]
        return Passage(
            doc_id=doc_id, text=d["text"][start:end], start=start, end=end, page=page, section=section,
            title=m.get("title", doc_id), issuer=m.get("issuer", ""), date=m.get("date", ""),
            jurisdiction=m.get("jurisdiction", ""), doc_type=m.get("doc_type", ""),
            source=m.get("source_url") or m.get("source", ""), score=float(score), pid=pid, meta=m,
        )

    def document(self, doc_id: str) -> Document:
        d = self.docs[doc_id]
        return Document(doc_id=doc_id, text=d["text"], path=d["path"], meta=d["meta"], pages=tuple(d["pages"]))

    def marks(self, doc_id: str) -> list[tuple[int, str]]:
        return self.docs[doc_id]["marks"]

    def info(self) -> dict[str, Any]:
        size = sum(f.stat().st_size for f in self.version.rglob("*") if f.is_file())
        return {
            "index": str(self.path), "version": self.version.name, "documents": len(self.docs),
            "passages": len(self), "bytes": size, "model": self.manifest.get("model"),
            "dim": self.manifest.get("dim"), "faiss": dense.kind_of(self.faiss),
            "built": self.manifest.get("built"), "chunk_tokens": self.manifest.get("chunk_tokens"),
            "docs": {k: {"title": v["meta"].get("title"), "passages": int((self.doc_of == k).sum())}
                     for k, v in sorted(self.docs.items())},
        }

    def retrieve(self, question: str, k: int | None = None, filters: dict[str, Any] | None = None) -> list[Passage]:
        from .retrieve import hybrid_search

        return hybrid_search(self, question, k or self.settings.k, filters)

    # --------------------------------------------------------------- building
    @classmethod
    def build(cls, paths: Iterable[str | Path], index_dir: str | Path | None = None,
              settings: Settings | None = None, progress: Progress | None = None) -> tuple["Index", BuildReport]:
        """Make the index hold exactly the documents under ``paths``."""
        settings = settings or get_settings()
        return _update(Path(index_dir or settings.index), settings, progress, sources=list(paths))

    @classmethod
    def add(cls, paths: Iterable[str | Path], index_dir: str | Path | None = None,
            settings: Settings | None = None, progress: Progress | None = None) -> tuple["Index", BuildReport]:
        """Add or refresh the given files, keeping every other indexed document."""
        settings = settings or get_settings()
        return _update(Path(index_dir or settings.index), settings, progress, add=list(paths))

    @classmethod
    def remove(cls, doc_ids: Iterable[str], index_dir: str | Path | None = None,
               settings: Settings | None = None) -> tuple["Index", BuildReport]:
        settings = settings or get_settings()
        return _update(Path(index_dir or settings.index), settings, None, remove=list(doc_ids))


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load_old(index_dir: Path, settings: Settings, fingerprint: str) -> dict[str, _Doc]:
    try:
        version = store.current_version(index_dir)
    except RagError:
        return {}
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    docs, rows = store.read_sqlite(version / "store.sqlite")
    reusable = manifest.get("fingerprint") == fingerprint
    vectors = np.load(version / "vectors.npy", mmap_mode="r") if reusable else None
    by_doc: dict[str, list[int]] = {}
    for r in rows:
        by_doc.setdefault(r[1], []).append(r[0])
    out = {}
    for d in docs:
        pids = by_doc.get(d["doc_id"], [])
        spans = [(rows[p][2], rows[p][3], rows[p][4], rows[p][5]) for p in pids]
        vec = np.asarray(vectors[pids]) if vectors is not None and pids else None
        if not reusable:
            d = {**d, "hash": ""}  # settings changed: everything is re-chunked and re-embedded
        out[d["doc_id"]] = _Doc(d, spans, vec)
    return out


def _update(index_dir: Path, settings: Settings, progress: Progress | None, sources: list | None = None,
            add: list | None = None, remove: list | None = None) -> tuple[Index, BuildReport]:
    t0 = time.perf_counter()
    report = BuildReport()
    embedder = get_embedder(settings.embed_model, settings.embed_backend, settings.embed_batch)
    fingerprint = _fingerprint(settings, embedder.name)
    with _build_lock(index_dir):
        store.collect_garbage(index_dir)
        old = _load_old(index_dir, settings, fingerprint)
        files: list[Path] = []
        for p in (sources if sources is not None else add or []):
            try:
                files.extend(iter_files([p]))
            except IngestError as e:
                report.errors.append((e.path, e.reason))
        kept: dict[str, _Doc] = {} if sources is not None else dict(old)
        for doc_id in remove or []:
            if kept.pop(doc_id, None) is not None:
                report.removed.append(doc_id)
        fresh: dict[str, _Doc] = {}
        seen_paths: dict[str, str] = {}
        if sources is None:
            # Adding "b/report.md" to an index holding "a/report.md" must not replace it: the
            # indexed file claims its name first, and the newcomer gets a suffixed id.
            for doc_id, d in old.items():
                held = Path(d.doc["path"])
                if held.exists():
                    seen_paths.setdefault(doc_id, str(held.resolve()))
        for i, f in enumerate(files):
            if progress:
                progress("read", i, len(files))
            doc_id = _doc_id(f, seen_paths)
            try:
                digest = hashlib.sha256(f"{content_hash(f)}:{fingerprint}".encode()).hexdigest()
                prev = old.get(doc_id)
                if prev is not None and prev.doc["hash"] == digest and prev.vectors is not None:
                    kept[doc_id] = prev
                    report.unchanged.append(doc_id)
                    continue
                doc = load_document(f, max_bytes=int(settings.max_upload_mb * 1e6), doc_id=doc_id)
            except IngestError as e:
                report.errors.append((e.path, e.reason))
                if doc_id in old and sources is not None:
                    kept[doc_id] = old[doc_id]  # a file that turned bad keeps its last good version
                continue
            fresh[doc_id] = _chunk(doc, digest, embedder, settings)
            (report.updated if doc_id in old else report.added).append(doc_id)
            kept.pop(doc_id, None)
        if sources is not None:
            report.removed = sorted(set(old) - set(kept) - set(fresh))
        _embed(fresh, embedder, progress, report)
        all_docs = {**kept, **fresh}
        if not all_docs:
            raise RagError("nothing to index: no readable documents"
                           + (f" ({len(report.errors)} file(s) failed)" if report.errors else ""))
        _write(index_dir, all_docs, embedder, settings, fingerprint, progress)
        store.collect_garbage(index_dir)
    report.passages = sum(len(d.spans) for d in all_docs.values())
    report.seconds = time.perf_counter() - t0
    return Index.open(index_dir, settings), report


def _doc_id(path: Path, seen: dict[str, str]) -> str:
    stem = path.stem
    key = str(path.resolve())
    if stem in seen and seen[stem] != key:
        stem = f"{stem}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"
    seen.setdefault(stem, key)
    return stem


def _chunk(doc: Document, digest: str, embedder: Embedder, settings: Settings) -> _Doc:
    marks = markers(doc.text)
    chunks = chunk_text(doc.text, embedder.count_tokens, marks, settings.chunk_tokens, settings.overlap_tokens)
    spans = [(c.start, c.end, doc.page_at(c.start), c.section) for c in chunks]
    row = {"doc_id": doc.doc_id, "path": doc.path, "hash": digest, "meta": doc.meta, "text": doc.text,
           "pages": list(doc.pages), "marks": [(m.offset, m.label) for m in marks]}
    return _Doc(row, spans, None)


def embed_text(title: str, section: str | None, text: str, heading: str | None = None) -> str:
    """What the embedding model sees: a short title and section heading, then the passage itself.

    The heading ("3.3.4 Artificial intelligence sandboxes and testbeds", "Article 5 Prohibited AI
    practices") says what a passage is about when its own sentences don't repeat it.
    """
    head = " ".join(title.split()[:12])
    label = heading or section
    return f"{head} {label}\n{text}" if label else f"{head}\n{text}"


def heading_finder(doc: dict[str, Any]) -> Callable[[int], str | None]:
    """offset -> the heading text of the part it sits in (None before the first heading)."""
    heads = headings(doc["text"], doc["marks"])
    offsets = [h[0] for h in heads]

    def at(offset: int) -> str | None:
        i = bisect.bisect_right(offsets, offset) - 1
        return heads[i][2] if i >= 0 else None
    return at


def _embed(fresh: dict[str, _Doc], embedder: Embedder, progress: Progress | None, report: BuildReport) -> None:
    jobs = [(d, i) for d in fresh.values() for i in range(len(d.spans))]
    finders = {id(d): heading_finder(d.doc) for d in fresh.values()}
    texts = [embed_text(d.doc["meta"].get("title", ""), d.spans[i][3], d.doc["text"][d.spans[i][0]:d.spans[i][1]],
                        finders[id(d)](d.spans[i][0])) for d, i in jobs]
    # Longest first over the whole build (not per slice), so each batch holds texts of like length and
    # little is spent on padding; slices only pace the progress callback.
    order = sorted(range(len(texts)), key=lambda j: -len(texts[j]))
    out = np.zeros((len(texts), 384), dtype=np.float32)
    step = 512
    for lo in range(0, len(texts), step):
        if progress:
            progress("embed", lo, len(texts))
        part = order[lo:lo + step]
        vec = embedder.encode([texts[j] for j in part])
        if out.shape[1] != vec.shape[1]:
            out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
        out[part] = vec
    if progress:
        progress("embed", len(texts), len(texts))
    pos = 0
    for d in fresh.values():
        d.vectors = out[pos:pos + len(d.spans)]
        pos += len(d.spans)
    report.embedded = len(texts)


def _write(index_dir: Path, docs: dict[str, _Doc], embedder: Embedder, settings: Settings,
           fingerprint: str, progress: Progress | None) -> None:
    staged = store.new_version_dir(index_dir)
    order = sorted(docs)
    rows: list[tuple] = []
    texts: list[str] = []
    vecs: list[np.ndarray] = []
    for doc_id in order:
        d = docs[doc_id]
        for (s, e, page, section) in d.spans:
            rows.append((len(rows), doc_id, s, e, page, section))
            texts.append(f"{section or ''} {d.doc['text'][s:e]}")
        if d.spans:
            vecs.append(np.asarray(d.vectors, dtype=np.float32))
    vectors = np.concatenate(vecs) if vecs else np.zeros((0, 384), dtype=np.float32)
    if progress:
        progress("write", 0, 1)
    store.write_sqlite(staged / "store.sqlite", [docs[k].doc for k in order], rows)
    np.save(staged / "vectors.npy", vectors)
    index = dense.build(vectors, settings.faiss_kind)
    dense.save(index, staged / "dense.faiss")
    Lexical.build(texts).save(staged / "bm25")
    heads = [(doc_id, off, label, head) for doc_id in order
             for off, label, head in headings(docs[doc_id].doc["text"], docs[doc_id].doc["marks"])]
    store.write_json(staged / "headings.json", heads)
    np.save(staged / "headings.npy", embedder.encode([f"{h[3]}" for h in heads]) if heads
            else np.zeros((0, vectors.shape[1]), dtype=np.float32))
    store.write_json(staged / "manifest.json", {
        "format": store.FORMAT, "fingerprint": fingerprint, "model": embedder.name,
        "model_path": settings.embed_model, "dim": int(vectors.shape[1]), "faiss": dense.kind_of(index),
        "documents": len(order), "passages": len(rows), "chunk_tokens": settings.chunk_tokens,
        "overlap_tokens": settings.overlap_tokens, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    store.publish(index_dir, staged)
    if progress:
        progress("write", 1, 1)

"""The on-disk layout of an index, written so that a crash never leaves it half-written.

    INDEX/CURRENT          name of the live version (replaced atomically with os.replace)
    INDEX/v-<id>/          one complete version:
        manifest.json      model, sizes, FAISS kind, settings that shaped the passages
        store.sqlite       documents (text, metadata, page map, structure) and passages
        vectors.npy        passage embeddings in passage-id order (reused by incremental builds)
        dense.faiss        FAISS index over vectors.npy
        bm25/              bm25s index (JSON + numpy arrays)

A build writes a new version folder beside the live one and flips CURRENT only when every file
is complete and fsynced; readers resolve CURRENT once, so they see the old or the new version,
never a mix. The previous version is kept until the next build completes.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from .errors import IndexMissingError

FORMAT = 1

SCHEMA = """
CREATE TABLE docs (
    doc_id TEXT PRIMARY KEY, path TEXT, hash TEXT, meta TEXT, text TEXT, pages TEXT, marks TEXT
);
CREATE TABLE passages (
    pid INTEGER PRIMARY KEY, doc_id TEXT, start INTEGER, end INTEGER, page INTEGER, section TEXT
);
CREATE INDEX passages_doc ON passages(doc_id);
"""


def current_version(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        raise IndexMissingError(
            f"no index at '{index_dir}': build one with `rag index build corpus/ --index {index_dir}`"
        )
    name = pointer.read_text(encoding="utf-8").strip()
    version = index_dir / name
    # CURRENT names a version folder of this index, never a path elsewhere ("../x", "/abs/v-1").
    if not name.startswith("v-") or Path(name).name != name or not (version / "manifest.json").exists():
        raise IndexMissingError(f"index at '{index_dir}' is damaged ({version.name} is incomplete): rebuild it")
    return version


def new_version_dir(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.partial"
    path.mkdir()
    return path


def publish(index_dir: Path, staged: Path) -> Path:
    """fsync every file of ``staged``, rename it final, and flip CURRENT to it atomically."""
    for root, _dirs, files in os.walk(staged):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
    final = staged.with_suffix("")
    os.rename(staged, final)
    tmp = index_dir / f"CURRENT.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(final.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    return final


def collect_garbage(index_dir: Path, keep: int = 2) -> None:
    """Remove unfinished builds and all but the newest ``keep`` complete versions."""
    try:
        live = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        return
    versions = sorted(p for p in index_dir.glob("v-*") if p.is_dir() and not p.name.endswith(".partial"))
    for p in index_dir.glob("v-*.partial"):
        if time.time() - p.stat().st_mtime > 5:  # not a build running right now
            shutil.rmtree(p, ignore_errors=True)
    for p in index_dir.glob("CURRENT.*.tmp"):
        p.unlink(missing_ok=True)
    old = [p for p in versions if p.name != live]
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_sqlite(path: Path, docs: list[dict[str, Any]], passages: list[tuple]) -> None:
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        con.executemany(
            "INSERT INTO docs VALUES (?,?,?,?,?,?,?)",
            [
                (d["doc_id"], d["path"], d["hash"], json.dumps(d["meta"], ensure_ascii=False), d["text"],
                 json.dumps(d["pages"]), json.dumps(d["marks"], ensure_ascii=False))
                for d in docs
            ],
        )
        con.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?)", passages)
        con.commit()
    finally:
        con.close()


def read_sqlite(path: Path) -> tuple[list[dict[str, Any]], list[tuple]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        docs = [
            {"doc_id": r[0], "path": r[1], "hash": r[2], "meta": json.loads(r[3]), "text": r[4],
             "pages": [tuple(p) for p in json.loads(r[5])], "marks": [tuple(m) for m in json.loads(r[6])]}
            for r in con.execute("SELECT doc_id, path, hash, meta, text, pages, marks FROM docs ORDER BY doc_id")
        ]
        passages = list(con.execute("SELECT pid, doc_id, start, end, page, section FROM passages ORDER BY pid"))
    finally:
        con.close()
    return docs, passages


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")

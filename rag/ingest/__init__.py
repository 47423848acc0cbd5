"""Ingestion: files on disk -> ``Document`` (stored text, metadata, page map).

One reader per format in ``readers``; this module finds files, picks the reader and turns every
failure into an ``IngestError`` naming the file, so one bad file never stops a build.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import IngestError
from ..types import Document
from .readers import READERS
from .metadata import normalise_meta

SUPPORTED = tuple(sorted(READERS))


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every file under ``paths`` (recursively), sorted, hidden files and folders skipped."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(part.startswith(".") for part in rel):
                    if f.name.upper() in {"MANIFEST.MD", "README.MD"} and f.parent == p and _is_manifest(f):
                        continue
                    yield f
        elif p.is_file():
            yield p
        else:
            raise IngestError(str(p), "no such file or folder")


def _is_manifest(f: Path) -> bool:
    try:
        head = f.read_text(encoding="utf-8", errors="replace")[:400].lower()
    except OSError:
        return False
    return "manifest" in head and not head.startswith("---")


def load_document(path: str | Path, max_bytes: int | None = None, doc_id: str | None = None) -> Document:
    path = Path(path)
    ext = path.suffix.lower()
    reader = READERS.get(ext)
    if reader is None:
        raise IngestError(str(path), f"unsupported file type '{ext or path.name}' (supported: {', '.join(SUPPORTED)})")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise IngestError(str(path), f"cannot read file ({e.strerror or e})") from None
    if size == 0:
        raise IngestError(str(path), "empty file")
    if max_bytes is not None and size > max_bytes:
        raise IngestError(str(path), f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    if max_bytes is not None and ext == ".docx":
        unpacked = _unpacked_xml_bytes(path)
        if unpacked > max_bytes:  # a few KB of zip can unpack to gigabytes of XML (a "zip bomb")
            raise IngestError(str(path), f"DOCX unpacks to {unpacked / 1e6:.0f} MB of XML, over the "
                                         f"{max_bytes / 1e6:.0f} MB limit")
    try:
        text, meta, pages = reader(path)
    except IngestError:
        raise
    except Exception as e:  # a reader library failing on a broken file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise IngestError(str(path), f"could not parse {ext[1:].upper()} ({msg[:160]})") from None
    if not text.strip():
        raise IngestError(str(path), "no extractable text")
    if max_bytes is not None and len(text) > max_bytes:
        raise IngestError(str(path), f"extracted text is {len(text) / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    meta = normalise_meta(meta, path)
    return Document(doc_id=doc_id or path.stem, text=text, path=str(path), meta=meta, pages=tuple(pages))


def _unpacked_xml_bytes(path: Path) -> int:
    """Declared uncompressed size of the XML parts of a zip (zipfile never inflates past it)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return sum(i.file_size for i in z.infolist() if i.filename.endswith((".xml", ".rels")))
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0  # the reader reports a broken archive in its own words


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = ["SUPPORTED", "iter_files", "load_document", "content_hash", "IngestError"]

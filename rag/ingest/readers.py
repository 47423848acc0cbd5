"""Format readers: each returns (text, metadata, page map) for one file.

The returned text is what the index stores and what citation offsets point into, so readers
never post-process it after page offsets are recorded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from ..errors import IngestError
from .metadata import split_front_matter

Pages = list[tuple[int, int]]
Reader = Callable[[Path], tuple[str, dict[str, Any], Pages]]

_PAGE_MARK = re.compile(r"^---- Page (\d+) ----[ \t]*$", re.M)


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM), else UTF-16 by BOM, else cp1252; binary is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise IngestError(str(path), "looks like a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _decode_damaged(data)
    sample = text[:8192]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\n\r\t\f") or ch == "\ufffd")
    if sample and bad / len(sample) > 0.05:
        raise IngestError(str(path), "looks like a binary file, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_damaged(data: bytes) -> str:
    """Not valid UTF-8. A UTF-8 file with a few bad bytes stays UTF-8 (each bad byte becomes U+FFFD);
    re-reading all of it as cp1252 would garble every accented letter of an otherwise good file.
    A legacy (cp1252) file rarely forms valid multi-byte UTF-8 sequences, so it fails this test."""
    as_utf8 = data.decode("utf-8-sig", errors="replace")
    bad = as_utf8.count("\ufffd")
    multibyte = sum(1 for ch in as_utf8 if ord(ch) > 127) - bad
    if multibyte > bad:
        return as_utf8
    return data.decode("cp1252", errors="replace")


def _marked_pages(text: str) -> Pages:
    """Page map from '---- Page N ----' markers left by PDF-to-text conversion."""
    return [(int(m.group(1)), m.start()) for m in _PAGE_MARK.finditer(text)]


def read_text(path: Path) -> tuple[str, dict[str, Any], Pages]:
    raw = decode_text(path, path.read_bytes())
    meta, body = split_front_matter(raw)
    return body, meta, _marked_pages(body)


def read_html(path: Path) -> tuple[str, dict[str, Any], Pages]:
    from bs4 import BeautifulSoup

    html = decode_text(path, path.read_bytes())
    soup = BeautifulSoup(html, "html.parser")
    meta: dict[str, Any] = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for tag in soup.find_all("meta"):
        name = (tag.get("name") or tag.get("property") or "").lower()
        if name in {"author", "date", "description", "og:title", "dc.date", "dc.publisher"}:
            key = {"author": "issuer", "dc.publisher": "issuer", "og:title": "title", "dc.date": "date"}.get(name, name)
            meta.setdefault(key, (tag.get("content") or "").strip())
    # Text a reader never sees is not evidence (and is a favourite place to plant instructions).
    for tag in soup(["script", "style", "noscript", "template", "head", "iframe", "object"]):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.attrs is None:
            continue
        style = (tag.get("style") or "").replace(" ", "").lower()
        if tag.has_attr("hidden") or tag.get("aria-hidden") == "true" or "display:none" in style \
                or "visibility:hidden" in style or "font-size:0" in style:
            tag.decompose()
    blocks = ("p", "div", "section", "article", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "table", "ul", "ol", "blockquote", "pre")
    for tag in soup.find_all(blocks):
        tag.insert_before("\n\n")
    text = soup.get_text()
    text = re.sub(r"[ \t\xa0]+", " ", text)
    text = re.sub(r"\n[ \t]+", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text, meta, []


def read_pdf(path: Path) -> tuple[str, dict[str, Any], Pages]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs repairs of broken files ("EOF marker not found") as bare warnings on stderr that
    # name no file; what the user needs is the IngestError below, which does.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise IngestError(str(path), "PDF is encrypted with a password")
        n = len(reader.pages)
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, OSError) as e:
        raise IngestError(str(path), f"broken or truncated PDF ({str(e)[:120]})") from None
    parts: list[str] = []
    pages: Pages = []
    offset = 0
    for i in range(n):
        try:
            page_text = reader.pages[i].extract_text() or ""
        except Exception:
            page_text = ""
        page_text = page_text.replace("\r\n", "\n").replace("\x00", "")
        pages.append((i + 1, offset))
        parts.append(page_text)
        offset += len(page_text) + 2
    meta: dict[str, Any] = {}
    try:
        info = reader.metadata or {}
        if info.get("/Title"):
            meta["title"] = str(info["/Title"])
        if info.get("/Author"):
            meta["issuer"] = str(info["/Author"])
    except Exception:
        pass
    return "\n\n".join(parts), meta, pages


def read_docx(path: Path) -> tuple[str, dict[str, Any], Pages]:
    import zipfile

    import docx

    if not zipfile.is_zipfile(path):
        raise IngestError(str(path), "not a valid DOCX file (not a zip archive)")
    d = docx.Document(str(path))
    paras = [p.text for p in d.paragraphs]
    for table in d.tables:
        for row in table.rows:
            paras.append(" | ".join(c.text for c in row.cells))
    cp = d.core_properties
    meta: dict[str, Any] = {}
    if cp.title:
        meta["title"] = cp.title
    if cp.author:
        meta["issuer"] = cp.author
    if cp.created:
        meta["date"] = cp.created.date().isoformat()
    return "\n".join(paras), meta, []


READERS: dict[str, Reader] = {
    ".txt": read_text,
    ".md": read_text,
    ".markdown": read_text,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
}

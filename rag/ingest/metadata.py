"""Front matter and document metadata, normalised to the fields every passage carries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

FIELDS = ("title", "issuer", "date", "jurisdiction", "doc_type", "source_url", "license", "notes")
_FRONT = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*\n", re.S)


def split_front_matter(raw: str) -> tuple[dict[str, Any], str]:
    """YAML front matter (if any) and the body that follows it, byte-for-byte."""
    m = _FRONT.match(raw)
    if not m:
        return {}, raw
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError:
        return {}, raw
    if not isinstance(meta, dict):
        return {}, raw
    return meta, raw[m.end():]


def normalise_meta(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {str(k): v for k, v in meta.items() if v is not None}
    for key in FIELDS:
        val = out.get(key, "")
        out[key] = val.isoformat() if hasattr(val, "isoformat") else str(val).strip()
    if not out["title"]:
        out["title"] = path.stem.replace("_", " ").replace("-", " ")
    out["doc_type"] = out["doc_type"].lower() or "document"
    out["source"] = str(out.get("source") or out["source_url"] or out["issuer"] or path.name)
    out["path"] = str(path)
    return out

"""The things users touch: documents, passages, citations and answers.

Frozen dataclasses so a passage handed to the UI, the CLI or a test can never drift from the
index it came from. Offsets are character offsets into ``Document.text`` (the stored text), so
``doc.text[p.start:p.end] == p.text`` always holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    path: str
    meta: dict[str, Any] = field(default_factory=dict)
    # (page_number, start_offset) pairs in order; empty when the format has no pages.
    pages: tuple[tuple[int, int], ...] = ()

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.doc_id)

    def page_at(self, offset: int) -> int | None:
        page = None
        for number, start in self.pages:
            if start > offset:
                break
            page = number
        return page


@dataclass(frozen=True)
class Passage:
    doc_id: str
    text: str
    start: int
    end: int
    page: int | None = None
    section: str | None = None
    title: str = ""
    issuer: str = ""
    date: str = ""
    jurisdiction: str = ""
    doc_type: str = ""
    source: str = ""
    score: float = 0.0
    pid: int = -1
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("meta")
        d["meta"] = {k: v for k, v in self.meta.items() if k not in d}
        return d


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    page: int | None = None
    date: str = ""
    source: str = ""
    speaker: str | None = None
    section: str | None = None
    tier: str | None = None
    status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SentenceCheck:
    """One answer sentence and the verifier's verdict on it."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    score: float
    missing: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation]
    refused: bool
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    sentences: list[SentenceCheck] = field(default_factory=list)
    mode: str = ""
    notes: list[str] = field(default_factory=list)
    # Parts of the question the sources do not answer (partial abstention).
    unanswered: list[str] = field(default_factory=list)
    # A comparison: one row per jurisdiction, {"jurisdiction", "text", "citations": [n...]}.
    table: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_json() for c in self.citations],
            "sentences": [asdict(s) for s in self.sentences],
            "notes": list(self.notes),
            "unanswered": list(self.unanswered),
            "table": self.table,
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
        }

"""The golden set: questions with gold documents, gold quotes and the facts a correct answer states."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TYPES = {"fact", "number", "quote", "list", "definition", "comparison", "followup", "unanswerable",
         "pinpoint", "status", "asof", "partial"}


@dataclass
class Gold:
    doc_id: str
    quote: str


@dataclass
class Item:
    id: str
    question: str
    type: str
    answerable: bool
    gold: list[Gold] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def doc_ids(self) -> set[str]:
        return {g.doc_id for g in self.gold}


def load(path: str | Path) -> list[Item]:
    items = []
    for _n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        known = {"id", "question", "type", "answerable", "gold", "facts", "history"}
        items.append(Item(
            id=rec["id"], question=rec["question"], type=rec.get("type", "fact"),
            answerable=bool(rec.get("answerable", True)),
            gold=[Gold(g["doc_id"], g["quote"]) for g in rec.get("gold", [])],
            facts=list(rec.get("facts", [])), history=list(rec.get("history", [])),
            extra={k: v for k, v in rec.items() if k not in known},
        ))
    return items

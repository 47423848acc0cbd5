"""The golden set (eval/golden.jsonl) is well-formed and every gold quote is really in its document.

A gold quote must be an exact substring of its document's stored text (what ``rag.ingest.load_document``
returns: UTF-8, CRLF -> LF, leading YAML front matter removed, nothing else changed), so that the
harness can locate it by ``str.find``. A fact must appear in one of its item's gold quotes (case and
whitespace ignored), so an answer that quotes the gold passage always scores as correct.

The seed article lives in corpus/; every other document is in ../shared/corpus beside the project.
Checks over the shared documents are skipped when that folder is absent.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from rag.ingest import load_document

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "eval" / "golden.jsonl"
CORPUS = ROOT / "corpus"
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"
SEED_ID = "000_2a757378fe6c6261"
NO_SHARED = "../shared/corpus not present: golden quotes over the shared corpus cannot be checked"

TYPES = {"fact", "number", "quote", "list", "definition", "comparison", "followup", "unanswerable",
         "pinpoint", "status", "asof", "partial"}
REQUIRED = {"id": str, "question": str, "type": str, "answerable": bool, "gold": list, "facts": list}
# The extra field each type must carry (read by the harness through ``Item.extra`` / ``Item.history``).
TYPE_FIELD = {"quote": "speaker", "followup": "history", "pinpoint": "section", "status": "status",
              "asof": "as_of", "comparison": "jurisdictions", "partial": "unanswerable_parts"}
MIN_PER_TYPE = {"unanswerable": 8, "comparison": 6, "followup": 5, "pinpoint": 6, "status": 4, "asof": 3,
                "partial": 3, "number": 8, "definition": 6, "list": 5}


def norm(text: str) -> str:
    """Lower case, every run of whitespace (incl. line breaks and no-break spaces) as one space."""
    return " ".join(text.split()).lower()


def read_items() -> list[dict]:
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


try:
    ITEMS = read_items()
except (OSError, ValueError):
    ITEMS = []  # test_file_parses reports the error


def by_id(items: list[dict]) -> list:
    return [pytest.param(it, id=str(it.get("id", n))) for n, it in enumerate(items)]


@lru_cache(maxsize=None)
def document_path(doc_id: str) -> Path | None:
    for folder in (CORPUS, SHARED_CORPUS):
        if folder.is_dir():
            for path in sorted(folder.glob(f"{doc_id}.*")):
                if path.is_file():
                    return path
    return None


@lru_cache(maxsize=None)
def document_text(doc_id: str) -> str:
    return load_document(document_path(doc_id)).text


# ------------------------------------------------------------------ (a) structure


def test_file_parses_and_has_enough_items():
    items = read_items()
    assert len(items) >= 60, f"only {len(items)} golden items"
    ids = Counter(it.get("id") for it in items)
    assert not [i for i, n in ids.items() if n > 1], "duplicate ids"


@pytest.mark.parametrize("item", by_id(ITEMS))
def test_item_fields(item):
    for key, kind in REQUIRED.items():
        assert isinstance(item.get(key), kind), f"{key!r} missing or not {kind.__name__}"
    assert re.fullmatch(r"g\d{3,}", item["id"]), item["id"]
    assert item["question"].strip()
    assert item["type"] in TYPES, item["type"]
    assert item["answerable"] == (item["type"] != "unanswerable")
    for g in item["gold"]:
        assert set(g) == {"doc_id", "quote"} and g["doc_id"] and g["quote"], g
    assert all(isinstance(f, str) and f.strip() for f in item["facts"])
    extra = TYPE_FIELD.get(item["type"])
    if extra:
        assert item.get(extra), f"{item['type']} item needs a non-empty {extra!r}"
    if item["type"] == "followup":
        assert all(t.get("role") in {"user", "assistant"} and t.get("content") for t in item["history"])
    if item["type"] == "asof":
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item["as_of"]), item["as_of"]
    if item["type"] == "comparison":
        assert len(item["jurisdictions"]) >= 2
        assert len(item["gold"]) >= len(item["jurisdictions"]), "one gold quote per jurisdiction"


def test_coverage_of_types_and_seed_article():
    types = Counter(it["type"] for it in ITEMS)
    short = {t: (types[t], n) for t, n in MIN_PER_TYPE.items() if types[t] < n}
    assert not short, f"too few items (have, want): {short}"
    seed = [it for it in ITEMS if any(g["doc_id"] == SEED_ID for g in it["gold"])]
    assert len(seed) >= 12, f"only {len(seed)} items about the seed article"


# ------------------------------------------------------------------ (b) quotes are exact


@pytest.mark.parametrize("item", by_id([it for it in ITEMS if it.get("gold")]))
def test_gold_quotes_are_exact_substrings(item):
    needs_shared = False
    for g in item["gold"]:
        if document_path(g["doc_id"]) is None and not SHARED_CORPUS.is_dir():
            needs_shared = True  # still check the item's other quotes (e.g. the seed article's)
            continue
        assert document_path(g["doc_id"]) is not None, f"no document {g['doc_id']!r} in corpus/ or ../shared/corpus"
        assert g["quote"] in document_text(g["doc_id"]), f"not in {g['doc_id']}: {g['quote']!r}"
    if needs_shared:
        pytest.skip(NO_SHARED)


@pytest.mark.parametrize("item", by_id([it for it in ITEMS if it.get("type") == "asof"]))
def test_asof_gold_documents_were_published_by_the_date(item):
    """An as-of question only uses sources dated on or before ``as_of``; its gold must be among them."""
    for g in item["gold"]:
        path = document_path(g["doc_id"])
        if path is None and not SHARED_CORPUS.is_dir():
            pytest.skip(NO_SHARED)
        date = load_document(path).meta["date"]
        assert date and date[:10] <= item["as_of"], f"{g['doc_id']} is dated {date}, after {item['as_of']}"


# ------------------------------------------------------------------ (c) facts are in the gold quotes


@pytest.mark.parametrize("item", by_id([it for it in ITEMS if it.get("facts")]))
def test_facts_appear_in_a_gold_quote(item):
    quotes = [norm(g["quote"]) for g in item["gold"]]
    for fact in item["facts"]:
        assert any(norm(fact) in q for q in quotes), f"fact {fact!r} is in none of the gold quotes"


# ------------------------------------------------------------------ (d) unanswerable items


@pytest.mark.parametrize("item", by_id([it for it in ITEMS if it.get("type") == "unanswerable"]))
def test_unanswerable_items_have_no_gold_and_no_facts(item):
    assert item["answerable"] is False
    assert item["gold"] == [] and item["facts"] == []


@pytest.mark.parametrize("item", by_id([it for it in ITEMS if it.get("type") != "unanswerable"]))
def test_answerable_items_have_gold_and_facts(item):
    assert item["gold"], "answerable item without gold quotes"
    assert 1 <= len(item["facts"]) <= 3, "answerable items state 1-3 facts"

"""Hybrid retrieval: dense (FAISS) and BM25 rankings fused by reciprocal rank, with filters.

RRF needs no score calibration between the two retrievers, which is why it is the default in
Haystack and txtai. A question that names an article or section ("What does Article 5 say?")
adds a third ranking: the passages of that article, in document order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dense
from .definitions import asked_terms, definition_forms, definitions_in, expansions
from .policy import JURISDICTIONS, STATUS_TEXT, asks_status, jurisdictions_in
from .policy import issuer as policy_issuer

if TYPE_CHECKING:
    from .index import Index
    from .types import Passage

RRF_K = 60
# Weight of each ranking in the fusion (tuned on eval/golden.jsonl; see eval/README.md).
WEIGHTS = {"dense": 0.5, "bm25": 0.5, "doc_dense": 1.0, "doc_bm25": 2.0, "section": 1.5, "heading": 0.5,
           "definition": 2.0, "status": 4.5, "heading_word": 2.0, "place_dense": 0.5, "place_bm25": 1.0}
_JURISDICTION_ALIASES = {
    "us": "united states", "usa": "united states", "u.s.": "united states", "united states": "united states",
    "eu": "european union", "european union": "european union", "europe": "european union",
    "uk": "united kingdom", "u.k.": "united kingdom", "united kingdom": "united kingdom", "britain": "united kingdom",
    "cn": "china", "china": "china",
}
_REF = re.compile(
    r"\b(?:(Art(?:icle)?\.?|Sec(?:tion)?\.?|§)\s*(\d+(?:\.\d+)?[a-z]?)|(Annex|ANNEX)\s+([IVXLC]+)\b|(Recital)\s+(\d+))",
    re.I,
)


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value if str(v)]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def allowed_mask(index: "Index", filters: dict[str, Any] | None) -> np.ndarray | None:
    """Boolean mask over passages, or None when nothing is filtered."""
    if not filters:
        return None
    ok_docs = set()
    for doc_id, d in index.docs.items():
        if doc_matches(d["meta"], doc_id, filters):
            ok_docs.add(doc_id)
    if len(ok_docs) == len(index.docs):
        return None
    return np.fromiter((doc in ok_docs for doc in index.doc_of), dtype=bool, count=len(index.doc_of))


def doc_matches(meta: dict[str, Any], doc_id: str, filters: dict[str, Any]) -> bool:
    for key, raw in filters.items():
        values = as_list(raw)
        if not values:
            continue
        if key == "doc_id":
            if doc_id not in values:
                return False
        elif key == "jurisdiction":
            have = str(meta.get("jurisdiction", "")).lower()
            if not any(_JURISDICTION_ALIASES.get(v.lower(), v.lower()) in have for v in values):
                return False
        elif key in ("date_from", "since"):
            if not meta.get("date") or str(meta["date"]) < values[0]:
                return False
        elif key in ("date_to", "until", "as_of"):
            # "2025" (a year only) counts as published on the first day of that year.
            if not meta.get("date") or str(meta["date"])[: len(values[0])] > values[0]:
                return False
        else:
            have = str(meta.get(key, "")).lower()
            if have not in {v.lower() for v in values}:
                return False
    return True


def references(question: str, precise: bool = False) -> list[str]:
    """Structural references in a question: 'Article 5' -> 'Art. 5', 'section 4.2' -> 'Sec. 4.2'.

    With ``precise``, paragraphs and points are kept: 'Section 4(a)' -> 'Sec. 4(a)'.
    """
    out = []
    for m in _REF.finditer(question):
        if m.group(1):
            kind = "Art." if m.group(1).lower().startswith("art") else "Sec."
            sub = re.match(r"(?:\(\w{1,4}\))+", question[m.end():]) if precise else None
            out.append(f"{kind} {m.group(2)}{sub.group(0) if sub else ''}")
        elif m.group(3):
            out.append(f"Annex {m.group(4).upper()}")
        else:
            out.append(f"Recital {m.group(6)}")
    return out


def hybrid_search(index: "Index", question: str, k: int = 5, filters: dict[str, Any] | None = None,
                  candidates: int = 60) -> list["Passage"]:
    if len(index) == 0 or not question.strip():
        return []
    mask = allowed_mask(index, filters)
    if mask is not None and not mask.any():
        return []
    n = max(candidates, 4 * k)
    qvec = index.embedder.encode([question])[0]
    allowed = np.flatnonzero(mask) if mask is not None else None
    d_ids, d_scores = dense.search(index.faiss, qvec, n, allowed)
    l_ids, _ = index.lexical.search(with_acronyms(index, question), n, mask)
    rankings = [("dense", list(d_ids)), ("bm25", list(l_ids))]
    named = [d for d in doc_mentions(index, question) if mask is None or mask[index.doc_pids[d]].any()]
    if named:
        # The question names a document ("the EU AI Act", "EO 14110"): rank within it as well.
        # Within it, the document's own name says nothing: rank by the rest of the question.
        in_docs = np.zeros(len(index), dtype=bool)
        for d in named + companions(index, named):
            in_docs[index.doc_pids[d]] = True
        if mask is not None:
            in_docs &= mask
        topic = focus(index, question)
        tvec = index.embedder.encode([topic])[0] if topic != question else qvec
        rankings.append(("doc_dense", list(dense.search(index.faiss, tvec, n, np.flatnonzero(in_docs))[0])))
        rankings.append(("doc_bm25", list(index.lexical.search(topic, n, in_docs)[0])))
    else:
        place = jurisdiction_mask(index, question, mask)
        if place is not None:
            # "Is the UK going to set up a regulator?" names no document but a place: most of the
            # corpus cannot answer it, so rank within that place's documents too.
            topic = " ".join(re.sub("|".join(JURISDICTIONS.values()), " ", question).split())
            tvec = index.embedder.encode([topic])[0] if topic else qvec
            rankings.append(("place_dense", list(dense.search(index.faiss, tvec, n, np.flatnonzero(place))[0])))
            rankings.append(("place_bm25", list(index.lexical.search(topic or question, n, place)[0])))
    refs = references(question)
    if refs:
        rankings.append(("section", _section_ranking(index, refs, mask, qvec, named)))
    defined = definition_ranking(index, question, mask, named)
    if defined:
        rankings.append(("definition", defined))
    if named and asks_status(question):
        rankings.append(("status", _status_ranking(index, named, mask)))
    worded, similar = _heading_rankings(index, question, mask, named)
    rankings += [("heading_word", worded)] * bool(worded) + [("heading", similar)] * bool(similar)
    fused: dict[int, float] = {}
    for kind, ranking in rankings:
        for rank, pid in enumerate(ranking):
            fused[int(pid)] = fused.get(int(pid), 0.0) + WEIGHTS[kind] / (RRF_K + rank + 1)
    dense_score = dict(zip(map(int, d_ids), map(float, d_scores)))
    top = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    out = []
    for pid, score in top:
        p = index.passage(pid, score)
        p.meta.setdefault("_", None)
        out.append(_with_similarity(p, dense_score.get(pid)))
    return out


def companions(index: "Index", named: list[str]) -> list[str]:
    """Fact sheets issued the same day as a named order: "how many companies had committed before
    Biden's AI order?" is answered in the White House's summary, not in the order's text."""
    out = []
    for doc_id in named:
        date = str(index.docs[doc_id]["meta"].get("date", ""))
        if len(date) < 10 or str(index.docs[doc_id]["meta"].get("title", "")).lower().startswith("fact sheet"):
            continue
        out += [d for d, doc in index.docs.items() if d not in named and d not in out
                and str(doc["meta"].get("date", "")) == date
                and str(doc["meta"].get("title", "")).lower().startswith("fact sheet")]
    return out


def jurisdiction_mask(index: "Index", question: str, mask: np.ndarray | None) -> np.ndarray | None:
    """Passages of the documents from the places the question names, or None when that is all or nothing."""
    places = jurisdictions_in(question)
    if not places:
        return None
    docs = [d for d, doc in index.docs.items() if doc_matches(doc["meta"], d, {"jurisdiction": places})]
    if not docs or len(docs) == len(index.docs):
        return None
    out = np.zeros(len(index), dtype=bool)
    for d in docs:
        out[index.doc_pids[d]] = True
    if mask is not None:
        if not (mask & ~out).any():  # the filters already keep only these places
            return None
        out &= mask
    return out if out.any() else None


def _with_similarity(p: "Passage", sim: float | None) -> "Passage":
    from dataclasses import replace

    meta = dict(p.meta)
    meta["similarity"] = sim
    return replace(p, meta=meta)


def _section_ranking(index: "Index", refs: list[str], mask: np.ndarray | None, qvec: np.ndarray,
                     named: list[str]) -> list[int]:
    """Passages of the referenced article/section, in document order (its heading comes first)."""
    hits = []
    for doc_id in sorted(index.doc_pids):
        if named and doc_id not in named:
            continue
        for ref in refs:
            hits += [pid for pid in index.part_pids.get((doc_id, ref), []) if mask is None or mask[pid]]
    return hits[:20]


# Plain words users ask with, and the words the legal texts use for them (dense side).
_HINTS = {"ban": "prohibited", "bans": "prohibited", "banned": "prohibited", "fine": "penalties",
          "fines": "penalties", "forbid": "prohibited", "punish": "penalties", "penalty": "penalties fines",
          "when": "apply from date", "exempt": "exemptions no restrictions"}


def _heading_rankings(index: "Index", question: str, mask: np.ndarray | None, named: list[str],
                      min_sim: float = 0.5, top: int = 2) -> tuple[list[int], list[int]]:
    """Passages under the article/section headings closest to the question, heading first."""
    if not len(index.headings):
        return [], []
    extra = [h for w, h in _HINTS.items() if re.search(rf"\b{w}\b", question, re.I)]
    qvec = index.embedder.encode([question + (" " + " ".join(extra) if extra else "")])[0]
    sims = index.heading_vectors @ qvec
    # A heading in the law's own word for what was asked ("fine" -> "Penalties") is found by that
    # word: a one-word heading embeds too far from any question to be found by similarity.
    # Only within the documents the question names: "What fine does the Zorblatt ordinance set?" is
    # not about the AI Act's Article 99 because that is the corpus's article headed "Penalties".
    words = {w for h in extra for w in h.split() if len(w) > 5} if named else set()
    parts = [[pid for pid in index.part_pids.get((doc_id, label), [])[:8] if mask is None or mask[pid]]
             for doc_id, _off, label, text in (index.headings if words else [])
             if doc_id in named and words & set(re.findall(r"[a-z]+", text.lower()))]
    worded = [pids[rank] for rank in range(8) for pids in parts if rank < len(pids)]
    out: list[int] = []
    for i in np.argsort(-sims)[: top * 4]:
        if sims[i] < min_sim or len(out) >= top * 8:
            break
        doc_id, _off, label, _text = index.headings[i]
        if named and doc_id not in named:
            continue
        pids = [pid for pid in index.part_pids.get((doc_id, label), []) if mask is None or mask[pid]]
        out.extend(pids[:8])
    return worded, out


_ID = re.compile(r"\b(?:(?!19\d\d\b|20\d\d\b)\d{4,5}|\d{4}/\d{3,4}|M-\d{2}-\d{2}|\d{3}-\d)\b")
_PAREN = re.compile(r"\(([^()]{3,60})\)")
_ACRONYM = re.compile(r"\b[A-Z]{3,6}\b")
_COMMON_ID_WORDS = {"eu", "uk", "us", "act", "fact", "sheet", "order", "ai", "wh", "and", "the", "paper", "white",
                    "ethics", "trust", "regul", "memo", "rmf", "regulation", "security", "national", "science",
                    "guidelines", "trustworthy", "implementation", "infrastructure", "memorandum", "controls",
                    "export", "framework", "executive", "policy", "strategy", "report"}
_SLUG_PREFIXES = {"eo", "us", "eu", "uk", "wh", "and", "the", "of", "for", "on"}
_NOT_ALIASES = {"FACT", "SHEET", "THE", "AND", "FOR", "WITH", "PDF", "CP"}


def _norm(text: str) -> str:
    text = re.sub(r"artificial intelligence", "ai", text.lower())
    return " " + re.sub(r"[^a-z0-9/-]+", " ", text).strip() + " "


def spelled_out(index: "Index") -> dict[str, str]:
    """Names the corpus abbreviates, with their acronyms: "chief ai officer" -> "CAIO".

    A source that has said "Chief AI Officer (CAIO)" once writes "the CAIO must be at least a GS-15"
    after; a reader asks with the full name, so BM25 must look for the acronym too.
    """
    cached = getattr(index, "_spelled_out", None)
    if cached is not None:
        return cached
    out: dict[str, str] = {}
    for d in index.docs.values():
        text = d["text"]
        for acronym in set(re.findall(r"\(\s*([A-Z][A-Za-z]{1,7})\s*\)", text)):
            for start in expansions(acronym, text)[:1]:
                name = " ".join(text[start:text.index(acronym, start)].rstrip(" (").split()).lower()
                if len(name.split()) >= 2 and len(acronym) >= 3:  # "EU", "IC": too short to add anything
                    out.setdefault(name, acronym)
    index._spelled_out = out
    return out


def with_acronyms(index: "Index", question: str) -> str:
    """The question with the acronyms of the names it spells out appended (for BM25)."""
    low = " ".join(question.lower().split())
    extra = [a for name, a in spelled_out(index).items() if name in low and a.lower() not in low.split()]
    return f"{question} {' '.join(extra)}" if extra else question


def doc_aliases(index: "Index") -> dict[str, set[str]]:
    """Names a user might call each document by, derived from its title and file name."""
    cached = getattr(index, "_aliases", None)
    if cached is not None:
        return cached
    out: dict[str, set[str]] = {}
    for doc_id, d in index.docs.items():
        title = d["meta"].get("title", "")
        names = set(_ID.findall(title)) | {m for m in _ID.findall(doc_id.replace("m-", "M-")) if not m.startswith(("19", "20")) or len(m) == 5}
        for inner in _PAREN.findall(title):
            if not inner.isupper() or len(inner) > 3:
                names.add(inner)
        # Acronyms (NIST, OMB, CHIPS) name a document only when written as acronyms: "chips" is a word.
        acronyms = {a for a in _ACRONYM.findall(title) if a not in _NOT_ALIASES}
        acronyms |= {t.upper() for t in doc_id.split("-") if t.isalpha() and 3 <= len(t) <= 5
                     and t not in _COMMON_ID_WORDS}
        if "(artificial intelligence act)" in title.lower():
            names |= {"AI Act", "EU AI Act"}
        if "white paper" in title.lower():
            names.add("white paper")
        if len(title.split()) <= 8:
            names.add(title)
        # The file name says what the title may not ("us-wh-ai-diffusion-export-controls-fact-sheet"):
        # its word pairs with a distinctive word ("ai diffusion") name the document too.
        slug = [w for w in doc_id.lower().split("-") if w.isalpha()]
        names |= {f"{a} {b}" for a, b in zip(slug, slug[1:])
                  if (a not in _COMMON_ID_WORDS or b not in _COMMON_ID_WORDS) and not {a, b} & _SLUG_PREFIXES}
        out[doc_id] = {_norm(n).strip() for n in names if len(_norm(n).strip()) >= 3} | {f"={a}" for a in acronyms}
    # An alias shared by many documents (e.g. "NIST" cited everywhere) does not name one of them.
    counts: dict[str, int] = {}
    for names in out.values():
        for n in names:
            counts[n] = counts.get(n, 0) + 1
    out = {k: {n for n in v if counts[n] <= 2} for k, v in out.items()}
    index._aliases = out  # type: ignore[attr-defined]
    return out


def _mentions(name: str, question: str, normed: str) -> bool:
    if name.startswith("="):
        return re.search(rf"\b{re.escape(name[1:])}\b", question) is not None
    return f" {name} " in normed


def _named_by_alias(index: "Index", question: str) -> bool:
    q = _norm(question)
    return any(_mentions(n, question, q) for names in doc_aliases(index).values() for n in names)


def named_groups(index: "Index", question: str) -> list[tuple[str, list[str]]]:
    """The documents a question names, grouped by the name it uses, in the question's order:
    "EO 14110 and the EU AI Act" -> [("EO 14110", [the order, its fact sheet]), ("EU AI Act", [the Act])]."""
    q = _norm(question)
    aliases = doc_aliases(index)
    found: dict[frozenset[str], tuple[int, str]] = {}
    for name in sorted({n for names in aliases.values() for n in names}, key=len, reverse=True):
        if not _mentions(name, question, q):
            continue
        words = name.lstrip("=").split()
        m = re.search(r"\b" + r"[\s\-]+".join(re.escape(w) for w in words) + r"\b", question,
                      0 if name.startswith("=") else re.I)
        if m is None:
            continue  # matched only after normalising ("artificial intelligence" -> "ai"): no label to show
        ids = frozenset(d for d, names in aliases.items() if name in names)
        if ids in found or any(start <= m.start() < start + len(label) for start, label in found.values()):
            continue
        # The name as the reader wrote it: "EO 14110" (not "14110"), "NIST AI RMF" (not "NIST").
        before = re.search(r"(?:\b(?:EO|E\.O\.|Executive Order|OMB(?: [Mm]emo(?:randum)?)?)\s+)$", question[:m.start()])
        after = re.match(r"(?:\s+(?:[A-Z][A-Za-z0-9.\-]*|\d[\w.\-]*))*", question[m.end():])
        start = before.start() if before else m.start()
        found[ids] = (start, question[start:m.end() + (after.end() if after else 0)].rstrip(".,;:?"))
    return [(label, sorted(ids)) for ids, (_start, label) in sorted(found.items(), key=lambda kv: kv[1][0])]


def doc_mentions(index: "Index", question: str) -> list[str]:
    """Documents the question names ("the EU AI Act", "EO 14110") or describes ("Trump's January
    2025 AI executive order")."""
    q = _norm(question)
    named = [doc_id for doc_id, names in doc_aliases(index).items() if any(_mentions(n, question, q) for n in names)]
    return named or [doc_id for doc_id, _words in described_docs(index, question)]


_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_PERSON = re.compile(r"\bPresident\s+(?:[A-Z][a-z]+\s+[A-Z]\.\s+)?([A-Z][a-z]{2,})")  # "Joseph R. Biden", "Biden"
_KINDS = [  # (words in a question, test on a document's (title, doc_type))
    (r"fact ?sheet", lambda t, k: t.startswith("fact sheet")),
    (r"(?:executive )?order|\bEO\b", lambda t, k: k == "executive-order" and "memorandum" not in t and not t.startswith("fact sheet")),
    (r"memo(?:randum)?", lambda t, k: "memorandum" in t),
    (r"white paper", lambda t, k: "white paper" in t),
    (r"guidelines", lambda t, k: "guidelines" in t),
    (r"framework", lambda t, k: k == "framework"),
    (r"regulation|act\b", lambda t, k: k == "regulation"),
]
_TITLE_STOP = {"artificial", "intelligence", "executive", "order", "memorandum", "states", "united", "american",
               "america", "leadership", "advancing", "president", "national", "trustworthy", "development"}


_AI_TITLE = re.compile(r"\bAI\b|artificial intelligence", re.I)


def described_docs(index: "Index", question: str, min_score: int = 3) -> list[tuple[str, list[str]]]:
    """Documents a question describes by who issued them, when, and what kind they are.

    Users rarely say "EO 14179"; they say "Trump's January 2025 AI order". Each cue that fits a
    document's metadata scores; only a clear winner (or up to three tied) counts as named. Returns each with
    the question words that described it, so ``focus`` can drop them.
    """
    cached = getattr(index, "_title_words", None)
    if cached is None:
        counts: dict[str, int] = {}
        words_of = {}
        for doc_id, d in index.docs.items():
            title = str(d["meta"].get("title", ""))
            people = {w.lower() for m in _PERSON.finditer(title) for w in m.group(0).split()}
            ws = {w for w in re.findall(r"[a-z]{5,}", title.lower()) if w not in _TITLE_STOP and w not in _MONTHS
                  and w not in people}
            words_of[doc_id] = ws
            for w in ws:
                counts[w] = counts.get(w, 0) + 1
        cached = {k: {w for w in v if counts[w] <= 2} for k, v in words_of.items()}
        index._title_words = cached  # type: ignore[attr-defined]
    lower = question.lower()
    years = set(re.findall(r"\b(?:19|20)\d\d\b", question))
    months = {i + 1 for i, m in enumerate(_MONTHS) if re.search(rf"\b{m}\b", lower)}
    kinds = [(pat, test) for pat, test in _KINDS if re.search(rf"\b(?:{pat})", question, re.I)]
    asks_ai = bool(_AI_TITLE.search(question))
    scored = []
    for doc_id, d in index.docs.items():
        meta = d["meta"]
        title = str(meta.get("title", ""))
        date = str(meta.get("date", ""))
        score, words = 0, []
        for person in _PERSON.findall(f"{policy_issuer(meta)} {title}"):
            surname = person
            if re.search(rf"\b{surname}\b", question):
                score, words = score + 2, words + [surname + "'s", surname]
                # "Biden's AI order": of his orders, the ones about AI (not the CHIPS Act one).
                if asks_ai and _AI_TITLE.search(title):
                    score += 1
                break
        if years:
            score += 1 if date[:4] in years else -1
            words += [y for y in years if y == date[:4]]
        if months and len(date) >= 7:
            hit = int(date[5:7]) in months
            score += 1 if hit else -1
            words += [_MONTHS[int(date[5:7]) - 1]] if hit else []
        for pat, test in kinds:
            if test(title.lower(), str(meta.get("doc_type", ""))):
                score += 2 if "fact" in pat else 1
            else:
                score -= 2 if "fact" in pat else 1
        topic = [w for w in cached.get(doc_id, ()) if re.search(rf"\b{w}", lower)]
        score += min(len(topic), 2)
        if score >= min_score:
            scored.append((score, doc_id, words))
    if not scored:
        return []
    best = max(sc for sc, _d, _w in scored)
    top = [(doc_id, words) for sc, doc_id, words in scored if sc == best]
    return top if len(top) <= 3 else []


def focus(index: "Index", question: str) -> str:
    """The question without the names of the documents it asks about, plus the law's own words.

    Used to score sentences: once retrieval has found "the EU AI Act", the words "EU AI Act" only
    attract sentences that repeat the Act's title, not sentences that answer.
    """
    q = question
    for _doc, words in described_docs(index, question) if not _named_by_alias(index, question) else []:
        for w in sorted(words, key=len, reverse=True):
            q = re.sub(rf"\b{re.escape(w)}(?!\w)", " ", q, flags=re.I)
        q = re.sub(r"\b(executive order|order|fact sheet|memorandum|memo)\b", " ", q, flags=re.I)
    asked = {t.lower() for t in asked_terms(question)}  # "What does CHIPS stand for?" keeps "CHIPS"
    for doc_id in doc_mentions(index, question):
        for name in sorted(doc_aliases(index)[doc_id], key=len, reverse=True):
            if name.lstrip("=").lower() in asked:
                continue
            flags = 0 if name.startswith("=") else re.I
            pattern = r"\b" + r"[\s\-]+".join(re.escape(w) for w in name.lstrip("=").split()) + r"\b"
            q = re.sub(pattern, " ", q, flags=flags)
        q = re.sub(r"\b(artificial intelligence|the EU|the US|the UK|EU|U\.S\.|UK|executive order|EO)\b", " ", q, flags=re.I)
    extra = [h for w, h in _HINTS.items() if re.search(rf"\b{w}\b", question, re.I)]
    q = " ".join((q + " " + " ".join(extra)).split())
    return q if len(q.split()) >= 2 else question


# ------------------------------------------------------------------ definitions and status

def definition_ranking(index: "Index", question: str, mask: np.ndarray | None, named: list[str],
                       limit: int = 10) -> list[int]:
    """Passages that define the asked term: "‘deployer’ means", "the term “X” refers to", "X (HITL) refers to".

    Legal texts define terms in fixed forms; dense retrieval finds passages *about* a term, which in
    a regulation are many, while the definition itself is one line in Art. 3.
    """
    out: list[int] = []
    for term in asked_terms(question):
        forms = definition_forms(term)
        for doc_id, d in index.docs.items():
            if named and doc_id not in named:
                continue
            found = definitions_in(term, d["text"], forms)
            for offset in sorted(set(found)):
                pid = index.pid_at(doc_id, offset)
                if pid is not None and pid not in out and (mask is None or mask[pid]):
                    out.append(pid)
    return out[:limit]


def _status_ranking(index: "Index", named: list[str], mask: np.ndarray | None, limit: int = 10) -> list[int]:
    """Passages of *other* documents that mention a named one next to "revoked", "replaced", "revise"
    and the like: an order does not say it was revoked, the order that revoked it does."""
    ids = set()
    for doc_id in named:
        title = str(index.docs[doc_id]["meta"].get("title", ""))
        ids |= set(_ID.findall(title)) | {m for m in _ID.findall(doc_id.replace("m-", "M-")) if len(m) != 4}
    if not ids:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(i) for i in ids) + r")\b")
    out: list[int] = []
    seen: set[int] = set()  # a passage is judged by its first mention of the named document
    for doc_id, d in index.docs.items():
        if doc_id in named:
            continue
        for m in pattern.finditer(d["text"]):
            pid = index.pid_at(doc_id, m.start())
            if pid is None or pid in seen or (mask is not None and not mask[pid]):
                continue
            seen.add(pid)
            if STATUS_TEXT.search(d["text"][max(0, m.start() - 150):m.end() + 150]):
                out.append(pid)
    return out[:limit]

"""What policy readers need beyond a quote: source tiers, document status, as-of dates, and
question plans for comparisons across jurisdictions and multi-part questions.

Status comes from front matter (``status``, ``status_date``, ``superseded_by``) or, failing that,
from the provenance notes ("Revoked on 2025-01-20 by … (EO 14148)", "replaced it with M-25-21").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TIERS = {
    1: "binding law/regulation",
    2: "executive action",
    3: "official framework or report",
    4: "news or commentary",
}
_TIER_OF_TYPE = {
    "regulation": 1, "law": 1, "statute": 1, "directive": 1, "act": 1, "treaty": 1,
    "executive-order": 2, "memorandum": 2, "memo": 2, "proclamation": 2,
    "framework": 3, "report": 3, "guidelines": 3, "guidance": 3, "standard": 3, "white-paper": 3, "strategy": 3,
    "news": 4, "commentary": 4, "blog": 4, "op-ed": 4, "press-release": 4,
}


# Who "the White House" was on a date: a fact sheet's front matter names the office, a reader names
# the president ("the Biden administration's AI diffusion rule").
_US_PRESIDENTS = [("2009-01-20", "Barack H. Obama"), ("2017-01-20", "Donald J. Trump"),
                  ("2021-01-20", "Joseph R. Biden Jr."), ("2025-01-20", "Donald J. Trump")]


def issuer(meta: dict[str, Any]) -> str:
    """The issuer, with the sitting president when it is only "The White House"."""
    who = str(meta.get("issuer", ""))
    date = str(meta.get("date", ""))
    if "white house" not in who.lower() or "president" in who.lower() or len(date) < 10:
        return who
    sitting = [name for since, name in _US_PRESIDENTS if since <= date[:10]]
    return f"{who} (President {sitting[-1]})" if sitting else who


def tier(meta: dict[str, Any]) -> int:
    if str(meta.get("tier", "")).isdigit():
        return max(1, min(4, int(meta["tier"])))
    return _TIER_OF_TYPE.get(str(meta.get("doc_type", "")).lower(), 3)


def tier_label(meta: dict[str, Any]) -> str:
    return TIERS[tier(meta)]


@dataclass(frozen=True)
class Status:
    state: str  # "in force", "revoked", "superseded"
    date: str = ""
    by: str = ""

    def describe(self, title: str) -> str:
        if self.state == "in force":
            return f"{title} is in force."
        when = f" on {self.date}" if self.date else ""
        by = f" by {self.by}" if self.by else ""
        return f"{title} was {self.state}{when}{by}."


_REVOKED = re.compile(r"\b(revoked|rescinded)\b(?: on (\d{4}-\d{2}-\d{2}))?(?: by ([^.;]*?))?(?=[.;]|$)", re.I)
_REPLACED = re.compile(r"\b(?:replaced|superseded)\b (?:it |this )?(?:with|by) ([A-Z][\w.-]*(?:-\d+)*)(?: \(([^)]*)\))?", re.I)
_EO = re.compile(r"\((EO \d{5})\)")


def status(meta: dict[str, Any]) -> Status | None:
    if meta.get("status"):
        return Status(str(meta["status"]).lower(), str(meta.get("status_date", "")), str(meta.get("superseded_by", "")))
    notes = str(meta.get("notes", ""))
    m = _REVOKED.search(notes)
    if m and not re.search(r"refers to it as revoked", notes[: m.start() + 40][-60:]) or (m and m.group(2)):
        by = m.group(3) or ""
        eo = _EO.search(by)
        return Status("revoked", m.group(2) or "", eo.group(1) if eo else by.strip(" '\""))
    m = _REPLACED.search(notes)
    if m:
        return Status("superseded", _month(m.group(2) or ""), m.group(1))
    return None


def status_as_of(meta: dict[str, Any], as_of: str | None) -> Status | None:
    """The status a reader on ``as_of`` would have seen (a later revocation did not exist yet)."""
    st = status(meta)
    if st is None or not as_of or not st.date:
        return st
    return st if st.date[: len(as_of)] <= as_of else Status("in force")


_MONTHS = {m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                        "september", "october", "november", "december"], 1)}


def _month(text: str) -> str:
    """'April 2025' -> '2025-04' so dates compare as strings."""
    m = re.fullmatch(r"\s*([A-Za-z]+)\s+(\d{4})\s*", text)
    if m and m.group(1).lower() in _MONTHS:
        return f"{m.group(2)}-{_MONTHS[m.group(1).lower()]:02d}"
    return text.strip()


_AS_OF_Q = re.compile(r"\bas (?:of|at)\s+(?:the\s+)?(end of|mid-?|early|late)?\s*(?:(\d{1,2})\s+)?(?:([A-Z][a-z]+)\s+)?"
                      r"(?:(\d{1,2}),?\s+)?(\d{4})\b", re.I)


def without_as_of(question: str) -> str:
    """The question without its date restriction: "As of the end of 2022, which body …?" -> "Which body …?".

    The date becomes a filter; left in the text it pulls retrieval and sentence scoring towards
    passages that mention dates rather than ones that answer.
    """
    m = _AS_OF_Q.search(question)
    if not m:
        return question
    rest = (question[:m.start()] + question[m.end():]).strip(" ,;")
    rest = re.sub(r"\s+,", ",", " ".join(rest.split()))
    return rest[0].upper() + rest[1:] if len(rest.split()) >= 3 else question


def as_of_in(question: str) -> str | None:
    """'As of March 2025' -> '2025-03-31'; 'as of mid-2024' -> '2024-06-30'; 'as of the end of 2022' -> '2022-12-31'."""
    m = _AS_OF_Q.search(question)
    if not m:
        return None
    part, month, year = (m.group(1) or "").lower(), m.group(3), m.group(5)
    day = m.group(2) or m.group(4)
    if month and month.lower() in _MONTHS:
        mm = _MONTHS[month.lower()]
        dd = int(day) if day else [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mm - 1]
        return f"{year}-{mm:02d}-{dd:02d}"
    if part.startswith("mid"):
        return f"{year}-06-30"
    if part == "early":
        return f"{year}-03-31"
    return f"{year}-12-31"


# ------------------------------------------------------------------ question plans
JURISDICTIONS = {
    "United States": r"\b(?:the\s+)?(?:US|U\.S\.|USA|United States|America(?:n)?)\b",
    "European Union": r"\b(?:the\s+)?(?:EU|E\.U\.|European Union|Europe(?:an)?)\b",
    "United Kingdom": r"\b(?:the\s+)?(?:UK|U\.K\.|United Kingdom|Britain|British)\b",
    "China": r"\b(?:China|Chinese|Beijing)\b",
}
_COMPARE = re.compile(r"\b(compare|comparison|differ|difference|versus|vs\.?|each|respectively|treat|approach|define|"
                      r"regulate|handle|address|govern|rules?)\b", re.I)
_STATUS_Q = re.compile(r"\b(in force|in effect|still|revoked|rescinded|repealed|superseded|replaced|valid|current|"
                       r"status|withdrawn)\b", re.I)
# How a text says another one was ended or is to be changed ("revokes", "shall revise OMB M-24-10").
STATUS_TEXT = re.compile(r"\b(revok|rescind|supersed|replac|repeal|revis)\w*", re.I)


def asks_status(question: str) -> bool:
    return bool(_STATUS_Q.search(question))


_LATEST = re.compile(r"\b(latest|most recent|newest|current(?:ly)?|now|today|still)\b", re.I)
_SPLIT = re.compile(r"(?<=\?)\s+(?=\S)|[,;]?\s+\band\s+(?=(?:what|how|when|who|which|why|where|does|did|is|are|was)\b)",
                    re.I)


@dataclass
class SubQuestion:
    question: str
    filters: dict[str, Any] | None = None
    label: str = ""  # the jurisdiction (comparison) or the part's own text


@dataclass
class Plan:
    kind: str  # "single", "parts", "comparison"
    parts: list[SubQuestion] = field(default_factory=list)
    latest: bool = False
    by: str = "jurisdiction"  # what a comparison's rows are: "jurisdiction" or "document"


def jurisdictions_in(question: str) -> list[str]:
    return [name for name, pattern in JURISDICTIONS.items() if re.search(pattern, question)]


_BETWEEN = re.compile(r"\b(between|which of|versus|vs\.?|compare[sd]?|comparison|differ)\b", re.I)


def plan(question: str, filters: dict[str, Any] | None = None,
         documents: list[tuple[str, list[str]]] | None = None) -> Plan:
    """How to answer: as one question, part by part, or as a comparison table.

    ``documents`` are the documents the question names, grouped by the name used ("EO 14110" is the
    order and its fact sheet); two or more with a comparing word make a comparison by document.
    """
    latest = bool(_LATEST.search(question))
    question = without_as_of(question)  # the date is a filter (see Assistant.stream), not a topic
    found = jurisdictions_in(question)
    if len(found) >= 2 and _COMPARE.search(question):
        topic = question
        for name in found:
            topic = re.sub(JURISDICTIONS[name], " ", topic)
        topic = re.sub(r"\b(how do|how does|what do|what does|compare|comparison of|differ(?:ence)?s?|between|"
                       r"the|and|in|respectively|each)\b|[,?]", " ", topic, flags=re.I)
        topic = " ".join(topic.split())
        verb = topic.split()[0].lower() if topic else ""
        def sub(name: str) -> str:
            if verb in {"treat", "regulate", "approach", "define", "handle", "address", "govern", "say"}:
                return f"How does the {name} {topic}?"
            return f"What does the {name} say about {topic}?"
        parts = [SubQuestion(sub(name) if topic else question, {**(filters or {}), "jurisdiction": [name]}, name)
                 for name in found]
        return Plan("comparison", parts, latest)
    if documents and len(documents) >= 2 and (_BETWEEN.search(question) or _COMPARE.search(question)):
        # Each row is asked about its own document only: "What does the EU AI Act say about compute
        # thresholds for frontier models?" (the other document's name, and "Biden's", would make the
        # EU row look for a passage that names Biden).
        topic = question
        for label, _ids in documents:
            topic = re.sub(rf"(?:\b[A-Z][a-z]+['’]s\s+)?(?:the\s+)?{re.escape(label)}", " ", topic)
        topic = re.sub(r"\b(how do|how does|what do|what does|compare[sd]?|comparison of|differ(?:ence)?s?|between|"
                       r"versus|vs\.?|and|or|respectively|each|which of these|in|from)\b|[,?:;]", " ", topic, flags=re.I)
        topic = re.sub(r"^(?:(?:the|on|about|regarding|over)\s+)+|(?:\s+the)+$", "", " ".join(topic.split()), flags=re.I)
        parts = [SubQuestion(f"What does the {label} say about {topic}?" if len(topic.split()) >= 2 else question,
                             {**(filters or {}), "doc_id": ids}, label) for label, ids in documents]
        return Plan("comparison", parts, latest, by="document")
    pieces = [p.strip(" ,;") for p in _SPLIT.split(question) if p and len(p.split()) >= 3]
    if len(pieces) >= 2:
        pieces = [p if p.endswith("?") else p + "?" for p in pieces]
        pieces = [p[0].upper() + p[1:] for p in pieces]
        return Plan("parts", [SubQuestion(p, filters, p) for p in pieces], latest)
    return Plan("single", [SubQuestion(question, filters, question)], latest)

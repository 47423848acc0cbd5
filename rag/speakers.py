"""Who said it: direct quotations in news and reports, with their speaker and role.

Handles the forms reporters use — “…,” says Kyle Chan, an associate researcher at Rand Corp.;
“…,” Chan explains; Kyle Chan said: “…”; according to Kyle Chan, “…” — and resolves a surname
back to the full name introduced earlier in the same document, so a quote is never credited to
someone the document does not name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_Q = r"[\"“”]"
_NAME = r"((?:Dr\.|Prof\.|Mr\.|Ms\.|Mrs\.)?\s?[A-Z][\w'’-]+(?:\s+[A-Z]\.)?(?:\s+(?:de|van|von|da|al)?\s?[A-Z][\w'’-]+){0,3})"
_VERB = r"(?:says|said|explains|explained|adds|added|notes|noted|argues|argued|told|warns|warned|writes|wrote|according to)"
_AFTER = re.compile(_Q + r"(?P<q>[^\"“”]{12,}?)[,.!?]?" + _Q + r"[,]?\s+" + r"(?:" + _VERB + r"\s+" + _NAME
                    + r"|" + _NAME.replace("(", "(?P<n2>", 1).replace("(?P<n2>?:", "(?:", 1) + r"\s+" + _VERB + r")"
                    + r"(?P<role>,\s*(?:an?|the|who)\s[^.“”\"]*(?:\.[A-Z]?[^.“”\"\s][^.“”\"]*)*?)?(?=[.;\n]|$)")
_BEFORE = re.compile(r"(?:[Aa]ccording to\s+" + _NAME + r"|" + _NAME.replace("(", "(?P<n3>", 1).replace("(?P<n3>?:", "(?:", 1)
                     + r"\s+" + _VERB + r")[:,]?\s+" + _Q + r"(?P<q>[^\"“”]{12,}?)" + _Q)
_NOT_NAMES = {"The", "This", "That", "It", "He", "She", "They", "We", "I", "China", "Beijing", "Washington", "Chinese",
              "American", "Officials", "Experts", "Analysts", "Critics", "Sources", "Government"}


@dataclass(frozen=True)
class Quote:
    start: int  # span of the quotation including its marks
    end: int
    speaker: str
    role: str = ""


def _clean_name(name: str | None) -> str:
    return re.sub(r"\s+", " ", (name or "").strip())


def find_quotes(text: str) -> list[Quote]:
    found: list[tuple[int, int, str, str]] = []
    for m in _AFTER.finditer(text):
        name = _clean_name(m.group(2) or m.group("n2"))
        role = (m.group("role") or "").lstrip(", ").strip()
        if role and text[m.end("role"):m.end("role") + 1] == "." and role.split()[-1] in {"Corp", "Inc", "Ltd", "Co"}:
            role += "."
        found.append((m.start(), m.start("q") + len(m.group("q")) + 1, name, role))
    for m in _BEFORE.finditer(text):
        name = _clean_name(m.group(1) or m.group("n3"))
        found.append((m.start("q") - 1, m.end(), name, ""))
    return _resolve(found)


def _resolve(found: list[tuple[int, int, str, str]]) -> list[Quote]:
    """Map surnames to the full names given earlier; drop 'speakers' that are not people."""
    full: dict[str, tuple[str, str]] = {}
    out: list[Quote] = []
    for start, end, name, role in sorted(found):
        parts = name.split()
        if not parts or parts[0] in _NOT_NAMES:
            continue
        if len(parts) >= 2:
            full.setdefault(parts[-1], (name, role))
            if role:
                full[parts[-1]] = (name, role)
        elif parts[0] in full:
            name, role = full[parts[0]][0], role or full[parts[0]][1]
        else:
            continue  # a bare surname the document never introduces: not attributable
        out.append(Quote(start, end, name, role))
    return out


@lru_cache(maxsize=256)
def quotes_of(text: str) -> tuple[Quote, ...]:
    return tuple(find_quotes(text))


def speaker_at(text: str, start: int, end: int) -> Quote | None:
    """The quotation overlapping text[start:end], if the document attributes one there."""
    for q in quotes_of(text):
        if q.start < end and start < q.end:
            return q
    return None


def mentioned_speakers(question: str, text: str) -> list[str]:
    """Speakers of this document named in the question (full name or surname)."""
    names = {q.speaker for q in quotes_of(text)}
    return [n for n in names if n in question or re.search(rf"\b{re.escape(n.split()[-1])}\b", question)]

"""Who said it: direct quotations in news and reports, and signed forewords, with speaker and role.

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


_FOREWORD = re.compile(r"^[^\S\n]*(?:(?:Ministerial|Minister[’']s|Chair[’']s|President[’']s)[^\S\n]+)?(?:Foreword|Preface)[^\S\n]*$",
                       re.M | re.I)
_SIGNATURE = re.compile(r"^[^\S\n]*(?:The[^\S\n]+)?(?:Rt\.?[^\S\n]+Hon\.?[^\S\n]+)?(?P<name>[A-Z][a-z]+(?:[^\S\n]+[A-Z][a-z’'-]+){1,3})"
                        r"(?:[^\S\n]+(?:MP|MEP|CBE|OBE|KC|QC))?,?[^\S\n]*\n(?P<role>[^\n]{5,120})", re.M)
_SECTION_AFTER = re.compile(r"^[^\S\n]*(?:Executive summary|Contents|Introduction|Part One\b[^\n]*|Chapter 1\b[^\n]*)[^\S\n]*$",
                            re.M | re.I)


@lru_cache(maxsize=256)
def signed_sections(text: str) -> tuple[Quote, ...]:
    """Forewords signed by a named person: the whole section is theirs to quote.

    "Ministerial foreword / The Rt Hon Michelle Donelan MP, / Secretary of State for ..." opens the
    UK white paper; what follows, up to her closing signature (or the next part), is what she said.
    """
    out = []
    for head in _FOREWORD.finditer(text):
        sig = _SIGNATURE.search(text, head.end(), head.end() + 400)
        if not sig or sig.group("name").split()[0] in _NOT_NAMES:
            continue
        name, role = sig.group("name"), sig.group("role").strip().rstrip(",")
        closing = re.search(rf"^[^\n]*\b{re.escape(name)}\b[^\n]*$", text[sig.end():sig.end() + 30000], re.M | re.I)
        nxt = _SECTION_AFTER.search(text, sig.end(), sig.end() + 30000)
        end = sig.end() + closing.end() if closing else (nxt.start() if nxt else None)
        if end is not None:
            out.append(Quote(head.start(), end, name, role))
    return tuple(out)


def signature_span(text: str, section: Quote) -> tuple[int, int]:
    """The signature lines (name, then post) under a signed section's heading."""
    m = _SIGNATURE.search(text, section.start, section.start + 500)
    if not m:
        return section.start, section.start
    start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
    return start, m.start("role") + len(m.group("role").rstrip())


def speaker_at(text: str, start: int, end: int) -> Quote | None:
    """The quotation overlapping text[start:end], if the document attributes one there; else the
    signed foreword it sits in."""
    for q in quotes_of(text):
        if q.start < end and start < q.end:
            return q
    for q in signed_sections(text):
        if q.start <= start and end <= q.end:
            return q
    return None


def speakers_near(text: str, start: int, end: int) -> list[str]:
    """Everyone the document credits with words in text[start:end]: quotations and signed forewords."""
    return [q.speaker for q in quotes_of(text) + signed_sections(text) if q.start < end and start < q.end]


def mentioned_speakers(question: str, text: str) -> list[str]:
    """Speakers of this document named in the question (full name or surname)."""
    names = {q.speaker for q in quotes_of(text) + signed_sections(text)}
    return [n for n in names if n in question or re.search(rf"\b{re.escape(n.split()[-1])}\b", question)]

"""Definition questions: which term is asked about, and the sentences that define it.

Legal and policy texts define terms in a few fixed forms ("‘deployer’ means …", "the term “AI”
has the meaning …", "The AI RMF refers to an AI system as …", "HITL refers to …"). Retrieval uses
them to find the one defining line among the many passages that merely use a term; evidence
scoring uses them to quote that line rather than a sentence about the term.
"""

from __future__ import annotations

import re

_QUOTED_TERM = re.compile(r"(?<![\w])['‘\"“]([^'’\"”]{2,60}?)['’\"”](?![\w])")
_ASKED_TERM = [
    re.compile(r"\bdefin(?:e|es|ed|ition of)\s+(?:an?\s+|the\s+(?:term\s+)?)?([\w\- ]{2,50}?)"
               r"(?=\?|$|\s+(?:in|under|by|according|their|its|for|within|across|as|and)\b)", re.I),
    re.compile(r"\bwho counts as\s+(?:an?\s+|the\s+)?([\w\- ]{2,50}?)(?=\?|$|\s+(?:in|under|by|according)\b)", re.I),
    re.compile(r"\bwhat does\s+(?:the term\s+)?([\w\- ]{2,50}?)\s+mean\b", re.I),
    re.compile(r"\bwhat (?:is|are) (?:an?\s+|the\s+)?([\w\- ]{2,40}?)\s+(?:under|in|according to)\b", re.I),
]
_OPEN, _CLOSE = "['‘\"“]", "['’\"”]"
_VERB = r"(?:means|refers\s+to|is\s+defined\s+as|shall\s+mean|has\s+the\s+meaning)"


def asked_terms(question: str) -> list[str]:
    """The term(s) a definition question asks about: 'AI system' in "How does the Act define an 'AI system'?"."""
    terms = [t.strip() for t in _QUOTED_TERM.findall(question)]
    if not terms and re.search(r"\b(defin|mean|counts as|refers? to)", question, re.I):
        for pat in _ASKED_TERM:
            m = pat.search(question)
            if m:
                terms.append(m.group(1).strip())
                break
    return [t for t in terms if 2 <= len(t) <= 60]


def _term_pattern(term: str) -> str:
    words = [re.escape(w) for w in re.split(r"[\s\-]+", term) if w]
    return r"[\s\-]+".join(words) + r"s?"


def definition_forms(term: str) -> list[re.Pattern]:
    t = _term_pattern(term)
    alias = rf"(?:\s+or\s+{_OPEN}[^'’\"”]{{1,30}}{_CLOSE})?"  # “artificial intelligence” or “AI” has the meaning
    return [re.compile(p, re.I) for p in (
        rf"{_OPEN}{t}{_CLOSE}{alias}\s*,?\s*{_VERB}",
        rf"\bthe term\s+{_OPEN}?{t}\b",
        rf"\b(?:refers? to|defines?)\s+(?:an?\s+|the\s+)?{t}\s+as\b",
        rf"\b{t}(?:\s+\([A-Z]{{2,6}}\))?\s+{_VERB}\b",
    )]


def definitions_in(term: str, text: str, forms: list[re.Pattern] | None = None) -> list[int]:
    """Offsets in ``text`` where ``term`` is defined."""
    forms = forms or definition_forms(term)
    found = [m.start() for f in forms for m in f.finditer(text)]
    return sorted(set(found + _acronym_definitions(term, text, text)))


def _acronym_definitions(term: str, intro: str, text: str) -> list[int]:
    """Offsets in ``text`` defining an acronym that ``intro`` introduces for the term
    ("human-in-the-loop (HITL)" ... "HITL refers to")."""
    return [a.start() for m in re.finditer(rf"\b{_term_pattern(term)}\s+\(([A-Z]{{2,6}})\)", intro, re.I)
            for a in re.finditer(rf"\b{m.group(1)}\s+{_VERB}\b", text)]


def defines(terms: list[str], sentence: str, context: str = "") -> bool:
    """True when ``sentence`` defines one of ``terms``; ``context`` (its passage) may introduce
    the acronym the sentence defines it by."""
    return any(definitions_in(t, sentence) or _acronym_definitions(t, context, sentence) for t in terms)

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
    re.compile(r"\b(?i:what (?:does|do|is)\s+(?:the\s+)?(?:acronym\s+|abbreviation\s+)?)([A-Z][A-Za-z]{1,7})\s+"
               r"(?i:stand for|short for)\b"),
]
_OPEN, _CLOSE = "['‘\"“]", "['’\"”]"
_VERB = r"(?:means|refers\s+to|is\s+defined\s+as|shall\s+mean|has\s+the\s+meaning)"


def asked_terms(question: str) -> list[str]:
    """The term(s) a definition question asks about: 'AI system' in "How does the Act define an 'AI system'?"."""
    terms = [t.strip() for t in _QUOTED_TERM.findall(question)]
    if not terms and re.search(r"\b(defin|mean|counts as|refers? to|stands? for|short for)", question, re.I):
        for pat in _ASKED_TERM:
            m = pat.search(question)
            if m:
                terms.append(m.group(1).strip())
                break
    return [t for t in terms if 2 <= len(t) <= 60]


def _term_pattern(term: str) -> str:
    words = [re.escape(w) for w in re.split(r"[\s\-]+", term) if w]
    return r"[\s\-]+".join(words) + r"s?"


# Laws define the thing they regulate, not the field: asked what "artificial intelligence" is, the
# EU AI Act answers with "‘AI system’ means …".
_REGULATED_AS = {"artificial intelligence": ["AI system"], "ai": ["AI system"]}


def definition_forms(term: str) -> list[re.Pattern]:
    forms = _forms(term)
    for other in _REGULATED_AS.get(term.lower(), []):
        forms += _forms(other)
    return forms


def _forms(term: str) -> list[re.Pattern]:
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
    return sorted(set(found + _acronym_definitions(term, text, text) + expansions(term, text)))


_SMALL = {"of", "to", "for", "and", "the", "on", "in", "&"}


def expansions(acronym: str, text: str) -> list[int]:
    """Offsets in ``text`` where ``acronym`` is spelled out: "Creating Helpful Incentives to Produce
    Semiconductors (CHIPS)", "Chief AI Officer (CAIO)"."""
    if not re.fullmatch(r"[A-Z][A-Za-z]{1,7}", acronym) or sum(c.isupper() for c in acronym) < 2:
        return []
    out = []
    for m in re.finditer(rf"\(\s*{re.escape(acronym)}\s*\)", text):
        left = [w for w in re.finditer(r"[\w’'&-]+", text[max(0, m.start() - 200):m.start()])]
        rest = acronym.upper()
        start = None
        for w in reversed(left):
            word = w.group(0)
            if not rest:
                break
            if len(word) > 1 and word.isupper() and rest.endswith(word):
                rest = rest[: -len(word)]
            elif word[0].isupper() and word[0] == rest[-1]:
                rest = rest[:-1]
            elif word.lower() in _SMALL:
                continue
            else:
                break
            start = max(0, m.start() - 200) + w.start()
        if not rest and start is not None:
            out.append(start)
    return out


def _acronym_definitions(term: str, intro: str, text: str) -> list[int]:
    """Offsets in ``text`` defining an acronym that ``intro`` introduces for the term
    ("human-in-the-loop (HITL)" ... "HITL refers to")."""
    return [a.start() for m in re.finditer(rf"\b{_term_pattern(term)}\s+\(([A-Z]{{2,6}})\)", intro, re.I)
            for a in re.finditer(rf"\b{m.group(1)}\s+{_VERB}\b", text)]


def defines(terms: list[str], sentence: str, context: str = "") -> bool:
    """True when ``sentence`` defines one of ``terms``; ``context`` (its passage) may introduce
    the acronym the sentence defines it by."""
    return any(definitions_in(t, sentence) or _acronym_definitions(t, context, sentence) for t in terms)

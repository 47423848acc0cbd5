"""Questions as users type them: cleaned of invisible characters, bounded in size, and
follow-ups ("and what about the EU?") rewritten into standalone questions for retrieval."""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError


def clean_question(question: str, max_chars: int) -> str:
    if question is None or not str(question).strip():
        raise InputError("empty question: ask something, e.g. \"What does the EU AI Act ban?\"")
    if len(question) > max_chars:
        raise InputError(f"question is {len(question):,} characters, over the {max_chars:,} limit (RAG_MAX_QUESTION_CHARS)")
    # Control and bidi-override characters can hide text from the reader; drop them.
    cleaned = "".join(ch for ch in question if unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\n\t")
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise InputError("empty question after removing control characters")
    return cleaned


_FOLLOW = re.compile(r"^(and|what about|how about|what of|and what|same for|also|then|but)\b|\b(it|its|they|their|them|"
                     r"that|this|those|these|he|she|his|her)\b", re.I)
_JUR = re.compile(r"\b(the\s+)?(US|U\.S\.|United States|America|EU|European Union|Europe|UK|U\.K\.|United Kingdom|"
                  r"Britain|China)\b")


def rewrite(question: str, history: list[dict[str, str]]) -> str:
    """A standalone question for retrieval: follow-ups borrow the subject of the previous question."""
    previous = [h.get("content", "") for h in history if h.get("role") == "user" and h.get("content")]
    if not previous or not (_FOLLOW.search(question) or len(question.split()) <= 5):
        return question
    prev = previous[-1]
    new_j = _JUR.search(question)
    if new_j and _JUR.search(prev):
        return _JUR.sub(lambda m: (m.group(1) or "") + new_j.group(2), prev)
    person = _PERSON.findall(prev)
    if person and re.search(r"\b(he|she|him|his|her)\b", question, re.I):
        # "What else did he say about investing?" -> "What else did Kyle Chan say about investing?"
        name = person[-1]
        return re.sub(r"\b(he|she|him)\b", name, re.sub(r"\b(his|her)\b", f"{name}'s", question, flags=re.I), flags=re.I)
    names = [n for n in _NAMES.findall(prev) if n.split()[0] not in _WH]
    if len(question.split()) > 6 and names:
        # A full question with a dangling "and"/"it": borrow only the names it refers to.
        return f"{question.rstrip('?')} ({' '.join(dict.fromkeys(names))})?"
    terms = [t for t in re.findall(r"[A-Za-z0-9$][\w$.,-]*", prev) if t.lower() not in _STOP]
    return f"{question.rstrip('?')} ({' '.join(terms)})?"


_WH = {"What", "How", "Which", "Who", "Whom", "When", "Where", "Why", "Does", "Do", "Did", "Is", "Are", "Was", "Can"}
_PERSON = re.compile(r"\b([A-Z][a-z]+ [A-Z][a-z]+)\b(?=\s+(?:say|said|says|think|argue|explain|describe|of|at)\b|'s?\b)")
_NAMES = re.compile(r"\b((?:[A-Z][\w.-]*\d*[\w-]*)(?:\s+(?:[A-Z0-9][\w.-]*))*)\b")


_STOP = set("what which who whom how does do did is are was were the a an of in on to for and or about say says said "
            "tell me".split())

"""Sentence boundaries with exact character spans.

Used by the chunker (passages never cut a sentence), by the answerer (one verified claim per
sentence) and by the verifier. Punkt, from the NLTK data that llama-index ships, knows
abbreviations such as "Corp." and "U.S."; layout line breaks in PDF-derived text are treated as
spaces, but blank lines and heading-like lines end a sentence. PDF layout adds two more rules: a
numbered heading ("1.2.2 Risk Tolerance") and a running header at the top of a page ("NIST AI
100-1 AI RMF 1.0") are lines of their own, never the start of the sentence under them; and an
inline enumeration that wraps onto a new line ("… well-being and\n(7) accountability.") stays one
sentence.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

# Bullet glyphs of converted documents: "•", "-", "*", "▪", "◦" and the PDF symbol-font ones
# (U+F0A7, U+F0B7, U+F0D8, U+F0FC). The UK white paper's "o" bullets are matched on their own.
BULLETS = "[\u2022\\-\\*\u25aa\u25e6\uf0a7\uf0b7\uf0d8\uf0fc]"
_BLOCK = re.compile(
    r"(?:^|\n)[^\S\n]*---- Page \d+ ----[^\S\n]*$"  # a page marker line is never part of a sentence
    r"|\n[^\S\n]*\n+"  # blank line
    r"|\n(?=[^\S\n]*(?:---- Page \d+ ----|#{1,6} |(?:Article|ARTICLE) \d+[^\S\n]*\n|Sec\. \d+\."
    r"|(?:ANNEX|Annex) [IVXLC]+[^\S\n]*\n|\(\d{1,3}\) |\([a-z]\) |\([ivx]{1,5}\) |\([A-Z]\) "
    r"|" + BULLETS + r" |o (?=[A-Z\u2018\u201c'\"])|\d{1,2}\.(?:\d{1,2}\.)? ))",
    re.M,
)
_PAGE = re.compile(r"---- Page \d+ ----[^\S\n]*\n")
# "1.2.2 Risk Tolerance", "3.1 Scope": a numbered heading line with no sentence ending.
_HEADING = re.compile(r"^[^\S\n]*\d{1,2}(?:\.\d{1,2}){1,3}\.?[^\S\n]+[A-Z][^\n]{0,80}$", re.M)
_INLINE_ENUM = re.compile(r"\S[^\S\n]+\((?:\d{1,3}|[a-z]|[ivx]{1,5})\)[^\S\n]")
_LINE_ENUM = re.compile(r"[^\S\n]*\((?:\d{1,3}|[a-z]|[ivx]{1,5})\)[^\S\n]")
# Two list items of a few words each, without punctuation: the line after the second is not theirs.
_BULLET = r"(?:\((?:[ivx]{1,5}|[a-z]|\d{1,3})\)|o|" + BULLETS + ")"
_TERSE_ITEMS = re.compile(rf"^(?=[^\S\n]*{_BULLET}[^\S\n]+[^\n.;:]{{1,60}}\n"
                          rf"([^\S\n]*{_BULLET}[^\S\n]+[^\n.;:]{{1,60}}(?<!\band)(?<!\bor)(?<!,)$))", re.M)
_ENDS = re.compile(r"[.;:!?][\"”’)\]]*[^\S\n]*$")
_EXTRA_ABBREV = [
    "corp", "inc", "ltd", "co", "u.s", "u.k", "e.g", "i.e", "sec", "art", "no", "nos", "para",
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "fig", "approx", "dept",
    "gov", "p", "pp", "vol", "cf", "al", "ch", "subch", "pub", "l", "stat", "u.s.c", "c.f.r", "p.l",
]


@lru_cache(maxsize=1)
def _punkt():
    """English Punkt trained model from llama-index's bundled NLTK data (no download)."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    try:
        from nltk.tokenize import PunktTokenizer

        from llama_index.core.utils import get_cache_dir  # noqa: F401  (sets NLTK_DATA)
        import llama_index.core as lic

        import nltk

        nltk.data.path.insert(0, os.path.join(os.path.dirname(lic.__file__), "_static", "nltk_cache"))
        tok = PunktTokenizer("english")
    except Exception:  # pragma: no cover - fall back to an untrained model
        params = PunktParameters()
        params.abbrev_types = set(_EXTRA_ABBREV)
        return PunktSentenceTokenizer(params)
    tok._params.abbrev_types.update(_EXTRA_ABBREV)
    return tok


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of sentences in ``text[start:end]``, trimmed of surrounding whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    block_start = start
    for cut_start, cut_end in _cuts(text, start, end) + [(end, end)]:
        if cut_start > block_start:
            block = text[block_start:cut_start]
            for s, e in _punkt().span_tokenize(block):
                s2, e2 = _trim(text, block_start + s, block_start + e)
                if e2 > s2:
                    spans.append((s2, e2))
        block_start = max(block_start, cut_end)
    return spans


def _cuts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Where sentences must break in ``text[start:end]``, as (start, end) ranges to skip."""
    cuts = [(m.start(), m.end()) for m in _BLOCK.finditer(text, start, end) if not _wrapped_enumeration(text, m)]
    for m in _HEADING.finditer(text, start, end):
        if not _ENDS.search(m.group()) and len(m.group().split()) <= 12:
            cuts += [(m.start(), m.start()), (m.end(), m.end())]
    for m in _TERSE_ITEMS.finditer(text, start, end):
        cuts.append((m.end(1), m.end(1)))  # "(iii) Fairness\n(iv) Explicability\nMany of these ...": the list ends
    for m in _PAGE.finditer(text, start, end):
        # The first line of a page is a running header when it is short, capitalised and unfinished.
        line_end = text.find("\n", m.end(), end)
        line = text[m.end():line_end] if line_end >= 0 else ""
        if line.strip()[:1].isupper() and len(line.split()) <= 10 and not _ENDS.search(line):
            cuts.append((line_end, line_end))
    return sorted(cuts)


def _wrapped_enumeration(text: str, m: re.Match) -> bool:
    """A line break before "(7) accountability." inside "(1) …, (2) …, (6) … and\n(7) …" is layout."""
    if m.group() != "\n" or not _LINE_ENUM.match(text, m.end()):
        return False
    line = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
    return bool(_INLINE_ENUM.search(line)) and not _ENDS.search(line)


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e

"""Sentence boundaries with exact character spans.

Used by the chunker (passages never cut a sentence), by the answerer (one verified claim per
sentence) and by the verifier. Punkt, from the NLTK data that llama-index ships, knows
abbreviations such as "Corp." and "U.S."; layout line breaks in PDF-derived text are treated as
spaces, but blank lines and heading-like lines end a sentence.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

_BLOCK = re.compile(
    r"(?:^|\n)[^\S\n]*---- Page \d+ ----[^\S\n]*$"  # a page marker line is never part of a sentence
    r"|\n[^\S\n]*\n+"  # blank line
    r"|\n(?=[^\S\n]*(?:---- Page \d+ ----|#{1,6} |(?:Article|ARTICLE) \d+[^\S\n]*\n|Sec\. \d+\."
    r"|(?:ANNEX|Annex) [IVXLC]+[^\S\n]*\n|\(\d{1,3}\) |\([a-z]\) |\([ivx]{1,5}\) |\([A-Z]\) "
    r"|[\u2022\-\*] |\d{1,2}\.(?:\d{1,2}\.)? ))",
    re.M,
)
_EXTRA_ABBREV = [
    "corp", "inc", "ltd", "co", "u.s", "u.k", "e.g", "i.e", "sec", "art", "no", "nos", "para",
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "fig", "approx", "dept",
    "gov", "p", "pp", "vol", "cf", "al", "ch", "subch", "pub", "l", "stat", "u.s.c", "c.f.r",
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
    for m in list(_BLOCK.finditer(text, start, end)) + [None]:
        block_end = m.start() if m else end
        if block_end > block_start:
            block = text[block_start:block_end]
            for s, e in _punkt().span_tokenize(block):
                s2, e2 = _trim(text, block_start + s, block_start + e)
                if e2 > s2:
                    spans.append((s2, e2))
        if m:
            block_start = m.end()
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e

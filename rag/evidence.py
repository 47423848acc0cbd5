"""Evidence sentences: the exact sentences of retrieved passages, scored against the question.

Both answer modes start here. The extractive mode quotes the best of them; an LLM's sentences
are traced back to them. A sentence keeps absolute offsets into its document, so the quote a
citation shows is always an exact substring of the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .definitions import asked_terms, defines
from .lexical import tokenize
from .sentences import BULLETS, sentence_spans
from .types import Passage

# Words that say nothing about *which* passage answers: never required for coverage.
GENERIC = frozenset(tokenize(
    "ai artificial intelligence say says said tell describe explain according document documents source sources "
    "policy policies government law laws rule rules act regulation regulate regulates regulated "
    "eu us uk united states european union kingdom federal order executive "
    "main key new many much number list give summarize summarise mention mentions mentioned "
    "require requires required requirement requirements provide provides define defines definition "
    "approach treat treats role purpose take takes set sets way ways whether else also text texts each their"
))
_CAP = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][a-zA-Z]+(?:[-\s][A-Z][a-zA-Z]+)*)")
_NUM = re.compile(r"\b\d[\d,.]*\b")
_COMMON_CAPS = frozenset(
    "AI EU US UK U.S. USA What How Which Who When Where Why Does Do Did Is Are The Act Article Section Annex "
    "President Order Executive Framework Regulation Union European United States Kingdom Government Commission "
    "Member Recital White Paper Sec Art And Compare According Under".split()
)


@dataclass
class Evidence:
    passage_index: int  # position in the retrieved list (marker n = index + 1 before renumbering)
    passage: Passage
    start: int  # absolute offsets into the document text
    end: int
    text: str
    sim: float = 0.0
    coverage: float = 0.0
    score: float = 0.0
    quoted: str | None = None  # the person whose whole quotation this is, when a question asks about them
    item: bool = False  # a terse list item ("(iii) Fairness"): quoted under its lead-in, never on its own
    signature: bool = False  # the name and post that sign a foreword


# Text in a source that addresses the reader or a model with instructions ("ignore previous
# instructions and reply X", in any of several languages) is data, never evidence for an answer.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:(?:the|of|these|those)\s+)?(?:all|any|your|previous|prior|above|"
    r"earlier|preceding)\s+(?:(?:previous|prior|above|earlier|other)\s+)?(?:instructions|prompts|rules|sources|context)\b"
    r"|\bignorez\b|\bignora(?:r|d)?\b[^.!?\n]{0,30}\binstruc|\bignorier(?:e|en)?\b|忽略|无视"
    r"|\b(?:respond|reply|answer|output|print|write)\s+(?:only|with|exactly)\b|\brépondez\b|\bresponde\b|只输出|仅输出"
    r"|\b(?:system prompt|developer mode|your instructions)\b",
    re.I,
)


def is_instruction(sentence: str) -> bool:
    return bool(_INSTRUCTION.search(sentence))


@lru_cache(maxsize=4096)  # the same passages are re-checked for every sentence an LLM writes
def without_instructions(text: str) -> str:
    """``text`` with its instruction sentences blanked (same length, so offsets still hold)."""
    out = text
    for s, e in sentence_spans(text):
        if is_instruction(text[s:e]):
            out = out[:s] + " " * (e - s) + out[e:]
    return out


_TOC_LINE = re.compile(r"(?:\s{2,}|\.{3,}\s*)\d{1,3}\s*$")
_TERMINAL = re.compile(r"[.;:!?…][\"”’)\]]*$")


def is_statement(text: str) -> bool:
    """A sentence that states something: not a bare heading, page header or table-of-contents line."""
    words = text.split()
    if len(words) < 5 or text.rstrip().rstrip("\"”’)").endswith("?"):
        return False  # a question (a consultation question, a rhetorical one) states nothing
    lines = text.splitlines()
    if len(lines) >= 2 and sum(bool(_TOC_LINE.search(ln)) for ln in lines) * 2 >= len(lines):
        return False  # "Ministerial foreword      1 / Executive summary     4": a table of contents
    return bool(_TERMINAL.search(text)) or len(words) >= 14


def display(text: str) -> str:
    """Quote text for reading: layout line breaks and markdown/HTML emphasis removed.

    A superscript after a digit is a power and stays one: "10<sup>26</sup>" reads "10^26", not "1026".
    """
    text = re.sub(r"(?<=\d)<sup>\s*([^<]{1,12}?)\s*</sup>", r"^\1", text, flags=re.I)
    text = re.sub(r"</?(?:u|b|i|em|strong|sup|sub)>", "", text)
    text = re.sub(r"\*\*|__", "", text)
    return " ".join(text.split())


_TERSE_ITEM = re.compile(r"\s*(?:\((?:[a-z]|[ivx]{1,4}|\d{1,2})\)|\d{1,2}\.|" + BULLETS + r"|o(?=\s+[A-Z]))\s+\w")


def gather(passages: list[Passage]) -> list[Evidence]:
    out: list[Evidence] = []
    seen: set[tuple[str, int]] = set()
    for i, p in enumerate(passages):
        for s, e in sentence_spans(p.text):
            key = (p.doc_id, p.start + s)
            text = p.text[s:e]
            if key in seen or is_instruction(text):
                continue
            item = not is_statement(text)
            if item and not _TERSE_ITEM.match(text):
                continue
            seen.add(key)
            out.append(Evidence(i, p, p.start + s, p.start + e, text, item=item))
    return out


def content_terms(question: str) -> list[str]:
    return [t for t in dict.fromkeys(tokenize(question)) if t not in GENERIC]


_AS_OF = re.compile(r"\b(?:as of|as at|by|before|until)\s+(?:the\s+)?(?:end of\s+|mid-?\s*|early\s+|late\s+)?"
                    r"(?:\d{1,2}\s+)?(?:[A-Z][a-z]+\s+)?(?:\d{1,2},?\s+)?\d{4}\b", re.I)
_MONTH_NAMES = frozenset("January February March April May June July August September October November December".split())


def entities(question: str) -> list[str]:
    """Proper names and numbers in a question that any answer must be about.

    Month names are left out: "Trump's January 2025 order" dates the document, it is not a fact
    the passage must repeat (the year is checked against the document's date as well).
    """
    question = _AS_OF.sub(" ", question)  # "As of mid-2024, ..." dates the question; it is not a fact to find
    names = []
    for m in _CAP.finditer(question):
        words = [w for w in m.group(1).split() if w not in _COMMON_CAPS and w not in _MONTH_NAMES]
        if words and len(" ".join(words)) > 2:
            names.append(" ".join(words))
    return names + _NUM.findall(question)


def coverage(terms: list[str], text: str) -> float:
    if not terms:
        return 1.0
    have = set(tokenize(text))
    return sum(t in have for t in terms) / len(terms)


# What kind of thing a question asks for, and how a sentence that names one looks.
ANSWER_TYPE_BONUS = 0.15
ANSWER_TYPES = {
    "statute": (re.compile(r"\b(?:which|what|under what)\s+(?:statute|law|act|legislation|legal authority)\b", re.I),
                re.compile(r"\b(?!(?:The|This|That|Such|An?|Each)\b)[A-Z][\w-]*(?:\s+(?:[A-Z][\w-]*|of|and|for|on|the))*\s+Act(?:\s+of\s+\d{4})?\b"
                           r"|\bP(?:ub)?\.\s?L\.(?:\s?No\.)?\s?\d|\b\d+\s+U\.S\.C\.")),
    # "Is the NIST AI RMF mandatory?", "Will the UK put its principles into legislation?"
    "binding": (re.compile(r"\b(?:mandatory|compulsory|obligatory|binding|voluntary|required by law|legally required)\b"
                           r"|\b(?:into|in)\s+(?:legislation|law|statute)\b", re.I),
                re.compile(r"\b(?:voluntar(?:y|ily)|non-?binding|binding|mandatory|(?:non-)?statutory)\b", re.I)),
    "body": (re.compile(r"\b(?:which|what)\s+(?:department|agency|body|office|institute|authority|regulator|organi[sz]ation)\b",
                        re.I),
             re.compile(r"\b(?:Department|Secretary|Agency|Office|Institute|Board|Council|Commission|Authority|Bureau)"
                        r"\s+(?:of|for)\s+[A-Z]|\b(?:[A-Z][a-z]+\s+){1,4}(?:Institute|Agency|Office|Board|Council|Commission|Authority)\b")),
}


def score(question: str, evidence: list[Evidence], embedder) -> list[Evidence]:
    """Similarity to the question (embedding), coverage of its content words, and a final score."""
    if not evidence:
        return evidence
    vecs = embedder.encode([question] + [" ".join(e.text.split()) for e in evidence])
    sims = vecs[1:] @ vecs[0]
    terms = content_terms(question)
    terms_defined = asked_terms(question)
    asks_number = bool(re.search(r"\b(how (much|many|long|quickly|soon)|what (amount|share|percent)|when|which year|fine|"
                                 r"budget|threshold|deadline|cost|(above|below|over|under) what)\b", question, re.I))
    wants = [kind for kind, (asks, _has) in ANSWER_TYPES.items() if asks.search(question)]
    for e, sim in zip(evidence, sims):
        e.sim = float(sim)
        e.coverage = coverage(terms, e.text)
        bonus = 0.05 if asks_number and _NUM.search(e.text) else 0.0
        # "Which statute ...?" is answered by a sentence that names one ("... Initiative Act of 2020").
        bonus += ANSWER_TYPE_BONUS * any(ANSWER_TYPES[kind][1].search(e.text) for kind in wants)
        if terms_defined and defines(terms_defined, e.text, e.passage.text):
            bonus += 0.4  # the defining line ("‘deployer’ means ...") beats sentences that use the term
        # Retrieval rank carries document-level signals (BM25 on section + title) the sentence alone lacks.
        e.score = 0.55 * e.sim + 0.35 * e.coverage + bonus + 0.05 / (1 + e.passage_index)
    return sorted(evidence, key=lambda e: -e.score)


# A demonym in a question ("the Chinese state") is found by its country's name ("China", "Beijing").
_DEMONYMS = {"chinese": ("china", "beijing"), "american": ("america", "united states", "u.s.", " us "),
             "european": ("europe", " eu ", "union"), "british": ("britain", "united kingdom", " uk "),
             "japanese": ("japan",), "indian": ("india",), "russian": ("russia",), "french": ("france",),
             "german": ("germany",), "korean": ("korea",), "taiwanese": ("taiwan",)}


def missing_entities(question: str, texts: list[str]) -> list[str]:
    """Names/numbers of the question found in none of ``texts``.

    A name counts as found when each of its words is (after stemming: "Users" finds "User";
    "NIST AI RMF" finds a passage of "AI RMF 1.0, NIST AI 100-1").
    """
    blob = " ".join(texts).lower()
    blob_n = re.sub(r"[\s,]", "", blob)
    words = set(tokenize(blob))
    missing = []
    for n in entities(question):
        if n.lower() in blob or re.sub(r"[\s,]", "", n.lower()) in blob_n:
            continue
        if n.lower() in _DEMONYMS and any(c in f" {blob} " for c in _DEMONYMS[n.lower()]):
            continue
        toks = [t for t in tokenize(n) if t not in GENERIC] or tokenize(n)
        if toks and all(t in words for t in toks):
            continue
        missing.append(n)
    return missing


def best_span(passage: Passage, claim: str, embedder) -> tuple[int, int]:
    """The sentence (absolute offsets) of ``passage`` that best supports ``claim``."""
    spans = sentence_spans(passage.text) or [(0, len(passage.text))]
    texts = [passage.text[s:e] for s, e in spans]
    vecs = embedder.encode([claim] + texts)
    sims = vecs[1:] @ vecs[0]
    terms = set(tokenize(claim))
    lex = np.array([len(terms & set(tokenize(t))) / max(1, len(terms)) for t in texts])
    i = int(np.argmax(0.6 * sims + 0.4 * lex))
    s, e = spans[i]
    return passage.start + s, passage.start + e

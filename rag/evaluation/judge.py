"""The optional LLM-judge tier of the faithfulness scorer: claims out of the answer, each checked
against the context (the RAGAS faithfulness recipe).

Why a second tier: the learned scorer (``rag.faithfulness``) runs offline in milliseconds but sees
only lexical and embedding signals, so it misses a paraphrase that changes the meaning and flags a
faithful one. A competent LLM reads both. When one is configured (``rag eval faithfulness --judge``)
it (a) decomposes the answer into atomic claims and (b) gives each claim a verdict, SUPPORTED or
NOT SUPPORTED, against the context. Score = supported claims / claims; hallucinated = score below
the threshold (default 1.0: one unsupported claim flags the answer, as one annotated span makes a
RAGTruth response hallucinated).

Nothing the model returns is trusted. A reply with no usable claim list (or claims that are not in
the answer, e.g. a small model copying the prompt's example) falls back to the answer's sentences
as claims, and says so; a verdict that cannot be read is "unknown", counted as unsupported and
reported. Its agreement with human labels is measured by ``eval/faithfulness/judge_agreement.py``
(``eval/faithfulness/REPORT.md``, "Judge tier").
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import LLMError
from ..faithfulness import content_words, flatten_context, is_claim
from ..llm import Generator, Messages
from ..sentences import sentence_spans

SUPPORTED, NOT_SUPPORTED, UNKNOWN = "supported", "not supported", "unknown"

# ------------------------------------------------------------------------------------- prompts

DECOMPOSE_SYSTEM = "You split a text into atomic factual claims. You never add facts and never comment."
DECOMPOSE_INSTRUCTIONS = (
    "Split the answer below into short, self-contained claims: one fact per claim, each a full sentence "
    "that names its subject (no 'it', 'he', 'they'). Use the answer's own words and add nothing. "
    "Write one claim per line, each line starting with '- '. Write nothing else."
)
# One worked example, as a previous turn: small models copy it verbatim sometimes, which is why
# claims whose words are not in the answer are dropped (see ``parse_claims``).
EXAMPLE_ANSWER = ("The Riverside Library reopened in March after a two-year renovation. It now has a "
                  "rooftop garden and stays open until 9 pm.")
EXAMPLE_CLAIMS = ("- The Riverside Library reopened in March.\n- The Riverside Library reopened after a "
                  "two-year renovation.\n- The Riverside Library has a rooftop garden.\n- The Riverside "
                  "Library stays open until 9 pm.")

VERIFY_SYSTEM = "You check claims against a context. You judge only by the context, never by what you know."
VERIFY_RULE = (
    "A claim is SUPPORTED only if the context states it or it follows directly from the context. If the "
    "context contradicts the claim, or does not mention it, the claim is NOT SUPPORTED."
)
# The context comes before the claim so a llama.cpp model reuses the context's KV cache across claims.
VERIFY_ONE = "{rule}\n\nContext:\n\"\"\"\n{context}\n\"\"\"\n\nClaim: {claim}\n\nReply SUPPORTED or NOT SUPPORTED.\nVerdict:"
VERIFY_MANY = (
    "{rule}\n\nContext:\n\"\"\"\n{context}\n\"\"\"\n\nClaims:\n{claims}\n\n"
    "For each claim write one line: its number, then SUPPORTED or NOT SUPPORTED, then a short reason. "
    "For example:\n1. SUPPORTED - the context states it\n2. NOT SUPPORTED - the context does not mention it"
)

# --------------------------------------------------------------------------------- parsing claims

_FENCE = re.compile(r"```[a-zA-Z]*")
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u00b7\u2023\u25e6>]+\s*|\(?\d{1,3}\s*[.):]\s+|"
                     r"(?:claim|statement|fact)\s*\d{0,3}\s*[:.)\-]\s*)", re.I)
_HEADER = re.compile(r"^\W*(?:(?:sure|okay|ok|certainly|of\s+course)\b|(?:here|below)\s+(?:are|is)\b|(?:the\s+)?"
                     r"(?:atomic\s+|extracted\s+)?(?:claims|statements|facts)\s*(?:are\b|:|$)|(?:note|answer)\s*:)", re.I)
_CLAIM_KEYS = ("claim", "statement", "text", "fact", "sentence")


def _json_value(text: str) -> Any:
    """The first JSON array or object in ``text`` (code fences and chatter around it ignored), or None."""
    text = _FENCE.sub("", text)
    for opener, closer in (("[", "]"), ("{", "}")):
        start, end = text.find(opener), text.rfind(closer)
        if start != -1 and end > start:
            try:
                return json.loads(text[start:end + 1])
            except ValueError:
                continue
    return None


def _claims_from_json(value: Any) -> list[str] | None:
    if isinstance(value, dict):
        for key in ("claims", "statements", "facts", "sentences"):
            if isinstance(value.get(key), list):
                return _claims_from_json(value[key])
        return None
    if not isinstance(value, list):
        return None
    claims = []
    for item in value:
        if isinstance(item, str):
            claims.append(item)
        elif isinstance(item, dict):
            text = next((item[k] for k in _CLAIM_KEYS if isinstance(item.get(k), str)), None)
            if text is None:
                text = next((v for v in item.values() if isinstance(v, str)), None)
            if text is not None:
                claims.append(text)
    return claims


def _claims_from_lines(reply: str) -> list[str]:
    claims = []
    for line in _FENCE.sub("", reply).splitlines():
        line = _BULLET.sub("", line.strip()).strip().strip('",').strip()
        if not line or line in "[]{}":
            continue
        if line.endswith(":") or (_HEADER.match(line) and len(line.split()) <= 12):
            continue  # "Here are the claims:", "Claims:", "Sure! Here is the list."
        claims.append(line)
    return claims


def grounded(claim: str, answer_words: frozenset[str], min_share: float = 0.5) -> bool:
    """A claim taken from the answer reuses the answer's words; one that does not (the prompt's
    example, a comment, an invented fact) is not a decomposition of this answer."""
    words = set(content_words(claim))
    return len(words) >= 2 and len(words & answer_words) >= min_share * len(words)


def parse_claims(reply: str, answer: str, max_claims: int = 20) -> list[str]:
    """Claims from a decomposition reply: a JSON list (of strings or of {"claim": ...}) or one claim a
    line (bullets, numbers, "Claim 1:" prefixes stripped). Claims not drawn from ``answer`` are
    dropped, duplicates removed; an empty list means the reply was unusable."""
    found = _claims_from_json(_json_value(reply))
    if not found:
        found = _claims_from_lines(reply)
    answer_words = frozenset(content_words(answer))
    claims, seen = [], set()
    # A "claim" of several sentences (small models often echo the answer whole) is not atomic:
    # each of its sentences is checked on its own.
    pieces = [s for text in found for s in (sentence_claims(str(text)) or [str(text)])]
    for claim in pieces:
        claim = " ".join(claim.split())
        key = claim.lower().rstrip(".")
        if key in seen or not grounded(claim, answer_words):
            continue
        seen.add(key)
        claims.append(claim)
    return claims[:max_claims]


def coverage(claims: Sequence[str], answer: str) -> float:
    """Share of the answer's content words that appear in some claim."""
    words = set(content_words(answer))
    if not words:
        return 1.0
    return len(words & set(content_words(" ".join(claims)))) / len(words)


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers(text: str) -> set[str]:
    """The numbers in a text, thousands separators dropped ("1,500" and "1500" are one number)."""
    return {m.replace(",", "") for m in _NUMBER.findall(text)}


def sentence_claims(answer: str) -> list[str]:
    """The fallback decomposition: each answer sentence that claims something is one claim."""
    sentences = [answer[s:e] for s, e in sentence_spans(answer)]
    return [" ".join(s.split()) for s in sentences if is_claim(s) and s.strip()]


# ------------------------------------------------------------------------------- parsing verdicts

_LEAD = re.compile(r"^[\s*_#>`\"'\-]*(?:(?:final\s+)?(?:verdict|answer|judgement|judgment|label|result)\s*[:=\-]\s*)?"
                   r"[\s*_`\"']*", re.I)
_YES_NO = re.compile(r"(yes|true|correct|no|false|incorrect)\b", re.I)
_VERDICT = re.compile(
    r"\b(?P<neg>not[\s_-]+supported|unsupported|not[\s_-]+support(?:s|ed)?|(?:is|are|was)n[\u2019']?t\s+supported"
    r"|does\s+not\s+support|doesn[\u2019']?t\s+(?:support|mention|state)|no\s+(?:support|mention)|contradict(?:s|ed|ion)?"
    r"|not\s+(?:stated|state|mentioned|mention)"
    r"|not\s+in\s+the\s+context|cannot\s+be\s+(?:verified|confirmed))"
    r"|\b(?P<pos>supported|supports|entailed|confirmed)\b",
    re.I,
)
_VERDICT_KEYS = ("verdict", "supported", "label", "answer", "result", "judgement", "judgment")


def _verdict_value(value: Any) -> str:
    if isinstance(value, bool):
        return SUPPORTED if value else NOT_SUPPORTED
    if isinstance(value, (int, float)):
        return SUPPORTED if value == 1 else NOT_SUPPORTED if value == 0 else UNKNOWN
    if isinstance(value, str):
        return parse_verdict(value)[0]
    return UNKNOWN


def _verdict_from_json(item: Any) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return None
    for key in _VERDICT_KEYS:
        if key in item:
            return _verdict_value(item[key]), str(item.get("reason") or item.get("explanation") or "")
    return None


def parse_verdict(reply: str) -> tuple[str, str]:
    """(verdict, reason) from one claim's reply: SUPPORTED / NOT SUPPORTED wherever it first appears
    (also "unsupported", "does not support", "contradicts"), a leading yes/no, or a JSON object
    with a "verdict" (1/0, true/false, words). Anything else is "unknown"."""
    text = reply.strip()
    if text[:1] in "{`":
        found = _verdict_from_json(_json_value(text))
        if found:
            return found
    body = _LEAD.sub("", text, count=1)
    yes_no = _YES_NO.match(body)
    if yes_no:
        word = yes_no.group(1).lower()
        return (SUPPORTED if word in ("yes", "true", "correct") else NOT_SUPPORTED), _reason(body[yes_no.end():])
    m = _VERDICT.search(text)
    if not m:
        return UNKNOWN, ""
    return (NOT_SUPPORTED if m.group("neg") else SUPPORTED), _reason(text[m.end():])


def _reason(rest: str) -> str:
    return " ".join(rest.strip(" .,;:-\u2013\u2014*_\"'").split())[:200]


_NUMBERED = re.compile(r"(?im)^[\s*_#>\-]*(?:claim|statement)?\s*#?(\d{1,3})\s*[.):\-]")


def parse_verdicts(reply: str, claims: Sequence[str]) -> list[tuple[str, str]]:
    """One (verdict, reason) per claim from a reply that judged them all: a JSON list (RAGAS style,
    ``[{"statement", "reason", "verdict": 1|0}]``) or numbered lines ("2. NOT SUPPORTED - ..."). A claim
    the reply skips or garbles is "unknown"."""
    n = len(claims)
    out: list[tuple[str, str]] = [(UNKNOWN, "")] * n
    value = _json_value(reply) if "[" in reply or "{" in reply else None
    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, list)), None)
    if isinstance(value, list) and value:
        lowered = [c.lower().rstrip(".") for c in claims]
        for pos, item in enumerate(value):
            found = _verdict_from_json(item)
            if found is None:
                continue
            said = str(item.get("statement") or item.get("claim") or "").lower().rstrip(".")
            idx = lowered.index(said) if said in lowered else pos
            if idx < n and out[idx][0] == UNKNOWN:
                out[idx] = found
        if any(v != UNKNOWN for v, _ in out):
            return out
    marks = list(_NUMBERED.finditer(reply))
    if marks:
        for m, nxt in zip(marks, marks[1:] + [None]):
            idx = int(m.group(1)) - 1
            block = reply[m.end():nxt.start() if nxt else len(reply)]
            if 0 <= idx < n and out[idx][0] == UNKNOWN:
                claim = claims[idx].rstrip(".")
                if claim and claim.lower() in block.lower():  # an echoed claim is not a verdict
                    start = block.lower().index(claim.lower())
                    block = block[:start] + block[start + len(claim):]
                out[idx] = parse_verdict(block)
        return out
    lines = [ln for ln in reply.splitlines() if ln.strip()]
    verdicts = [parse_verdict(ln) for ln in lines]
    verdicts = [v for v in verdicts if v[0] != UNKNOWN]
    if len(verdicts) == n:  # unnumbered, but one verdict per claim, in order
        return verdicts
    return out


# ------------------------------------------------------------------------------------ the judge

@dataclass
class ClaimVerdict:
    claim: str
    verdict: str  # SUPPORTED, NOT_SUPPORTED or UNKNOWN (unreadable: counted as not supported)
    reason: str = ""

    @property
    def supported(self) -> bool:
        return self.verdict == SUPPORTED


@dataclass
class JudgeResult:
    score: float  # supported claims / claims (1.0 when the answer claims nothing)
    hallucinated: bool
    verdicts: list[ClaimVerdict]
    model: str
    decomposition: str  # "llm", or "sentences (<why the model's claims were not used>)"
    context_truncated: bool = False
    seconds: float = 0.0
    replies: list[str] = field(default_factory=list, repr=False)  # raw model output, for debugging

    @property
    def unsupported(self) -> list[str]:
        return [v.claim for v in self.verdicts if not v.supported]

    def judge_json(self) -> dict[str, Any]:
        unknown = [v.claim for v in self.verdicts if v.verdict == UNKNOWN]
        return {"claims": len(self.verdicts), "supported": sum(v.supported for v in self.verdicts),
                "unknown": len(unknown), "model": self.model, "decomposition": self.decomposition,
                "context_truncated": self.context_truncated,
                "verdicts": [{"claim": v.claim, "verdict": v.verdict, **({"reason": v.reason} if v.reason else {})}
                             for v in self.verdicts]}

    def to_json(self) -> dict[str, Any]:
        """The learned scorer's record shape, plus what the judge saw."""
        return {"score": round(self.score, 4), "hallucinated": self.hallucinated, "unsupported": self.unsupported,
                "judge": self.judge_json()}


class ClaimJudge:
    """Decompose-then-verify faithfulness judge over any ``rag.llm`` generator (LocalGGUF, OpenAICompatible).

    ``per_claim``: one request per claim (a short, easily read reply; what small local models manage)
    or one request for all claims (fewer tokens; default for endpoints). ``None`` picks per claim for
    small local models (those the answerer also gives short prompts).
    """

    def __init__(self, generator: Generator, threshold: float = 1.0, per_claim: bool | None = None,
                 max_claims: int = 20, max_context_chars: int | None = None, min_coverage: float = 0.5,
                 max_tokens: int = 1024):
        self.generator = generator
        self.max_tokens = max_tokens  # cap on any one reply (the claim list, or all verdicts at once)
        self.threshold = threshold
        small = tuple(getattr(generator, "prompt_passages", (6, 1400)))[0] <= 3
        self.per_claim = small if per_claim is None else per_claim
        self.max_claims = max_claims
        n_ctx = getattr(generator, "n_ctx", None)
        # about 3 characters a token, leaving room for the instructions, the claims and the reply
        self.max_context_chars = max_context_chars or (max(2000, 3 * int(n_ctx) - 3000) if n_ctx else 48000)
        self.min_coverage = min_coverage

    @property
    def model(self) -> str:
        return self.generator.name

    def _ask(self, messages: Messages, max_tokens: int, replies: list[str]) -> str:
        reply = "".join(self.generator.stream(messages, max_tokens=max_tokens))
        replies.append(reply)
        return reply

    def decompose(self, answer: str, question: str | None = None,
                  replies: list[str] | None = None) -> tuple[list[str], str]:
        """(claims, how): the model's claims, or the answer's sentences when its reply is unusable."""
        replies = [] if replies is None else replies
        fallback = sentence_claims(answer)
        if not fallback:
            return [], "sentences (the answer claims nothing)"
        asked = (f"Question: {question.strip()}\n\n" if question and question.strip() else "")
        messages: Messages = [
            {"role": "system", "content": DECOMPOSE_SYSTEM},
            {"role": "user", "content": f"{DECOMPOSE_INSTRUCTIONS}\n\nAnswer:\n\"\"\"\n{EXAMPLE_ANSWER}\n\"\"\""},
            {"role": "assistant", "content": EXAMPLE_CLAIMS},
            {"role": "user", "content": f"{DECOMPOSE_INSTRUCTIONS}\n\n{asked}Answer:\n\"\"\"\n{answer.strip()}\n\"\"\""},
        ]
        budget = min(self.max_tokens, max(128, len(answer) // 3 + 64))  # claims restate the answer: about its length
        claims = parse_claims(self._ask(messages, budget, replies), answer, self.max_claims)
        if not claims:
            return fallback[:self.max_claims], "sentences (no usable claim list in the model's reply)"
        covered = coverage(claims, answer)
        if covered < self.min_coverage:
            return fallback[:self.max_claims], f"sentences (the model's claims covered {covered:.0%} of the answer)"
        dropped = sorted(numbers(answer) - numbers(" ".join(claims)))
        if dropped:  # numbers and dates are where answers go wrong most: a claim list without them misleads
            return fallback[:self.max_claims], f"sentences (the model's claims dropped {', '.join(dropped[:3])})"
        return claims, "llm"

    def context_text(self, context: Any) -> tuple[str, bool]:
        text = "\n\n".join(flatten_context(context)).strip()
        if len(text) <= self.max_context_chars:
            return text, False
        cut = text.rfind(" ", 0, self.max_context_chars)
        return text[:cut if cut > 0 else self.max_context_chars] + " [...]", True

    def verify(self, context: str, claims: Sequence[str], replies: list[str] | None = None) -> list[ClaimVerdict]:
        replies = [] if replies is None else replies
        if not claims:
            return []
        system = {"role": "system", "content": VERIFY_SYSTEM}
        if self.per_claim:
            out = []
            for claim in claims:
                prompt = VERIFY_ONE.format(rule=VERIFY_RULE, context=context, claim=claim)
                reply = self._ask([system, {"role": "user", "content": prompt}], min(self.max_tokens, 8), replies)
                verdict, reason = parse_verdict(reply)
                out.append(ClaimVerdict(claim, verdict, reason))
            return out
        numbered = "\n".join(f"{i}. {c}" for i, c in enumerate(claims, 1))
        prompt = VERIFY_MANY.format(rule=VERIFY_RULE, context=context, claims=numbered)
        reply = self._ask([system, {"role": "user", "content": prompt}], min(self.max_tokens, 40 + 40 * len(claims)),
                          replies)
        return [ClaimVerdict(c, v, r) for c, (v, r) in zip(claims, parse_verdicts(reply, claims))]

    def judge(self, context: Any, answer: str, question: str | None = None) -> JudgeResult:
        """Claims of ``answer`` checked against ``context`` (a string, passages or structured data).
        Raises ``LLMError`` when the model cannot be reached (after the generator's bounded retries)."""
        t0 = time.perf_counter()
        replies: list[str] = []
        claims, how = self.decompose(answer, question, replies)
        text, truncated = self.context_text(context)
        verdicts = self.verify(text, claims, replies)
        return self._result(verdicts, how, truncated, time.perf_counter() - t0, replies)

    def _result(self, verdicts: list[ClaimVerdict], how: str, truncated: bool, seconds: float,
                replies: list[str]) -> JudgeResult:
        score = sum(v.supported for v in verdicts) / len(verdicts) if verdicts else 1.0
        return JudgeResult(score, score < self.threshold, verdicts, self.model, how, truncated, seconds, replies)

    def judge_many(self, items: Sequence[tuple[Any, str, str | None]],
                   progress: Callable[[str, int, int], None] | None = None) -> list[JudgeResult | LLMError]:
        """``judge`` for many (context, answer, question) items: every answer is decomposed first, then
        the claims are verified grouped by context, so a llama.cpp model reads each context once
        (its KV cache is reused by every later prompt that starts the same way) instead of once per
        answer. An item the model could not judge gets its ``LLMError`` in place of a result."""
        done: list[JudgeResult | LLMError | None] = [None] * len(items)
        decomposed: dict[int, tuple[list[str], str, float, list[str]]] = {}
        for i, (_, answer, question) in enumerate(items):
            t0, replies = time.perf_counter(), []
            try:
                claims, how = self.decompose(answer, question, replies)
                decomposed[i] = (claims, how, time.perf_counter() - t0, replies)
            except LLMError as e:
                done[i] = e
            if progress:
                progress("decompose", i + 1, len(items))
        texts = {i: self.context_text(items[i][0]) for i in decomposed}
        for n, i in enumerate(sorted(decomposed, key=lambda i: (texts[i][0], i)), 1):
            claims, how, seconds, replies = decomposed[i]
            t0 = time.perf_counter()
            try:
                verdicts = self.verify(texts[i][0], claims, replies)
                done[i] = self._result(verdicts, how, texts[i][1], seconds + time.perf_counter() - t0, replies)
            except LLMError as e:
                done[i] = e
            if progress:
                progress("verify", n, len(decomposed))
        return [d if d is not None else LLMError("not judged") for d in done]


# --------------------------------------------------------------------------- records and combination

COMBINE_RULES = ("and", "or")


def combine(learned: dict[str, Any], judged: dict[str, Any], rule: str = "and") -> dict[str, Any]:
    """One verdict from both tiers, both kept in the record.

    ``and``: hallucinated only when the learned scorer AND the judge flag the answer (the judge
    confirms the fast scorer's flags, cutting its false alarms). ``or``: either flag suffices (an
    answer passes only if both pass). Score: the mean of the two faithfulness scores.
    """
    if rule not in COMBINE_RULES:
        raise ValueError(f"unknown combination rule {rule!r}: use and or or")
    flags = (learned["hallucinated"], judged["hallucinated"])
    hallucinated = all(flags) if rule == "and" else any(flags)
    unsupported = list(dict.fromkeys([*learned["unsupported"], *judged["unsupported"]])) if hallucinated else []
    return {"score": round((learned["score"] + judged["score"]) / 2, 4), "hallucinated": hallucinated,
            "unsupported": unsupported, "combine": rule,
            "learned": {k: learned[k] for k in ("score", "hallucinated", "unsupported")},
            "judge": {**{k: judged[k] for k in ("score", "hallucinated", "unsupported")}, **judged["judge"]}}


def judge_records(records: Iterable[dict[str, Any]], judge: ClaimJudge, combine_rule: str | None = None,
                  scorer: Any = None) -> Iterator[dict[str, Any]]:
    """``{"id", "question"?, "context", "answer"}`` in; the judge's record out (or, with ``combine_rule``,
    the combined record with both tiers). A record the model could not judge comes out as
    ``{"id", "error"}`` (plus the learned scorer's fields when combining) and the run goes on."""
    if combine_rule is not None:
        from ..faithfulness import default_scorer

        scorer = scorer or default_scorer()
    for i, rec in enumerate(records):
        answer, context, question = str(rec.get("answer") or ""), rec.get("context") or "", rec.get("question")
        learned = scorer.score(answer, context, question).to_json() if combine_rule is not None else None
        try:
            judged = judge.judge(context, answer, question).to_json()
        except LLMError as e:
            yield {"id": rec.get("id", i), "error": f"judge failed: {e}", **({"learned": learned} if learned else {})}
            continue
        yield {"id": rec.get("id", i), **(combine(learned, judged, combine_rule) if learned else judged)}

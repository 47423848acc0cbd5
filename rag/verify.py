"""Fast, explainable checks that an answer sentence says nothing its evidence does not.

Two layers, both offline and cheap:

* Hard facts. Numbers, money, percentages, dates, legal references (Article 5(1), Sec. 4.2(b),
  Annex III) and names are the claims that hurt most when wrong and that embeddings notice least
  ("$10 billion" and "$100 billion" embed almost identically). A claim fact absent from the
  evidence makes a sentence unsupported, whatever its similarity.
* Soft support. Semantic similarity and word overlap, combined by the calibrated model that
  ``rag.faithfulness`` trains on RAGTruth, so the answerer and the eval harness share one verdict.

Everything is compared after ``normalise``, which removes the surface differences that PDF
extraction, news styles and LLMs introduce ("$ 100 billion", "10<sup>26</sup>", "per cent").
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Iterable, Sequence

from .types import SentenceCheck

# --------------------------------------------------------------------------- normalisation

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_PUNCT = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u200b": "", "\u00ad": "", "\ufeff": "",
})
_NORMAL_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(\d)\s*(?:\^|\*\*)\s*(-?\d)"), r"\1^\2"),  # 10 ^ 26, 10**26 -> 10^26
    (re.compile(r"\b(?:US\s?\$|USD\s*(?=\d))"), "$"),
    (re.compile(r"\bEUR\s*(?=\d)"), "€"),
    (re.compile(r"\bGBP\s*(?=\d)"), "£"),
    (re.compile(r"([$€£¥])\s+(?=\d)"), r"\1"),  # "$ 100" -> "$100"
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),  # 1,000,000 -> 1000000
]
_SPACED_THOUSANDS = re.compile(r"(?<![\d.])(?:(?<=[$€£¥])\d{1,3}(?: \d{3})+|\d{1,3}(?: \d{3}){2,})(?![\d.])")
_NORMAL_RULES_2: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(\d)\s*(?:per\s?cent|percent|pct\b)", re.I), r"\1%"),
    (re.compile(r"(\d)\s+%"), r"\1%"),
    (re.compile(r"(?<=[A-Za-z]) -(?=[a-z])"), "-"),  # "high -tech" (machine translation) -> "high-tech"
    (re.compile(r"[^\S\n]+"), " "),
    (re.compile(r" ?\n ?"), "\n"),
]


def normalise(text: str) -> str:
    """One spelling for things written many ways, case preserved (the metrics lower-case it).

    Superscripts become ``^`` powers before NFKC would flatten "10²⁶" into "1026".
    """
    t = re.sub(r"<sup>\s*([^<]*?)\s*</sup>", r"^\1", text or "", flags=re.I)
    # Emphasis is layout, not content: "**$500** **million**" is "$500 million".
    t = re.sub(r"\*\*|__|</?(?:u|b|i|em|strong)>", "", t, flags=re.I)
    t = re.sub(r"(?<=\d)([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)", lambda m: "^" + m.group(1).translate(_SUPERSCRIPT), t)
    t = unicodedata.normalize("NFKC", t.translate(_PUNCT)).translate(_PUNCT)
    for pattern, repl in _NORMAL_RULES:
        t = pattern.sub(repl, t)
    t = _SPACED_THOUSANDS.sub(lambda m: m.group(0).replace(" ", ""), t)  # EU style: EUR 35 000 000
    for pattern, repl in _NORMAL_RULES_2:
        t = pattern.sub(repl, t)
    return t.strip()


# --------------------------------------------------------------------------- facts

_SCALE = {"thousand": 10**3, "k": 10**3, "million": 10**6, "mn": 10**6, "m": 10**6, "billion": 10**9,
          "bn": 10**9, "b": 10**9, "trillion": 10**12, "tn": 10**12, "hundred": 100}
_CURRENCY_WORD = {"dollars": "$", "dollar": "$", "usd": "$", "euros": "€", "euro": "€", "eur": "€",
                  "pounds": "£", "gbp": "£", "yuan": "¥", "rmb": "¥", "yen": "¥"}
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                            "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
                                            .split())}
_NUM = r"\d+(?:\.\d+)?"
_SCALES = r"trillion|billion|million|thousand|bn|mn|tn|[mbk]"
_MONEY = re.compile(rf"([$€£¥])({_NUM})(?:\s*({_SCALES})\b)?"
                    rf"|\b({_NUM})(?:\s*(trillion|billion|million|thousand))?\s*"
                    r"(dollars?|usd|euros?|eur|pounds|gbp|yuan|rmb)\b", re.I)
_PERCENT = re.compile(rf"(?<![\w.])({_NUM})%")
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{1,2}))?\s*([ap])\.?m\b\.?|\b(\d{1,2}):(\d{1,2})\b", re.I)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_LEGAL = re.compile(
    r"(?P<kind>\b(?:Articles?|Arts?\.|Sections?|Secs?\.|Annex(?:es)?|Chapters?|Recitals?|Paragraphs?|Para\.|Titles?"
    r"|Parts?)|§§?)"
    r"\s*(?P<num>\d+(?:\.\d+)*[a-z]?|[IVXLC]+\b)(?P<sub>(?:\s?\(\s?[0-9a-zA-Z]{1,5}\s?\))*)",
)
_LEGAL_KIND = {"art": "article", "sec": "section", "": "section", "para": "paragraph", "annexe": "annex"}
_POWER = re.compile(r"\b(\d+)\^(-?\d+)")
_NUMBER = re.compile(rf"(?<![\w.^/])(?<![A-Za-z]-)({_NUM})(?:\s+(trillion|billion|million|thousand|hundred)\b)?"
                     r"(?![\w^])")
_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,}|\b[A-Z][A-Z0-9&]*[A-Z](?:-\d+)?\b|\b[A-Z]{2,}\d+\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9&'.-]*[A-Za-z0-9]|[A-Za-z]")
_CONNECT = {"of", "for", "and", "the", "de", "del", "von", "van", "la", "&"}
# Capitalised only because they open a sentence: never the first word of a name.
_COMMON = set("""a an the this that these those it its in on at by for from to of with as and but or so if when
while since after before during however also although though there here our we you they he she his her their
my your i what which who whom where why how all some many most more each every both other another such no not
one two three four five six seven eight nine ten first second third finally overall additionally furthermore
moreover meanwhile then thus therefore yes according based under over about into than sure here's it's
note please summary unlike despite because following including like given today yesterday recently currently now
instead still even only just again indeed similarly specifically notably importantly ultimately initially later
earlier previously together within without across between among against through toward towards upon via around
amid nevertheless nonetheless hence accordingly consequently besides otherwise whereas unless until once
any several few""".split())
_CALENDAR = set(_MONTHS + _DAYS)
_ROMAN_ONLY = re.compile(r"^(?=[IVXLC])C{0,3}(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})$")


def _decimal(num: str, scale: str | None = None) -> Decimal | None:
    try:
        value = Decimal(num)
    except InvalidOperation:
        return None
    if scale:
        value *= _SCALE.get(scale.lower(), 1)
    return value


def _render(value: Decimal) -> str:
    """Canonical text for a quantity: 1e11 -> "100 billion", 4.0 -> "4", 0.50 -> "0.5"."""
    for word in ("trillion", "billion", "million"):
        unit = _SCALE[word]
        if abs(value) >= unit:
            return f"{_plain(value / unit)} {word}"
    return _plain(value)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _mask(text: str, m: re.Match[str]) -> str:
    return text[: m.start()] + " " * (m.end() - m.start()) + text[m.end():]


def _sentence_starts(text: str) -> set[int]:
    starts = {0}
    for m in re.finditer(r"(?:[.!?:;]['\")\]]*\s+|\n\s*|^\s*)(?:[\"'(\[]\s*)?(?=\S)", text):
        starts.add(m.end())
    return starts


def _entities(text: str) -> set[str]:
    """Multi-word capitalised names not explained by sentence starts, and acronyms."""
    found: set[str] = set()
    letters = [c for c in text if c.isalpha()]
    shouting = bool(letters) and sum(c.isupper() for c in letters) > 0.6 * len(letters)
    if not shouting:
        for m in _ACRONYM.finditer(text):
            token = m.group(0).replace(".", "")
            if len(token) >= 2 and not _ROMAN_ONLY.match(token):
                found.add(token)
    starts = _sentence_starts(text)
    run: list[tuple[str, int]] = []

    def close() -> None:
        while run and run[-1][0].lower() in _CONNECT:
            run.pop()
        if run and run[0][1] in starts and run[0][0].lower() in _COMMON:
            run.pop(0)
        names = [w for w, _ in run if w.lower() not in _CONNECT]
        if len(names) >= 2 and not shouting and not all(w.isupper() or w.lower().rstrip("s") in _CALENDAR
                                                        for w in names):
            found.add(" ".join(w for w, _ in run).rstrip("."))
        run.clear()

    prev_end = 0
    for m in _WORD.finditer(text):
        word = m.group(0).removesuffix("'s")
        if run and text[prev_end:m.start()].strip() not in ("", "&"):
            close()
        if word[0].isupper() or (run and word.lower() in _CONNECT):
            run.append((word, m.start()))
        else:
            close()
        prev_end = m.end()
    close()
    return found


def _facts(text: str, generous: bool = False) -> dict[str, set[str]]:
    """Facts by kind. ``generous`` (evidence side) adds the forms a claim may legitimately use:
    bare numbers inside money and references, number words, and month names of ISO dates."""
    t = normalise(text)
    out: dict[str, set[str]] = {"number": set(), "ref": set(), "entity": set()}
    nums = out["number"]
    for m in _MONEY.finditer(t):
        if m.group(1):
            value, sym = _decimal(m.group(2), m.group(3)), m.group(1)
        else:
            value, sym = _decimal(m.group(4), m.group(5)), _CURRENCY_WORD[m.group(6).lower()]
        if value is not None:
            nums.add(f"{sym}{_render(value)}")
            if generous:
                nums.update({_render(value), _plain(Decimal(m.group(2) or m.group(4)))})
        t = _mask(t, m)
    for m in _PERCENT.finditer(t):
        nums.add(f"{_plain(Decimal(m.group(1)))}%")
        if generous:
            nums.add(_plain(Decimal(m.group(1))))
        t = _mask(t, m)
    for m in _ISO_DATE.finditer(t):
        year, month, day = (int(x) for x in m.groups())
        nums.add(str(year))
        if generous:
            nums.update({str(month), str(day)} | ({_MONTHS[month - 1]} if 1 <= month <= 12 else set()))
        t = _mask(t, m)
    for m in _TIME.finditer(t):
        if m.group(3):
            hour = int(m.group(1)) % 12 + (12 if m.group(3).lower() == "p" else 0)
            minute = int(m.group(2) or 0)
        else:
            hour, minute = int(m.group(4)), int(m.group(5))
        nums.add(f"{hour}:{minute:02d}")
        if generous:
            nums.update({str(hour), str(hour % 12 or 12)})
        t = _mask(t, m)
    for m in _LEGAL.finditer(t):
        kind = m.group("kind").lower().rstrip(".s").rstrip("§")
        kind = _LEGAL_KIND.get(kind, kind)
        number = m.group("num")
        if kind in ("title", "part") and not (number.isdigit() or _ROMAN_ONLY.match(number)):
            continue
        sub = re.sub(r"\s", "", m.group("sub") or "").lower()
        out["ref"].add(f"{kind} {number.lower()}{sub}")
        if generous:
            nums.update(_plain(Decimal(x)) for x in re.findall(r"\d+", number + sub))
        t = _mask(t, m)
    for m in _POWER.finditer(t):
        nums.add(f"{int(m.group(1))}^{int(m.group(2))}")
        if generous:  # PDFs lose superscripts: "10^25" is printed "1025"
            nums.add(m.group(1) + m.group(2).lstrip("-"))
        t = _mask(t, m)
    for m in _NUMBER.finditer(t):
        value = _decimal(m.group(1), m.group(2))
        if value is not None:
            nums.add(_render(value))
    for name in _MONTHS + _DAYS:
        if re.search(rf"\b{name.capitalize()}s?\b", t):
            nums.add(name)
    if generous:
        lower = t.lower()
        nums.update(str(v) for w, v in _NUMBER_WORDS.items() if re.search(rf"\b{w}\b", lower))
        if re.search(r"\bdozen\b", lower):
            nums.add("12")
        if re.search(r"\bdecades?\b", lower):
            nums.add("10")
    out["entity"] = _entities(t)
    return out


def extract_facts(text: str) -> set[str]:
    """Normalised numbers, money, percentages, dates, legal references and names in ``text``."""
    return set().union(*_facts(text).values())


# --------------------------------------------------------------------------- matching

# Citation marks, list enumerators, and numbers that are figures of speech rather than claims.
_CLAIM_NOISE = re.compile(r"\[\d+(?:\s*[,-]\s*\d+)*\]|^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+|\b24/7\b"
                          r"|\bout of (?:5|10|100)\b|\bon a scale of \d+(?: to \d+)?")


@lru_cache(maxsize=512)
def _evidence_index(evidence: str) -> tuple[frozenset[str], frozenset[str], frozenset[str], tuple[str, ...]]:
    """(numbers, references, lower-case words, word sequence) of an evidence text, cached because
    the answerer checks several sentences against the same passages."""
    facts = _facts(evidence, generous=True)
    text = re.sub(r"\b((?:[A-Za-z]\.){2,})", lambda m: m.group(1).replace(".", ""), normalise(evidence))
    words = tuple(w.removesuffix("'s") for w in re.findall(r"[a-z0-9][a-z0-9&'-]*", _fold(text).lower()))
    parts = {p for w in words if "-" in w for p in w.split("-")}
    singular = {w[:-1] for w in words if w.endswith("s") and len(w) > 3}
    return frozenset(facts["number"]), frozenset(facts["ref"]), frozenset(words) | parts | singular, words


def _fold(text: str) -> str:
    """Strip accents, so "Cafe" matches "Café"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _ref_matches(ref: str, refs: Iterable[str]) -> bool:
    """Article 5 supports Article 5(1)(a) and vice versa; Article 99(3) does not support 99(4)."""
    for other in refs:
        short, long = sorted((ref, other), key=len)
        if long.startswith(short) and (len(long) == len(short) or long[len(short)] == "("):
            return True
    return False


def _entity_matches(entity: str, words: frozenset[str], sequence: tuple[str, ...]) -> bool:
    """Every word of the name occurs in the evidence; an acronym may also be spelt out ("AI")."""
    for token in entity.replace("-", " ").split():
        low = _fold(token).lower().rstrip(".")
        if low in _CONNECT or low in words or (low.endswith("s") and low[:-1] in words):
            continue
        if not (token.isupper() and 2 <= len(token) <= 6 and _spelt_out(low, sequence)):
            return False
    return True


def _spelt_out(initials: str, sequence: tuple[str, ...]) -> bool:
    content = [w for w in sequence if w not in _CONNECT]
    n = len(initials)
    return any("".join(w[0] for w in content[i:i + n]) == initials for i in range(len(content) - n + 1))


def _missing_by_kind(claim: str, evidence: str | Sequence[str]) -> dict[str, list[str]]:
    text = evidence if isinstance(evidence, str) else "\n\n".join(evidence)
    numbers, refs, words, sequence = _evidence_index(text)
    facts = _facts(_CLAIM_NOISE.sub(" ", claim))
    return {
        "number": [f for f in facts["number"] if f not in numbers],
        "ref": [r for r in facts["ref"] if not _ref_matches(r, refs)],
        "entity": [e for e in facts["entity"] if not _entity_matches(e, words, sequence)],
    }


def missing_facts(claim: str, evidence: str | Sequence[str]) -> list[str]:
    """Facts stated in ``claim`` that appear nowhere in ``evidence``, in the claim's order."""
    missing = [f for kind in _missing_by_kind(claim, evidence).values() for f in kind]
    order = normalise(claim).lower()

    def position(fact: str) -> tuple[int, str]:
        i = order.find(fact.lower().split()[0].lstrip("$€£¥"))
        return (i if i >= 0 else len(order), fact)

    return sorted(missing, key=position)


def fact_counts(claim: str, evidence: str | Sequence[str]) -> tuple[int, int, int]:
    """(missing numbers/dates, missing legal references, missing names): features for the model."""
    by_kind = _missing_by_kind(claim, evidence)
    return len(by_kind["number"]), len(by_kind["ref"]), len(by_kind["entity"])


# Capitalised words a sentence about policy may use without its quote spelling them out.
_POLICY_CAPS = set("""act acts article articles annex recital regulation regulations directive union european commission
member state states president presidential order orders executive government federal agency agencies office
department secretary parliament council congress court section framework national international act's chapter
part title white house paper guidelines memorandum fact sheet january february march april may june july august
september october november december monday tuesday wednesday thursday friday saturday sunday english""".split())


def missing_names(claim: str, evidence: str | Sequence[str]) -> list[str]:
    """One-word proper names in ``claim`` (mid-sentence capitals: "Japan", "Wong", "Google") that no
    word of the evidence begins like ("Chinese" is found by "China"): a swapped name is a hard fact.

    Multi-word names and acronyms are checked with the other facts (``missing_facts``); these are
    kept apart because the learned scorer was trained on the features of those.
    """
    text = normalise(claim)
    blob = " ".join([evidence] if isinstance(evidence, str) else evidence).lower()
    have = set(re.findall(r"[a-z][a-z0-9'-]*", blob))
    starts = _sentence_starts(text)
    out = []
    for m in _WORD.finditer(text):
        word = m.group(0).removesuffix("'s").rstrip(".")
        low = word.lower()
        if (m.start() in starts or not word[:1].isupper() or word.isupper() or len(word) < 3
                or low in _COMMON or low in _POLICY_CAPS or low in _CONNECT):
            continue
        stem = low[:max(4, len(low) - 3)]
        if not any(w.startswith(stem) for w in have) and word not in out:
            out.append(word)
    return out


def without_attribution(sentence: str, speakers: list[str]) -> str:
    """"Michelle Donelan, Secretary of State ...: Initially, we do not ..." -> the quoted words.

    The extractive answer names who speaks before a quote whose words do not; that attribution
    rests on the citation's ``speaker`` (the document credits the words to them), not on the quote.
    """
    for name in speakers:
        m = re.match(rf"{re.escape(name)}(?:,[^:\n]{{1,160}})?:\s+", sentence)
        if m:
            return sentence[m.end():]
    return sentence


def check_sentence(sentence: str, evidence: Sequence[str], embedder=None) -> SentenceCheck:
    """Is ``sentence`` supported by ``evidence`` (the quotes it cites)?

    Supported only if every hard fact is found AND the calibrated support score (the sentence
    model in ``rag/data/faithfulness_model.json``) passes its threshold, which was set so that
    95% of the sentences of RAGTruth responses without hallucinations pass.
    """
    from .faithfulness import sentence_support  # the model lives there; imported late (it imports us)

    evidence = [e for e in evidence if e and e.strip()]
    if not evidence:
        return SentenceCheck(sentence, (), False, 0.0, (), "no evidence to check against")
    missing = tuple(missing_facts(sentence, evidence)) + tuple(missing_names(sentence, evidence))
    score, threshold = sentence_support(sentence, evidence, embedder)
    supported = not missing and score >= threshold
    if missing:
        reason = "not in the cited text: " + ", ".join(missing)
    elif not supported:
        reason = f"weak support ({score:.2f} < {threshold:.2f})"
    else:
        reason = f"supported ({score:.2f} >= {threshold:.2f})"
    return SentenceCheck(sentence, (), supported, round(float(score), 3), missing, reason)

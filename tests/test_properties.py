"""Property tests (hypothesis): the chunker never loses or misplaces text; the verifier catches
a changed number or name.

Citations are exact quotes, so the chunker's offsets must be exact for *any* text, not just the
corpus: random sentence-ish texts with unicode, blank lines, headings, list items, page markers and
sentences far longer than the model reads. The verifier must catch the edits that hurt most and
that embeddings notice least: one number or one name changed in an otherwise supported sentence.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_text
from rag.structure import markers

PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words_count(texts):
    return [len(t.split()) for t in texts]


_WORDS = ["the", "agency", "shall", "publish", "rules", "on", "AI", "models", "within", "90", "days", "U.S.",
          "e.g.", "Art.", "No.", "Corp.", "$5", "billion", "10^25", "FLOPs", "Überprüfung", "naïve", "政策",
          "人工智能", "règlement", "«quoted»", "“curly”", "—", "high-risk", "(a)", "1.2.", "Dr.", "Inc.", "🤖",
          "Jane", "Roe", "said", "état", "\u00a0nbsp", "Ωmega", "x"]
word = st.sampled_from(_WORDS) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12)
sentence = st.builds(
    lambda ws, end: " ".join(ws) + end,
    st.lists(word, min_size=1, max_size=30),
    st.sampled_from([".", ".", ".", "?", "!", ";", ":", "", "…", "。"]),
)
long_sentence = st.builds(lambda ws, sep: sep.join(ws),
                          st.lists(word, min_size=260, max_size=700), st.sampled_from([" ", " ", "; ", "\n"]))
block = st.one_of(
    sentence, sentence, sentence, long_sentence,
    st.sampled_from(["Article 5", "ARTICLE 12", "## Scope of the rules", "Sec. 4. Definitions.", "ANNEX III",
                     "(a) first item;", "- a bullet", "1. numbered", "---- Page 3 ----", "   ", ""]),
)
separator = st.sampled_from([" ", " ", "\n", "\n\n", "\n  \n\n", "\t", "\r\n", "  "])
texts = st.builds(
    lambda parts, seps, lead, trail: lead + "".join(p + s for p, s in zip(parts, seps)) + trail,
    st.lists(block, min_size=0, max_size=40), st.lists(separator, min_size=40, max_size=40),
    st.sampled_from(["", " ", "\n\n", "\ufeff"]), st.sampled_from(["", "\n", "  \n\n"]),
)
_PAGE_LINE = re.compile(r"^[^\S\n]*---- Page \d+ ----[^\S\n]*$", re.M)


def check_chunks(text: str, max_tokens: int, overlap: int) -> None:
    chunks = chunk_text(text, words_count, markers(text), max_tokens, overlap)
    # 1. offsets exact, no surrounding whitespace, nothing empty
    for c in chunks:
        assert 0 <= c.start < c.end <= len(text)
        piece = text[c.start:c.end]
        assert piece == piece.strip() and piece
    # 2. ordered, and 3. each chunk starts after the previous one starts (the overlap is bounded)
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start and a.end < b.end, (a, b)
        # 4. consecutive chunks overlap or touch: at most whitespace lies between them
        if b.start > a.end:  # page-marker lines are layout, not text (see check 5)
            gap = _PAGE_LINE.sub("", text[a.end:b.start])
            assert not gap.strip(), repr(text[a.end:b.start][:80])
        else:  # the overlap is whole sentences within the overlap budget
            assert words_count([text[b.start:a.end]])[0] <= overlap, (text[b.start:a.end][:200], overlap)
    # 5. no text lost: every non-space character outside page-marker lines lies in some chunk
    covered = bytearray(len(text))
    for c in chunks:
        covered[c.start:c.end] = b"\x01" * (c.end - c.start)
    for m in _PAGE_LINE.finditer(text):
        covered[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    lost = [i for i, ch in enumerate(text) if not covered[i] and not ch.isspace() and ch != "\ufeff"]
    assert not lost, repr(text[max(0, lost[0] - 40): lost[0] + 40])
    # 6. sections label the chunk that holds them
    for c in chunks:
        assert c.section is None or isinstance(c.section, str)


@PROFILE
@given(text=texts, max_tokens=st.integers(20, 250), overlap=st.integers(0, 60))
@example(text="", max_tokens=200, overlap=40)
@example(text="Word. " * 1000, max_tokens=50, overlap=10)
@example(text="x" * 5000, max_tokens=200, overlap=40)  # one "word" longer than any limit
@example(text="Article 1\n\nA.\n\nArticle 2\n\nB.\n\nArticle 3\n\nC.", max_tokens=200, overlap=40)
def test_chunks_are_exact_ordered_and_lose_nothing(text, max_tokens, overlap):
    check_chunks(text, max_tokens, overlap)


@PROFILE
@given(parts=st.lists(sentence, min_size=1, max_size=60), max_tokens=st.integers(10, 120))
def test_overlap_never_exceeds_its_budget_and_chunks_respect_the_size(parts, max_tokens):
    text = " ".join(parts)
    overlap = max_tokens // 4
    chunks = chunk_text(text, words_count, [], max_tokens, overlap)
    from rag.sentences import sentence_spans

    spans = sentence_spans(text)
    sizes = dict(zip(spans, words_count([text[s:e] for s, e in spans])))
    biggest = max(sizes.values(), default=0)
    for c in chunks:
        n = words_count([text[c.start:c.end]])[0]
        # a passage is over the budget only by its carried-over overlap before one big sentence
        assert n <= max(max_tokens, overlap + biggest), (n, max_tokens, overlap, biggest)


# ----------------------------------------------------------------------------- the verifier
_FIRST = ["Kyle", "Maria", "Ahmed", "Li", "Sofia", "James", "Amara", "Olga"]
_LAST = ["Chan", "Rossi", "Haddad", "Wei", "Lindqvist", "Okafor", "Petrova", "Brennan"]
_TOPICS = ["chip subsidies", "model evaluations", "compute reporting", "safety testing", "export licences"]
name = st.tuples(st.sampled_from(_FIRST), st.sampled_from(_LAST)).map(" ".join)
amount = st.one_of(st.integers(2, 999).map(str), st.decimals(1, 999, places=1).map(lambda d: f"{d:.1f}"))
unit = st.sampled_from(["million", "billion"])
currency = st.sampled_from(["$", "€", "£"])
year = st.integers(1990, 2035)


def _verify():
    return pytest.importorskip("rag.verify")


def _differs(a: str, b: str) -> bool:
    return Decimal(a) != Decimal(b)


@PROFILE
@given(who=name, n=amount, m=amount, cur=currency, unit=unit, when=year, topic=st.sampled_from(_TOPICS))
def test_a_changed_amount_is_caught(who, n, m, cur, unit, when, topic):
    verify = _verify()
    assume(_differs(n, m))
    evidence = f"In {when}, {who} said the agency will spend {cur}{n} {unit} on {topic} over five years."
    claim = f"{who} said the agency will spend {cur}{n} {unit} on {topic} [1]."
    assert verify.missing_facts(claim, [evidence]) == [], verify.missing_facts(claim, [evidence])
    changed = claim.replace(f"{cur}{n} {unit}", f"{cur}{m} {unit}")
    assert verify.missing_facts(changed, [evidence]), changed


@PROFILE
@given(who=name, pct=st.integers(1, 99), other=st.integers(1, 99), when=year, later=year)
def test_a_changed_percentage_or_year_is_caught(who, pct, other, when, later):
    verify = _verify()
    assume(pct != other and when != later)
    assume(str(other) not in {str(when)} and str(pct) not in {str(later)})
    evidence = f"By {when}, {who} expects {pct}% of agencies to use the framework."
    claim = f"By {when}, {who} expects {pct}% of agencies to use the framework."
    assert verify.missing_facts(claim, [evidence]) == []
    assert verify.missing_facts(claim.replace(f"{pct}%", f"{other}%"), [evidence])
    assert verify.missing_facts(claim.replace(str(when), str(later)), [evidence])


@PROFILE
@given(who=name, other=name, topic=st.sampled_from(_TOPICS), n=st.integers(2, 500))
def test_a_changed_name_is_caught(who, other, topic, n):
    verify = _verify()
    assume(set(who.split()) != set(other.split()))
    assume(not set(other.split()) <= set(who.split()))
    evidence = f"The report by {who} says that {n} firms asked for guidance on {topic}."
    claim = f"{who} says {n} firms asked for guidance on {topic} [2]."
    assert verify.missing_facts(claim, [evidence]) == []
    changed = claim.replace(who, other)
    assert verify.missing_facts(changed, [evidence]), changed


@PROFILE
@given(n=st.integers(1, 120), m=st.integers(1, 120), letter=st.sampled_from("abcdefgh"))
def test_a_changed_article_reference_is_caught(n, m, letter):
    verify = _verify()
    assume(n != m)
    evidence = f"Article {n}({letter}) prohibits the placing on the market of such systems."
    claim = f"Article {n}({letter}) prohibits placing such systems on the market [1]."
    assert verify.missing_facts(claim, [evidence]) == []
    assert verify.missing_facts(claim.replace(f"Article {n}", f"Article {m}"), [evidence])


# ------------------------------------------------------- the whole verdict (check_sentence)
CHECK_PROFILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def embedder():
    from rag.embed import get_embedder

    return get_embedder()


@CHECK_PROFILE
@given(who=name, n=amount, m=amount, unit=unit, topic=st.sampled_from(_TOPICS))
def test_check_sentence_rejects_a_changed_amount_or_name(embedder, who, n, m, unit, topic):
    verify = _verify()
    assume(_differs(n, m))
    evidence = [f"{who} said the agency will spend ${n} {unit} on {topic} over five years."]
    claim = f"{who} said the agency will spend ${n} {unit} on {topic}."
    assert verify.check_sentence(claim, evidence, embedder).supported
    wrong_amount = verify.check_sentence(claim.replace(f"${n} {unit}", f"${m} {unit}"), evidence, embedder)
    assert not wrong_amount.supported and wrong_amount.missing, wrong_amount
    other = "Jordan Smith" if who != "Jordan Smith" else "Alex Brown"
    wrong_name = verify.check_sentence(claim.replace(who, other), evidence, embedder)
    assert not wrong_name.supported and wrong_name.missing, wrong_name


@CHECK_PROFILE
@given(pair=st.sampled_from([("China", "Japan"), ("Chan", "Wong"), ("Microsoft", "Google"), ("France", "Germany")]),
       n=st.integers(2, 900))
def test_check_sentence_rejects_a_changed_one_word_name(embedder, pair, n):
    verify = _verify()
    real, fake = pair
    evidence = [f"Officials said {real} spent ${n} billion on chip factories last year."]
    claim = f"Officials said {real} spent ${n} billion on chip factories."
    assert verify.check_sentence(claim, evidence, embedder).supported
    assert not verify.check_sentence(claim.replace(real, fake), evidence, embedder).supported

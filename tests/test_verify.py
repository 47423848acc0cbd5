"""The verifier's hard-fact checks: what counts as the same fact, and what counts as a changed one.

These are the errors an embedding cannot see ("$10 billion" and "$100 billion" are near-identical
vectors), so each is pinned by a test. The evidence is the user's own source article.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.verify import check_sentence, extract_facts, missing_facts, normalise, without_attribution

SEED = Path(__file__).resolve().parents[1] / "corpus" / "000_2a757378fe6c6261.md"
SEED_TEXT = SEED.read_text(encoding="utf-8")
INVESTMENT = next(line for line in SEED_TEXT.splitlines() if line.startswith("In addition, local governments"))
CHAN = next(line for line in SEED_TEXT.splitlines() if "says Kyle Chan" in line)
ACT = ("Article 5\nProhibited AI practices\n1. The following AI practices shall be prohibited: (a) the placing "
       "on the market of an AI system that deploys subliminal techniques. Non-compliance with the prohibition "
       "referred to in Article 5 shall be subject to administrative fines of up to EUR 35 000 000 or, if the "
       "offender is an undertaking, up to 7 % of its total worldwide annual turnover (Article 99(3)).")


# ------------------------------------------------------------------ normalisation

@pytest.mark.parametrize("a, b", [
    ("$ 100 billion", "$100 billion"),
    ("10<sup>26</sup>", "10^26"),
    ("10²⁶", "10^26"),
    ("10 ^ 26", "10^26"),
    ("1,000,000 users", "1000000 users"),
    ("7 per cent", "7%"),
    ("7 percent", "7%"),
    ("7 %", "7%"),
    ("\u201cquoted\u201d \u2018text\u2019", "\"quoted\" 'text'"),
    ("2010\u20132014 \u2014 a decade", "2010-2014 - a decade"),
    ("high -tech", "high-tech"),
    ("US$ 5 million", "$5 million"),
    ("**$500** **million**", "$500 million"),  # markdown emphasis in a White House fact sheet
    ("<u>Sec</u>. 4", "Sec. 4"),
])
def test_normalise_unifies_spellings_of_the_same_thing(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_normalise_keeps_case_and_distinct_numbers() -> None:
    assert normalise("NIST and Kyle Chan") == "NIST and Kyle Chan"
    assert normalise("$10 billion") != normalise("$100 billion")


# ------------------------------------------------------------------ fact extraction

def test_money_is_one_fact_however_it_is_written() -> None:
    for text in ("$ 100 billion", "$100 billion", "$100,000,000,000", "100 billion dollars", "US$100bn"):
        assert "$100 billion" in extract_facts(text), text


def test_numbers_percentages_and_years() -> None:
    facts = extract_facts("Since 2014 it invested 4.0 times more, about 12 per cent of 1,500 firms, in April.")
    assert {"2014", "4", "12%", "1500", "april"} <= facts


def test_legal_references_are_normalised() -> None:
    facts = extract_facts("Under Art. 99(3), Article 5(1)(a), Sec. 4.2(b)(i), Section 4.2 and Annex III.")
    assert {"article 99(3)", "article 5(1)(a)", "section 4.2(b)(i)", "section 4.2", "annex iii"} <= facts


def test_names_and_acronyms_but_not_sentence_starts() -> None:
    facts = extract_facts(CHAN + " Most public money went to SMIC, guided by NIST rules.")
    assert {"Kyle Chan", "Rand Corp", "AI", "SMIC", "NIST"} <= facts
    assert not any(f.startswith(("The ", "Most ")) for f in extract_facts("The Chinese government acted. Most firms"))
    assert extract_facts("The report was published.") == set()


# ------------------------------------------------------------------ missing facts

def test_same_facts_written_differently_are_not_missing() -> None:
    claim = "Since 2014 the government has invested about $100 billion in the semiconductor industry."
    assert missing_facts(claim, INVESTMENT) == []
    assert missing_facts("The fines reach EUR 35,000,000 or 7 per cent of turnover under Article 99(3).", ACT) == []


def test_a_changed_amount_is_caught() -> None:
    assert missing_facts("The government has invested about $10 billion since 2014.", INVESTMENT) == ["$10 billion"]


def test_a_changed_year_is_caught() -> None:
    assert missing_facts("Since 2015 the government has invested about $100 billion.", INVESTMENT) == ["2015"]


def test_a_changed_name_is_caught() -> None:
    assert missing_facts("Kyle Chen, an associate researcher at Rand Corp., said so.", CHAN)
    assert missing_facts("Kyle Chan, an associate researcher at Rand Corp., said so.", CHAN) == []


def test_a_changed_article_number_is_caught() -> None:
    assert missing_facts("Article 6 prohibits subliminal techniques.", ACT) == ["article 6"]
    assert missing_facts("Fines are set by Article 99(4).", ACT) == ["article 99(4)"]
    # a more precise reference to a cited article is fine
    assert missing_facts("Article 5(1)(a) prohibits subliminal techniques.", ACT) == []


def test_acronyms_may_be_spelt_out_in_the_evidence() -> None:
    assert missing_facts("The US and AI.", "the United States and artificial intelligence") == []


# ------------------------------------------------------------------ check_sentence (uses the packaged model)

def test_a_faithful_sentence_passes_and_a_changed_number_fails() -> None:
    ok = check_sentence("Since 2014, the government has invested about $100 billion in the semiconductor industry.",
                        [INVESTMENT])
    assert ok.supported, ok
    bad = check_sentence("Since 2014, the government has invested about $10 billion in the semiconductor industry.",
                         [INVESTMENT])
    assert not bad.supported and bad.missing == ("$10 billion",)
    assert "$10 billion" in bad.reason


def test_an_off_topic_sentence_fails_without_any_fact() -> None:
    check = check_sentence("European regulators banned facial recognition in public spaces.", [INVESTMENT])
    paraphrase = check_sentence("Local governments and banks were told to release credit for hundreds of startups.",
                                [INVESTMENT])
    assert not check.supported and check.missing == () and "weak support" in check.reason
    assert paraphrase.supported and paraphrase.score > check.score


def test_an_attribution_before_a_quote_rests_on_the_citation_not_the_quote() -> None:
    """The extractive answer writes "Name, post: words" when the words themselves do not name their
    speaker; the name comes from the citation's speaker, so only the words are checked against the quote."""
    quote = "Initially, we do not\nintend to introduce new legislation."
    said = "Michelle Donelan, Secretary of State for Science, Innovation and Technology: " \
           "Initially, we do not intend to introduce new legislation."
    assert not check_sentence(said, [quote]).supported  # the name is not in the quote
    assert without_attribution(said, ["Michelle Donelan"]) == "Initially, we do not intend to introduce new legislation."
    assert check_sentence(without_attribution(said, ["Michelle Donelan"]), [quote]).supported
    assert without_attribution(said, ["Kyle Chan"]) == said  # only the citation's own speaker is taken off


def test_no_evidence_is_never_support() -> None:
    assert not check_sentence("Anything at all.", []).supported


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amount=st.integers(min_value=1, max_value=10_000).filter(lambda n: n not in (100, 10)),
       year=st.integers(min_value=1900, max_value=2099))
def test_replacing_a_number_in_a_supported_sentence_makes_it_unsupported(amount: int, year: int) -> None:
    template = "Since {y}, the government has invested about ${a} billion in the semiconductor industry."
    assert check_sentence(template.format(y=2014, a=100), [INVESTMENT]).supported
    changed = check_sentence(template.format(y=2014, a=amount), [INVESTMENT])
    assert not changed.supported and set(changed.missing) == extract_facts(f"${amount} billion")
    if year != 2014:
        assert not check_sentence(template.format(y=year, a=100), [INVESTMENT]).supported


def test_a_question_s_answer_type_is_recognised_in_a_sentence() -> None:
    from rag.evidence import ANSWER_TYPES

    asks, has = ANSWER_TYPES["statute"]
    assert asks.search("Which statute directs NIST to produce the AI RMF?")
    assert not asks.search("What does the statute say about fines?")
    assert has.search("As directed by the National Artificial Intelligence Initiative Act of 2020 (P.L. 116-283),")
    assert has.search("codified at 15 U.S.C. 9401") and not has.search("The Act applies from 2 August 2026.")
    asks, has = ANSWER_TYPES["binding"]
    assert asks.search("Is the NIST AI RMF mandatory for companies?")
    assert asks.search("Will the UK put its AI principles into legislation straight away?")
    assert has.search("We will not put these principles on a statutory footing initially.")
    assert has.search("The AI RMF is intended to be voluntary, rights-preserving, non-sector-specific")
    asks, has = ANSWER_TYPES["body"]
    assert asks.search("Which department was to set up the AI Safety and Security Board?")
    assert has.search("The Department of Homeland Security will establish the Board.")
    assert not has.search("the board will meet quarterly.")

"""Sentence boundaries in PDF-derived text: every quote the reader sees is one whole sentence.

A PDF page brings layout with it: running headers, numbered headings on their own line, lists
that wrap, footnotes. These tests take the cases from the real corpus.
"""

from __future__ import annotations

from .conftest import shared_corpus_or_skip
from rag.ingest import load_document
from rag.evidence import is_statement
from rag.sentences import split_sentences


def _doc(name: str):
    return load_document(shared_corpus_or_skip() / f"{name}.md")


def _sentence_with(text: str, words: str) -> str:
    found = [s for s in split_sentences(text) if words in s]
    assert len(found) == 1, found
    return found[0]


def test_an_inline_enumeration_that_wraps_stays_one_sentence():
    """"… (6) environmental and societal well-being and\n(7) accountability." is one sentence: the
    line break before (7) is layout, not a new list item."""
    hleg = _doc("eu-hleg-ethics-guidelines-trustworthy-ai-2019").text
    at = hleg.index("Ensure that the AI system’s entire life cycle meets the seven key requirements")
    sentence = _sentence_with(hleg[at - 40:at + 600], "entire life cycle meets")
    assert sentence.rstrip().endswith("(7) accountability.")


def test_a_running_header_and_a_numbered_heading_are_not_part_of_the_sentence_under_them():
    nist = _doc("us-nist-ai-rmf-1.0-ai-100-1-2023").text
    at = nist.index("1.2.2 Risk Tolerance\nWhile")
    sentences = split_sentences(nist[at - 60:at + 200])
    assert "While the AI RMF can be used to prioritize risk, it does not prescribe risk tolerance." in sentences
    assert "1.2.2 Risk Tolerance" in sentences


def test_a_list_of_short_items_ends_before_the_next_sentence():
    """"(iv) Explicability\nMany of these are …": the item is not the start of the paragraph after it."""
    hleg = _doc("eu-hleg-ethics-guidelines-trustworthy-ai-2019").text
    at = hleg.index("These are the principles of:")
    sentences = split_sentences(hleg[at:at + 400])
    assert sentences[:5] == ["These are the principles of:", "(i) Respect for human autonomy",
                             "(ii) Prevention of harm", "(iii) Fairness", "(iv) Explicability"]
    assert sentences[5].startswith("Many of these are to a large extent")


def test_list_items_that_run_on_are_still_split_at_each_item():
    text = ("The following AI practices shall be prohibited:\n(a) the placing on the market of an AI system\n"
            "that deploys subliminal techniques; and\n(b) the use of an AI system.\n")
    assert split_sentences(text) == [
        "The following AI practices shall be prohibited:",
        "(a) the placing on the market of an AI system\nthat deploys subliminal techniques; and",
        "(b) the use of an AI system.",
    ]


def test_a_table_of_contents_is_not_a_statement():
    uk = _doc("uk-ai-regulation-white-paper-2023").text
    at = uk.index("Ministerial foreword ")
    toc = uk[at:uk.index("\n\n", at)]
    assert toc.count("\n") >= 5 and not is_statement(toc)
    assert is_statement("We will not put these principles on a statutory footing initially.")


def test_the_uk_white_paper_s_o_bullets_are_list_items():
    """The UK white paper's PDF renders its bullets as "o": each is an item of its own, and the last one
    does not swallow the paragraph after it."""
    uk = _doc("uk-ai-regulation-white-paper-2023").text
    at = uk.index("five values-")
    sentences = split_sentences(uk[at:at + 700])
    assert sentences[1:6] == ["o Safety, security and robustness", "o Appropriate transparency and explainability",
                              "o Fairness", "o Accountability and governance", "o Contestability and redress"]
    assert sentences[6].startswith("These build on")


def test_a_public_law_citation_does_not_end_the_sentence():
    nist = _doc("us-nist-ai-rmf-1.0-ai-100-1-2023").text
    at = nist.index("As directed by the National Artificial Intelligence Initiative Act of 2020")
    first = split_sentences(nist[at:at + 400])[0]
    assert "(P.L. 116-283)" in first and "the goal of the AI RMF is to offer a resource" in first

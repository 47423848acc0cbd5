"""Pinpoints: every passage knows where it sits in its document, the way readers cite it.

EU regulation: Art. 5(1)(a), Recital 27, Annex III. US orders: Sec. 4.2(b)(i). Reports converted
from PDF: numbered headings ("Sec. 3.3.4"), NIST AI RMF categories ("GOVERN 1.2") and the
numbered paragraphs UK white papers are cited by ("Sec. 3.3.4, para. 97").
"""

from __future__ import annotations

from .conftest import shared_corpus_or_skip
from rag.ingest import load_document
from rag.speakers import signature_span, signed_sections, speaker_at
from rag.structure import footnotes, headings, in_footnote, is_part, label_at, markers, top_level


def _doc(name: str):
    return load_document(shared_corpus_or_skip() / f"{name}.md")


def _label_of(doc, quote: str) -> str | None:
    at = doc.text.index(quote)
    return label_at(markers(doc.text), at)


def test_eu_articles_paragraphs_points_and_annexes():
    doc = _doc("eu-ai-act-regulation-2024-1689")
    assert _label_of(doc, "fines of up to EUR 35 000 000").startswith("Art. 99(3)")
    assert _label_of(doc, "the placing on the market, the putting into service or the use of an AI system that deploys subliminal").startswith("Art. 5(1)(a)")


def test_us_order_sections_and_subsections():
    doc = _doc("us-eo-14110-2023")
    label = _label_of(doc, "any model that was trained using a quantity of computing")
    assert label.startswith("Sec. 4.2"), label


def test_a_section_heading_with_html_underline_is_still_a_section():
    """whitehouse.gov's copy of the AI infrastructure order writes "<u>Sec</u>. 4." for one heading."""
    doc = _doc("us-eo-14141-ai-infrastructure-2025")
    assert _label_of(doc, "By February 28, 2025, the Secretary of Defense").startswith("Sec. 4(a)")


def test_uk_white_paper_numbered_paragraphs_sit_in_their_section():
    doc = _doc("uk-ai-regulation-white-paper-2023")
    assert _label_of(doc, "We intend to focus an initial pilot on a single sector") == "Sec. 3.3.4, para. 97"
    assert _label_of(doc, "We will not put these principles on a statutory footing initially") == "para. 11"
    # Numbered consultation questions are not paragraphs, and paragraphs are not parts.
    marks = markers(doc.text)
    paras = [int(m.label.rsplit("para. ", 1)[1]) for m in marks if "para. " in m.label]
    assert paras == list(range(1, len(paras) + 1)) and len(paras) >= 120
    assert not any(is_part(m.label) for m in marks if "para. " in m.label)


def test_report_headings_and_nist_categories():
    nist = _doc("us-nist-ai-rmf-1.0-ai-100-1-2023")
    assert _label_of(nist, "GOVERN 1.2: The characteristics of trustworthy AI") == "GOVERN 1.2"
    heads = {label: text for _off, label, text in headings(nist.text, markers(nist.text))}
    assert heads["Sec. 3.2"] == "3.2 Safe"
    # Table-of-contents lines ("1.1 Understanding ... Harms 4") are not headings.
    toc_end = nist.text.index("1. Framing Risk")
    assert all(off >= toc_end for off, _l, _t in headings(nist.text, markers(nist.text)))
    hleg = _doc("eu-hleg-ethics-guidelines-trustworthy-ai-2019")
    texts = [t for _o, _l, t in headings(hleg.text, markers(hleg.text))]
    assert "1.1 Human agency and oversight" in texts
    # A numbered list item wrapped over two lines is not a heading.
    uk = _doc("uk-ai-regulation-white-paper-2023")
    assert not any(t.startswith("2. Identifying appropriate") for _o, _l, t in headings(uk.text, markers(uk.text)))


def test_top_level():
    assert top_level("Art. 5(1)(a)") == "Art. 5"
    assert top_level("Sec. 3.3.4, para. 97") == "Sec. 3.3.4"
    assert top_level("Sec. 4.2(b)(i)") == "Sec. 4.2"


def test_pdf_footnotes_are_told_apart_from_numbered_body_lines():
    """A footnote is a numbered line at the foot of a page that the body has called ("principles,24").
    The HLEG's "1 Human agency and oversight" is a numbered list in the body, not a footnote."""
    hleg = _doc("eu-hleg-ethics-guidelines-trustworthy-ai-2019").text
    notes = footnotes(hleg)
    assert in_footnote(notes, hleg.index("24  More recently, the AI4People’s taskforce"))
    assert not in_footnote(notes, hleg.index("1 Human agency and oversight"))
    assert not in_footnote(notes, hleg.index("These are the principles of:"))
    omb = _doc("us-omb-m-24-10-2024").text  # called right after a year: "Fiscal Year 2019,54"
    assert in_footnote(footnotes(omb), omb.index("54 Pub. L. No. 115-232"))
    uk = _doc("uk-ai-regulation-white-paper-2023").text
    assert in_footnote(footnotes(uk), uk.index("6 Large dedicated AI companies make a major contribution"))
    assert not in_footnote(footnotes(uk), uk.index("We will not put these principles on a statutory footing"))


def test_a_signed_foreword_is_the_signatory_s_words():
    """The UK white paper opens with "Ministerial foreword / The Rt Hon Michelle Donelan MP, / Secretary of
    State for ..." and closes it with her name: what lies between is hers to quote; the executive
    summary after it is not."""
    uk = _doc("uk-ai-regulation-white-paper-2023").text
    [section] = signed_sections(uk)
    assert (section.speaker, section.role) == ("Michelle Donelan", "Secretary of State for Science, Innovation and Technology")
    s, e = signature_span(uk, section)
    assert uk[s:e] == "The Rt Hon Michelle Donelan MP,\nSecretary of State for Science, Innovation and Technology"
    at = uk.index("Initially, we do not\nintend to introduce new legislation.")
    assert speaker_at(uk, at, at + 40).speaker == "Michelle Donelan"
    later = uk.index("We will not put these principles on a statutory footing initially.")
    assert speaker_at(uk, later, later + 40) is None

"""Retrieval that knows how policy readers ask: by definition, by description, by status.

"Who counts as a 'deployer'?" must find the one defining line in Art. 3 among hundreds of passages
that use the word; "Trump's January 2025 AI order" names EO 14179 without its number; "Is EO 14110
still in effect?" is answered by the order that revoked it, not by EO 14110 itself.
"""

from __future__ import annotations

import pytest

from rag.answer import Assistant
from rag.definitions import asked_terms, defines, definitions_in, expansions
from rag.policy import issuer
from rag.retrieve import described_docs, doc_aliases, doc_mentions, focus, named_groups, spelled_out, with_acronyms

from .conftest import shared_corpus_or_skip


@pytest.mark.parametrize("question, term", [
    ("How does the EU AI Act define an 'AI system'?", "AI system"),
    ("Which actors fall under the AI Act's term 'operator'?", "operator"),  # the apostrophe of "Act's" is not a quote
    ("Who counts as a deployer under the AI Act?", "deployer"),
    ("How does the NIST AI RMF define an AI system?", "AI system"),
    ("What does human-in-the-loop mean?", "human-in-the-loop"),
    # A comparison's sub-question, as the planner rewrites it: the term stops before "their".
    ("How does the United States define artificial intelligence their main policy texts?", "artificial intelligence"),
])
def test_the_asked_term_is_found(question, term):
    assert asked_terms(question) == [term]


def test_acronym_questions_find_the_spelled_out_name():
    assert asked_terms("What does the acronym CHIPS stand for?") == ["CHIPS"]
    assert asked_terms("What is NAIRR short for?") == ["NAIRR"]
    text = "The Act, known as the Creating Helpful\nIncentives to Produce Semiconductors (CHIPS) Act of 2022"
    assert text[expansions("CHIPS", text)[0]:].startswith("Creating Helpful")
    assert expansions("CAIO", "each agency must designate a Chief AI Officer (CAIO) within 60 days")
    assert not expansions("CHIPS", "funding under the CHIPS Act (CHIPS) programme")  # no spelled-out name


def test_questions_that_are_not_definitions_ask_no_term():
    assert asked_terms("How much has China put into semiconductors since 2014?") == []


def test_definition_forms():
    assert definitions_in("deployer", "(4) ‘deployer’ means a natural or legal person")
    assert definitions_in("artificial intelligence", "For\nthe purposes of this order, “artificial intelligence” or "
                          "“AI” has the\nmeaning set forth in 15 U.S.C. 9401(3).")
    assert definitions_in("AI system", "The AI RMF refers to an AI system as an engineered or machine-based system")
    assert not definitions_in("deployer", "Deployers of high-risk AI systems shall take appropriate measures.")
    context = "Oversight may be achieved through a human-in-the-\nloop (HITL) approach. HITL refers to the capability"
    assert defines(["human-in-the-loop"], "HITL refers to the capability", context)


@pytest.mark.parametrize("question, quote", [
    ("Who counts as a 'deployer' under the AI Act?", "‘deployer’ means a natural or legal person"),
    ("How does EO 14179 define artificial intelligence?", "has the\nmeaning set forth in 15 U.S.C. 9401(3)"),
    ("What does 'human-in-the-loop' mean in the EU ethics guidelines?", "HITL refers to the capability"),
])
def test_definition_questions_quote_the_defining_line(index_dir, question, quote):
    shared_corpus_or_skip()
    answer = Assistant.open(index_dir, llm="extractive").ask(question)
    assert not answer.refused
    assert quote in answer.citations[0].quote or any(quote in c.quote for c in answer.citations[:2])


@pytest.mark.parametrize("question, doc_id", [
    ("What policy does Trump's January 2025 AI executive order declare?", "us-eo-14179-2025"),
    ("What does Section 4(a) of the January 2025 AI infrastructure order ask?", "us-eo-14141-ai-infrastructure-2025"),
    ("What are the three objectives of the 2024 national security memorandum on AI?",
     "us-nsm-ai-national-security-memorandum-2024"),
    ("What does Biden's October 2023 fact sheet say about watermarking?", "us-eo-14110-fact-sheet-2023"),
    ("What computing-power threshold made a model subject to reporting under Biden's AI executive order?",
     "us-eo-14110-2023"),
])
def test_documents_described_by_who_when_and_what(policy_index, question, doc_id):
    shared_corpus_or_skip()
    assert doc_id in doc_mentions(policy_index, question)


def test_a_description_several_documents_fit_names_them_all(policy_index):
    """Three White House fact sheets in the corpus were issued under Biden (the CHIPS Act, EO 14110, AI
    diffusion): "the Biden fact sheet" could be any of them, so retrieval searches all three."""
    shared_corpus_or_skip()
    assert sorted(doc_mentions(policy_index, "What does the Biden fact sheet say about watermarking?")) == [
        "us-chips-and-science-act-fact-sheet-2022", "us-eo-14110-fact-sheet-2023",
        "us-wh-ai-diffusion-export-controls-fact-sheet-2025"]
    # Of Biden's executive orders, "his AI order" is EO 14110 or EO 14141, not the CHIPS Act one.
    assert sorted(doc_mentions(policy_index, "How many guiding principles does the Biden AI executive order set out?")) == [
        "us-eo-14110-2023", "us-eo-14141-ai-infrastructure-2025"]


def test_a_description_does_not_steer_sentence_scoring(policy_index):
    """Once "Trump's January 2025 order" has found EO 14179, its sentences need not repeat those words."""
    shared_corpus_or_skip()
    topic = focus(policy_index, "What policy does Trump's January 2025 AI executive order declare?")
    assert "Trump" not in topic and "2025" not in topic and "January" not in topic and "policy" in topic


def test_a_description_that_fits_too_many_documents_names_none(policy_index):
    """Only a description that narrows the corpus to a few documents names them; a person alone does not."""
    shared_corpus_or_skip()
    assert described_docs(policy_index, "What did Biden think about trade?") == []
    assert doc_mentions(policy_index, "What does Kyle Chan say about state support?") == []


def test_status_questions_retrieve_the_revoking_order(policy_index):
    shared_corpus_or_skip()
    hits = policy_index.retrieve("Is Executive Order 14110 still in effect?", k=5)
    revoking = [p for p in hits if p.doc_id != "us-eo-14110-2023" and "14110" in p.text]
    assert revoking, [p.doc_id for p in hits]


def _top5(index, question: str, quote: str) -> bool:
    return any(quote in p.text for p in index.retrieve(question, k=5))


def test_a_place_named_in_the_question_scopes_retrieval(policy_index):
    """"the UK" names no document, but only one document in the corpus is from the UK: the answer
    ("not ... on a statutory footing initially") shares no word with "legislation straight away"."""
    shared_corpus_or_skip()
    assert _top5(policy_index, "Will the UK put its AI principles into legislation straight away?",
                 "We will not put these principles on a statutory footing initially")


def test_an_order_brings_its_fact_sheet(policy_index):
    """The count of companies that had committed before EO 14110 is in the White House fact sheet issued
    the same day, not in the order."""
    shared_corpus_or_skip()
    assert _top5(policy_index, "How many leading companies had made voluntary AI safety commitments before "
                 "Biden's October 2023 AI order?", "commitments from 15 leading companies")


def test_a_plain_word_finds_the_heading_in_the_laws_word(policy_index):
    """Users say "fine" and "banned"; the AI Act's Article 99 is headed "Penalties"."""
    shared_corpus_or_skip()
    assert _top5(policy_index, "What is the maximum fine for using a banned AI practice under the EU AI Act?",
                 "fines of up to EUR 35 000 000")


def test_documents_named_in_a_question_are_grouped_by_the_name_used(policy_index):
    shared_corpus_or_skip()
    groups = named_groups(policy_index, "Which of these is binding: the NIST AI RMF or the EU AI Act?")
    assert groups == [("NIST AI RMF", ["us-nist-ai-rmf-1.0-ai-100-1-2023"]), ("EU AI Act", ["eu-ai-act-regulation-2024-1689"])]
    label, ids = named_groups(policy_index, "Did EO 14110 set a compute threshold?")[0]
    assert label == "EO 14110" and ids == ["us-eo-14110-2023", "us-eo-14110-fact-sheet-2023"]  # the order and its fact sheet


def test_a_name_the_source_abbreviates_is_also_searched_by_its_acronym(policy_index):
    """OMB M-24-10 spells out "Chief AI Officers (CAIOs)" once, then writes "the CAIO must be at least
    a GS-15". A reader asks with the full name."""
    shared_corpus_or_skip()
    assert spelled_out(policy_index)["chief ai officer"] == "CAIO"
    question = "What is the minimum grade for a Chief AI Officer at agencies outside the CFO Act list?"
    assert with_acronyms(policy_index, question).endswith(" CAIO")
    assert _top5(policy_index, question, "the CAIO must be at least a GS-15")


def test_the_white_house_is_read_as_the_president_sitting_on_the_date():
    """A fact sheet's front matter says "The White House"; readers say "the Biden administration"."""
    assert issuer({"issuer": "The White House", "date": "2025-01-13"}) == "The White House (President Joseph R. Biden Jr.)"
    assert "Trump" in issuer({"issuer": "The White House", "date": "2025-01-23"})
    assert issuer({"issuer": "The White House (President Joseph R. Biden Jr.)", "date": "2023-10-30"}).count("Biden") == 1
    assert issuer({"issuer": "European Commission", "date": "2024-07-12"}) == "European Commission"
    assert issuer({"issuer": "The White House"}) == "The White House"  # no date, no guess


def test_a_follow_up_that_borrows_the_administration_finds_the_fact_sheet(policy_index):
    """The follow-up carries "Biden" from the first question; the diffusion fact sheet never names him."""
    shared_corpus_or_skip()
    history = [{"role": "user", "content": "What does the Biden administration's AI diffusion rule say about chip "
                                           "orders that need no licence?"},
               {"role": "assistant", "content": "Orders of up to roughly 1,700 advanced GPUs need no licence."}]
    answer = Assistant(policy_index).ask("And how many advanced GPUs can non-VEU buyers outside close allies get "
                                         "per country?", history=history)
    assert not answer.refused
    assert "50,000 advanced GPUs per country" in " ".join(answer.citations[0].quote.split())


def test_a_document_is_also_named_by_the_distinctive_words_of_its_file_name(policy_index):
    """The AI diffusion fact sheet's title never says "diffusion"; its file name does."""
    shared_corpus_or_skip()
    question = "Which countries are exempt from the AI diffusion rule's restrictions?"
    assert doc_mentions(policy_index, question) == ["us-wh-ai-diffusion-export-controls-fact-sheet-2025"]
    answer = Assistant(policy_index).ask(question)
    assert any("No restrictions apply to chip sales to 18 key allies and partners" in " ".join(c.quote.split())
               for c in answer.citations)
    # Prefixes and common words of file names ("us", "eo", "fact sheet") name nothing.
    aliases = {n for names in doc_aliases(policy_index).values() for n in names}
    assert not {"us chips", "eo fact", "fact sheet", "eo ai", "us nist"} & aliases

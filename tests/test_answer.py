"""Answers over the real index: exact quotes, speakers, refusals, follow-ups and policy features.

The scripted generator below plays a language model with queued replies, so each test can plant
exactly the mistake the verifier must catch (a wrong number, an uncited claim, a fake source).
"""

from __future__ import annotations

import re

import pytest

from rag.answer import Assistant, rewrite
from rag.errors import InputError, LLMError

from .conftest import SEED_ID, shared_corpus_or_skip


class ScriptedLLM:
    """A deterministic stand-in for a model: replies are queued, one per call."""

    name = "scripted"

    def __init__(self, *replies: str, fail: bool = False):
        self.replies = list(replies)
        self.fail = fail
        self.calls = 0

    def stream(self, messages, max_tokens=400):
        self.calls += 1
        if self.fail:
            raise LLMError("endpoint http://127.0.0.1:9 unavailable after 3 attempts (ConnectError)")
        reply = self.replies.pop(0) if self.replies else "NOT IN SOURCES"
        for word in reply.split(" "):
            yield word + " "


@pytest.fixture(scope="module")
def assistant(index_dir):
    return Assistant.open(index_dir, llm="extractive")


def assert_exact(assistant, answer):
    for c in answer.citations:
        assert assistant.index.docs[c.doc_id]["text"][c.start:c.end] == c.quote


def test_quote_with_its_speaker(assistant):
    answer = assistant.ask("What did Kyle Chan say about state support?")
    assert not answer.refused
    assert "China is applying state support throughout the AI technology chain" in answer.text
    assert answer.citations[0].speaker == "Kyle Chan" and answer.citations[0].doc_id == SEED_ID
    assert "[1]" in answer.text
    assert_exact(assistant, answer)


def test_a_speaker_question_is_answered_by_the_whole_quotation(assistant):
    """A two-sentence quotation is quoted whole, with its attribution, not cut after one sentence;
    "the Chinese state" in the question is found by "China" in the article."""
    answer = assistant.ask("Why, according to Chan, is it hard for the Chinese state to steer money in AI "
                           "compared with older industries?")
    whole = [c for c in answer.citations if "hard to know where to invest" in c.quote]
    assert whole, answer.text
    assert "not stable like steel industry or shipbuilding,” says Chan." in whole[0].quote
    assert whole[0].speaker == "Kyle Chan"
    assert_exact(assistant, answer)


def test_a_list_lead_in_brings_its_enumerated_items(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("What does the EU AI Act ban?")
    quotes = [c.quote for c in answer.citations]
    assert any(q.startswith("The following AI practices shall be prohibited") for q in quotes), quotes
    assert sum(q.lstrip().startswith(("(a)", "(b)", "(c)")) for q in quotes) >= 2, quotes


def test_a_question_that_counts_the_items_gets_the_list_of_that_many(assistant):
    """"Which four ethical principles ...?": the lead-in followed by exactly four items is the answer,
    over the sentences that only say there are four (and over footnote 24, which names other ones)."""
    shared_corpus_or_skip()
    answer = assistant.ask("Which four ethical principles underpin the EU Ethics Guidelines for Trustworthy AI?")
    quotes = [c.quote for c in answer.citations]
    assert quotes[:5] == ["These are the principles of:", "(i) Respect for human autonomy",
                          "(ii) Prevention of harm", "(iii) Fairness", "(iv) Explicability"], quotes
    assert not any("AI4People" in q for q in quotes)
    assert_exact(assistant, answer)


def test_what_a_minister_said_in_a_signed_foreword_is_quoted_and_credited_to_her(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("What did Michelle Donelan say in the white paper foreword about whether the UK "
                           "would legislate on AI?")
    quotes = {" ".join(c.quote.split()): c for c in answer.citations}
    assert "Initially, we do not intend to introduce new legislation." in quotes, list(quotes)
    assert all(c.speaker == "Michelle Donelan" for c in answer.citations)
    assert answer.text.startswith("Michelle Donelan, Secretary of State for Science, Innovation and Technology: ")
    assert answer.text.count("Michelle Donelan") == 1  # named once for a run of her words
    assert_exact(assistant, answer)


def test_who_signed_a_foreword_is_answered_by_the_signature(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("Which minister signed the foreword of the UK AI regulation white paper?")
    assert answer.citations[0].quote == ("The Rt Hon Michelle Donelan MP,\n"
                                         "Secretary of State for Science, Innovation and Technology")


def test_a_sentence_that_counts_what_follows_brings_those_bullets(assistant):
    """"… we have defined AI by reference to the two characteristics …" is followed by two bullets, each
    with sub-bullets: the answer quotes the two, adaptivity and autonomy."""
    shared_corpus_or_skip()
    answer = assistant.ask("How does the UK white paper define artificial intelligence?")
    quotes = [" ".join(c.quote.split()) for c in answer.citations]
    at = next(i for i, q in enumerate(quotes) if "two characteristics" in q)
    assert quotes[at + 1].startswith("o The ‘adaptivity’ of AI") and quotes[at + 2].startswith("o The ‘autonomy’ of AI")
    assert_exact(assistant, answer)


def test_items_quoted_under_a_lead_in_keep_the_document_s_order(assistant):
    """The HLEG's key guidance bullets follow "… the seven key requirements …: (1) … (7) accountability."
    in the order the guidelines give them, not re-ranked by score."""
    shared_corpus_or_skip()
    answer = assistant.ask("What are the seven key requirements for trustworthy AI in the EU expert group's "
                           "ethics guidelines?")
    hleg = [c for c in answer.citations if c.doc_id == "eu-hleg-ethics-guidelines-trustworthy-ai-2019"]
    assert "(7) accountability." in hleg[0].quote
    assert [c.start for c in hleg] == sorted(c.start for c in hleg)
    assert_exact(assistant, answer)


def test_which_statute_is_answered_by_the_sentence_that_names_one(assistant):
    """The NIST AI RMF's neighbouring sentences are about risk management; the one that answers names
    an Act."""
    shared_corpus_or_skip()
    answer = assistant.ask("Which statute directs NIST to produce the AI Risk Management Framework?")
    assert "National Artificial Intelligence Initiative Act of 2020" in " ".join(answer.text.split())
    assert_exact(assistant, answer)


def test_whether_a_text_binds_is_answered_by_the_sentence_that_says_so(assistant):
    """"into legislation straight away" shares no word with "not ... on a statutory footing initially"."""
    shared_corpus_or_skip()
    answer = assistant.ask("Will the UK put its AI principles into legislation straight away?")
    text = " ".join(answer.text.split())
    assert "We will not put these principles on a statutory footing initially." in text
    assert "non-statutory basis" in text


def test_a_footnote_at_the_page_foot_is_not_the_next_item_of_a_list(assistant):
    """OMB M-24-10's "… includes the following": its items run over a page whose foot holds footnote 54."""
    shared_corpus_or_skip()
    answer = assistant.ask("How do the US, the EU and the UK each define artificial intelligence in their main "
                           "policy texts?")
    quotes = [c.quote for c in answer.citations]
    assert any("includes the following" in q for q in quotes), quotes  # the list is quoted ...
    assert not any(q.startswith("54 Pub. L. No.") for q in quotes), quotes  # ... without the footnote


def test_a_specific_question_about_an_article_quotes_the_provision_asked(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("Under Article 51, when is a general-purpose AI model presumed to have high-impact "
                           "capabilities?")
    assert "shall be presumed to have high impact capabilities" in answer.citations[0].quote
    assert (answer.citations[0].section or "").startswith("Art. 51")


def test_an_article_lookup_quotes_the_whole_list_of_the_article(assistant):
    """"What does Article 5 prohibit?" is answered with the article's items, (a) to (h), not the first
    three: point (e), untargeted scraping of facial images, is as much the answer as point (a)."""
    shared_corpus_or_skip()
    answer = assistant.ask("What does Article 5 of the EU AI Act prohibit?")
    quotes = " ".join(" ".join(c.quote.split()) for c in answer.citations)
    assert "subliminal techniques" in quotes and "untargeted scraping of facial images" in quotes
    assert all((c.section or "").startswith("Art. 5") for c in answer.citations)


def test_who_chairs_is_not_answered_by_the_member_list(assistant):
    """Section 12 lists thirty members after "(c) In addition to the Chair, ... the following members:";
    the chair is named in (b)."""
    shared_corpus_or_skip()
    answer = assistant.ask("Under Section 12 of EO 14110, who chairs the White House AI Council?")
    assert "Deputy Chief of Staff for Policy shall serve as Chair" in " ".join(answer.text.split())


def test_who_co_chairs_is_answered_by_the_line_that_gives_the_post(assistant):
    """EO 14080 Sec. 3(b) names the three Co-Chairs; (d), (e) and (f) say what "the Co-Chairs" may do,
    and (c) lists the other members."""
    shared_corpus_or_skip()
    answer = assistant.ask("Who co-chairs the CHIPS Implementation Steering Council?")
    text = " ".join(answer.text.split())
    assert "the Director of the Office of Science and Technology Policy shall serve as Co-Chairs" in text
    assert "the Secretary of State;" not in text


def test_a_question_about_a_subsection_quotes_that_subsection_first(assistant):
    """"Section 4(a)" is one provision of Section 4; (e) of the same section names the same Secretaries."""
    shared_corpus_or_skip()
    answer = assistant.ask("What does Section 4(a) of the January 2025 AI infrastructure order ask the Defense "
                           "and Energy Secretaries to do?")
    assert (answer.citations[0].section or "").startswith("Sec. 4(a)"), answer.citations[0]
    assert "minimum of 3 sites" in answer.citations[0].quote


def test_a_status_question_quotes_the_text_that_changes_the_document(assistant):
    """M-24-10 does not say it was to be revised; EO 14179 does."""
    shared_corpus_or_skip()
    answer = assistant.ask("Is OMB memo M-24-10 still the current guidance for federal agency use of AI?")
    assert any(c.doc_id == "us-eo-14179-2025" and "shall revise OMB Memoranda M-24-10" in " ".join(c.quote.split())
               for c in answer.citations), [c.quote for c in answer.citations]
    assert any(n.startswith("Status:") and "M-25-21" in n for n in answer.notes)


def test_a_status_question_about_part_of_a_revoked_order_quotes_the_revocation(assistant):
    """The order revoking EO 14110 never mentions the White House AI Council that EO 14110 set up;
    its revocation line answers "is the Council still a valid mandate?" all the same, and first."""
    shared_corpus_or_skip()
    answer = assistant.ask("Is the White House AI Council set up by EO 14110 still a valid legal mandate?")
    first = answer.citations[0]
    assert first.doc_id == "us-eo-14179-2025" and "revoked" in first.quote, first


def test_as_of_in_the_question_is_a_filter_not_a_topic(assistant):
    """"As of the end of 2022" restricts the sources to 2022 and earlier; left in the text it pulled the
    scoring towards dates, and the answer (the CHIPS Implementation Steering Council) was refused."""
    from rag.policy import as_of_in, without_as_of

    q = "As of the end of 2022, which body coordinated the federal implementation of the CHIPS Act?"
    assert as_of_in(q) == "2022-12-31"
    assert without_as_of(q) == "Which body coordinated the federal implementation of the CHIPS Act?"
    shared_corpus_or_skip()
    answer = assistant.ask(q)
    assert not answer.refused and "Steering Council" in answer.text
    assert all(c.date <= "2022-12-31" for c in answer.citations)
    assert any("2022-12-31" in n for n in answer.notes)


def test_an_acronym_is_answered_by_its_spelled_out_name(assistant):
    """"CHIPS" names two documents; the question is about the word itself, not those documents."""
    shared_corpus_or_skip()
    answer = assistant.ask("What does the acronym CHIPS stand for?")
    assert not answer.refused
    assert "Creating Helpful Incentives to Produce Semiconductors" in " ".join(answer.citations[0].quote.split())


def test_a_sentence_that_carries_the_answer_on_is_quoted_with_it(assistant):
    """"Chinese developers did not shake." is half an answer; the next sentence ("They preferred to bet on
    open source systems") is the other half."""
    answer = assistant.ask("How did Chinese developers react when OpenAI cut off China's access to its models?")
    assert "did not shake" in answer.text and "open source systems" in answer.text
    assert_exact(assistant, answer)


def test_numbers_come_verbatim_from_the_source(assistant):
    answer = assistant.ask("How much has China put into semiconductors since 2014?")
    assert "$ 100 billion" in answer.text
    assert any("$ 100 billion" in c.quote for c in answer.citations)
    assert_exact(assistant, answer)


def test_every_sentence_is_verified_and_cited(assistant):
    answer = assistant.ask("What did Chan say about investing and allocating resources?")
    assert answer.sentences and all(s.supported and s.citations for s in answer.sentences)
    assert {n for s in answer.sentences for n in s.citations} == {c.n for c in answer.citations}


def test_questions_the_sources_cannot_answer_are_refused(assistant):
    for q in ["What fine did Japan's AI law set?", "How many GPUs did DeepSeek use to train its model?"]:
        answer = assistant.ask(q)
        assert answer.refused, answer.text
        assert answer.text.startswith("The sources don't say") and not answer.citations
        assert answer.passages  # the nearest passages are still shown
        # A refusal cites nothing, so it states no number, date or title: where to look is a note.
        assert not re.search(r"\d", answer.text), answer.text
        assert any(n.startswith("Nearest passages (they do not answer the question): ") for n in answer.notes)


def test_the_eu_ai_act_ban_cites_article_5(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("What does the EU AI Act ban?")
    assert not answer.refused
    assert any((c.section or "").startswith("Art. 5") for c in answer.citations)
    assert answer.citations[0].tier == "binding law/regulation"
    assert_exact(assistant, answer)
    # Every prohibited practice, (a) to (h), at the list's own level: not the (i), (ii) inside (c).
    points = [c.section for c in answer.citations if re.fullmatch(r"Art\. 5\(1\)\([a-h]\)", c.section or "")]
    assert points == [f"Art. 5(1)({x})" for x in "abcdefgh"], [c.section for c in answer.citations]


def test_follow_up_is_rewritten_with_the_history():
    history = [{"role": "user", "content": "How does the US regulate facial recognition?"},
               {"role": "assistant", "content": "..."}]
    assert rewrite("And what about the EU?", history) == "How does the EU regulate facial recognition?"
    assert "Kyle Chan" in rewrite("What else did he say?", [{"role": "user", "content": "What did Kyle Chan say?"}])
    assert rewrite("What does the EU AI Act ban?", history) == "What does the EU AI Act ban?"


def test_revoked_order_is_flagged(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("Is Executive Order 14110 still in force?")
    assert any("revoked" in n for n in answer.notes)
    assert not answer.refused and any(c.doc_id == "us-eo-14179-2025" for c in answer.citations)
    before = assistant.ask("What did Executive Order 14110 require of developers of powerful AI models?", as_of="2024-06-30")
    assert not any("revoked" in n for n in before.notes)  # on that date it was in force
    assert all(c.date <= "2024-06-30" for c in before.citations)


def test_comparison_table_has_one_verified_row_per_jurisdiction(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("How do the US, EU and UK treat facial recognition?")
    assert [r["jurisdiction"] for r in answer.table] == ["United States", "European Union", "United Kingdom"]
    eu = answer.table[1]
    assert eu["citations"] and all(answer.citations[n - 1].doc_id.startswith("eu-") for n in eu["citations"])
    assert answer.text.startswith("| Jurisdiction |")
    for row in answer.table:
        assert row["citations"] or row["text"] == "not addressed in the sources"


def test_asked_to_define_ai_the_eu_cell_quotes_the_ai_system_definition(assistant):
    """The AI Act defines what it regulates, an 'AI system', not 'artificial intelligence'."""
    shared_corpus_or_skip()
    answer = assistant.ask("How do the US, the EU and the UK each define artificial intelligence?")
    eu = next(r for r in answer.table if r["label"] == "European Union")
    assert "‘AI system’ means a machine-based system" in eu["text"], eu


def test_a_comparison_of_two_named_documents_has_a_row_per_document(assistant):
    """"EO 14110 and the EU AI Act" name documents, not jurisdictions: each row is asked about its own
    document (the order's row quotes its 10^26 threshold, shown as a power, not as "1026")."""
    shared_corpus_or_skip()
    answer = assistant.ask("How do the compute thresholds for frontier models compare between Biden's EO 14110 "
                           "and the EU AI Act?")
    assert [r["label"] for r in answer.table] == ["EO 14110", "EU AI Act"]
    assert answer.text.startswith("| Document |")
    order, act = answer.table
    assert "10^26" in order["text"] and "1026" not in order["text"]
    assert all(answer.citations[n - 1].doc_id.startswith("us-eo-14110") for n in order["citations"])
    assert act["citations"] and all(answer.citations[n - 1].doc_id.startswith("eu-ai-act") for n in act["citations"])


def test_a_comparison_cell_without_the_topic_says_not_addressed(assistant):
    """No US document in the corpus speaks of regulatory sandboxes: the US cell must say so rather
    than quote the nearest US text; consultation questions ("What could government do ...?") are
    not evidence."""
    shared_corpus_or_skip()
    answer = assistant.ask("How do the US, the EU and the UK treat AI regulatory sandboxes?")
    us = [r for r in answer.table or [] if r["jurisdiction"] == "United States"]
    assert us and us[0]["text"] == "not addressed in the sources" and not us[0]["citations"], answer.table
    assert not any(c.quote.rstrip().endswith("?") for c in answer.citations)
    assert any("sandbox" in c.quote.lower() and c.doc_id.startswith("eu-ai-act") for c in answer.citations)


def test_partial_abstention_answers_what_it_can(assistant):
    shared_corpus_or_skip()
    answer = assistant.ask("What does the EU AI Act ban and what is the budget of Japan's AI office for 2026?")
    assert not answer.refused
    assert any((c.section or "").startswith("Art. 5") for c in answer.citations)
    assert answer.unanswered and "Japan" in answer.unanswered[0]
    assert "The sources don't say: What is the budget of Japan" in answer.text


def test_a_planted_wrong_number_never_reaches_the_reader(index_dir):
    llm = ScriptedLLM("Since 2014, the government has invested about $ 300 billion in the semiconductor industry [1]. "
                      "The Pentagon funds SMIC directly [2].")
    bot = Assistant.open(index_dir, llm=llm)
    answer = bot.ask("How much has China put into semiconductors since 2014?")
    assert "300" not in answer.text and "Pentagon" not in answer.text
    assert "$ 100 billion" in answer.text  # the verified quote took over
    assert any("could be verified" in n or "dropped" in n for n in answer.notes)


def test_a_faithful_model_answer_is_kept_with_exact_citations(index_dir):
    llm = ScriptedLLM("Since 2014, the Chinese government has invested about $100 billion in the semiconductor "
                      "industry [1].")
    bot = Assistant.open(index_dir, llm=llm)
    answer = bot.ask("How much has China put into semiconductors since 2014?")
    assert answer.text.startswith("Since 2014, the Chinese government has invested about $100 billion")
    assert answer.sentences[0].supported
    assert "$ 100 billion" in answer.citations[0].quote
    assert_exact(bot, answer)


def test_what_the_evaluation_rechecks_is_what_the_verifier_passed(index_dir):
    """Replies the bundled 135M model really gave (golden-set run): a source's title echoed as a
    'sentence', prompt markup, and a claim the cited sentence does not make. None reaches the
    reader; every sentence shown is supported by exactly the quotes it cites."""
    from rag.evaluation.harness import citation_scores

    llm = ScriptedLLM("China's state-backed push to become an AI power (2025)\n3. [1] "
                      "<source>\nUnlike the US, in China the government finances much of the infrastructure [2]. "
                      "This investment is a direct result of the government's efforts to promote the development "
                      "of advanced artificial intelligence systems [1].")
    bot = Assistant.open(index_dir, llm=llm)
    answer = bot.ask("How much did the Chinese government announce in April for AI startups?")
    assert "state-backed push to become an AI power (2025)" not in answer.text
    assert "<source>" not in answer.text and "direct result" not in answer.text
    if not answer.refused:
        faithfulness, recall, _precision = citation_scores(answer, bot.index.embedder)
        assert faithfulness == 1.0 and recall == 1.0
    assert_exact(bot, answer)


def test_a_model_sentence_that_only_says_the_question_back_is_not_an_answer(index_dir):
    """A reply the bundled 135M model gave: every word of it is the question's, so it passed as
    "supported" while answering nothing."""
    llm = ScriptedLLM("China gets training data that complies with censorship by the article [1].")
    bot = Assistant.open(index_dir, llm=llm)
    answer = bot.ask("How does China get training data that complies with censorship, according to the article?")
    assert "by the article" not in answer.text
    assert any("No sentence of the model's answer could be verified" in n for n in answer.notes), answer.notes


def test_the_quote_with_the_figure_follows_a_model_sentence_that_leaves_it_out(index_dir):
    """The model's sentence is true and verified, but says no amount; the quote that gives it follows."""
    llm = ScriptedLLM("The Chinese government has invested heavily in the semiconductor industry since 2014 [1].")
    bot = Assistant.open(index_dir, llm=llm)
    answer = bot.ask("How much has China put into semiconductors since 2014?")
    assert answer.text.startswith("The Chinese government has invested heavily in the semiconductor industry")
    assert answer.sentences[0].supported
    assert "$ 100 billion" in answer.text and any("$ 100 billion" in c.quote for c in answer.citations)
    assert_exact(bot, answer)


def test_a_dead_endpoint_falls_back_to_quotes(index_dir):
    bot = Assistant.open(index_dir, llm=ScriptedLLM(fail=True))
    answer = bot.ask("How much has China put into semiconductors since 2014?")
    assert "$ 100 billion" in answer.text
    assert any("language model failed" in n for n in answer.notes)


def test_streaming_yields_text_then_the_answer(assistant):
    items = list(assistant.stream("What did Kyle Chan say about state support?"))
    assert isinstance(items[-1], type(assistant.ask("What did Kyle Chan say about state support?")))
    assert "".join(i for i in items[:-1] if isinstance(i, str)).strip().startswith("“China is applying")


@pytest.mark.parametrize("question, message", [
    ("", "empty question"),
    ("   \n\t ", "empty question"),
    ("x" * 10_000_000, "over the"),
    ("\u202e\u200b\x07", "empty question"),
])
def test_bad_questions_get_one_line_errors(assistant, question, message):
    with pytest.raises(InputError, match=message) as info:
        assistant.ask(question)
    assert "\n" not in str(info.value)


def test_control_and_bidi_characters_are_removed(assistant):
    answer = assistant.ask("What did Kyle\u202e Chan\x00 say about state support?")
    assert not answer.refused and answer.citations[0].speaker == "Kyle Chan"


def test_pronouns_in_follow_ups_resolve_to_the_person_asked_about():
    history = [{"role": "user", "content": "What did Kyle Chan say about state support?"}]
    assert rewrite("What else did he say about investing?", history) == "What else did Kyle Chan say about investing?"
    laws = [{"role": "user", "content": "What fines does the EU AI Act set for prohibited practices?"}]
    assert rewrite("And what is the fine for misleading the authorities?", laws).endswith("(EU AI Act)?")

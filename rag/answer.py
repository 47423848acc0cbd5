"""The retrieval chain: retrieve, generate (or extract), verify every sentence, cite, or refuse.

Nothing reaches the user unverified: LLM output is streamed sentence by sentence, and each
sentence is shown only after the verifier has checked it against the exact quotes it cites.
A sentence that fails is dropped; if nothing survives, the extractive answer (verbatim quotes)
takes over, and if the sources do not cover the question at all, the answer is a refusal.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from . import evidence as ev
from .errors import LLMError
from .index import Index
from .llm import Generator, make_generator
from . import policy
from .retrieve import doc_aliases, doc_mentions, focus, named_groups, references
from .questions import clean_question, rewrite
from .prompts import NOT_IN_SOURCES, answer_messages
from .settings import Settings, get_settings
from .sentences import BULLETS, sentence_spans
from .speakers import mentioned_speakers, quotes_of, signature_span, signed_sections, speaker_at, speakers_near
from .structure import footnotes, in_footnote, label_at, top_level
from .types import Answer, Citation, Passage, SentenceCheck
from .faithfulness import is_claim
from .lexical import tokenize
from .verify import check_sentence, missing_facts

_MARK = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_SENT_END = re.compile(r"(?<=[.!?])[\"”’)]?(?:\s*\[\d+(?:\s*,\s*\d+)*\])*(?=\s|$)")
REFUSAL = "The sources don't say. None of the indexed documents answers this question"
NEAREST = "Nearest passages (they do not answer the question)"

# Answerability: below these, the best evidence does not address the question.
MIN_SIM = 0.40
MIN_SCORE = 0.42
FOOTNOTE_PENALTY = 0.1
COUNTED_LIST_BONUS = 0.2
ROLE_BONUS = 0.1
SIGNATURE_BONUS = 0.4


class Assistant:
    def __init__(self, index: Index, generator: Generator | None = None, settings: Settings | None = None):
        self.index = index
        self.generator = generator
        self.settings = settings or index.settings

    @classmethod
    def open(cls, index_dir: str | Path | None = None, llm: str | Generator | None = None,
             settings: Settings | None = None, **overrides: Any) -> "Assistant":
        settings = settings or get_settings(**overrides)
        index = Index.open(index_dir or settings.index, settings)
        if llm is None or isinstance(llm, str):
            mode = llm or settings.llm or DEFAULT_MODE
            gen = make_generator(mode, settings.model, settings.base_url, settings.api_key_env,
                                 settings.llm_timeout, settings.llm_retries)
        else:
            gen = llm
        return cls(index, gen, settings)

    @property
    def mode(self) -> str:
        return "extractive" if self.generator is None else self.generator.name

    def ask(self, question: str, history: list[dict[str, str]] | None = None,
            filters: dict[str, Any] | None = None, k: int | None = None, as_of: str | None = None) -> Answer:
        answer = None
        for item in self.stream(question, history, filters, k, as_of):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, history: list[dict[str, str]] | None = None,
               filters: dict[str, Any] | None = None, k: int | None = None,
               as_of: str | None = None) -> Iterator[str | Answer]:
        """Yield verified answer text as it is produced, then the final ``Answer``.

        The question is planned first (``policy.plan``): a comparison becomes one sub-question per
        jurisdiction, a multi-part question one per part; each is retrieved, answered and verified
        on its own, and parts the sources do not cover are named instead of guessed.
        """
        t0 = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        standalone = rewrite(question, history or [])
        filters = {key: v for key, v in (filters or {}).items() if v not in (None, "", [])}
        as_of = as_of or policy.as_of_in(standalone)
        if as_of:
            filters["as_of"] = [as_of]
        as_of = (ev_list(filters.get("as_of")) or [None])[0]
        the_plan = policy.plan(standalone, filters or None, named_groups(self.index, standalone))
        notes: list[str] = []
        if standalone != question:
            notes.append(f"Follow-up read as: {standalone}")
        if as_of:
            notes.append(f"Only sources published on or before {as_of} were used.")
        passages: list[Passage] = []
        drafts: list[Draft] = []
        unanswered: list[str] = []
        timings = {"retrieve": 0.0, "generate": 0.0}
        status_docs = [d for d in doc_mentions(self.index, standalone)
                       if policy.status(self.index.docs[d]["meta"])] if policy.asks_status(standalone) else []
        for part in the_plan.parts:
            t1 = time.perf_counter()
            query = part.question
            found = self.index.retrieve(query, k=k or max(self.settings.k, 6), filters=part.filters)
            quoted = self._speaker_passages(part.question, part.filters)
            found += [p for p in quoted if p.pid not in {f.pid for f in found}]
            found += self._list_continuations(found[:3], {f.pid for f in found})
            offset = len(passages)
            passages.extend(found)
            aliases = [a.lstrip("=").lower() for d in status_docs for a in doc_aliases(self.index)[d]]
            scored = self._score(query, found, the_plan.latest, aliases)
            if status_docs:
                _boost_status(scored, aliases)
            timings["retrieve"] += (time.perf_counter() - t1) * 1000
            t2 = time.perf_counter()
            # A question about what a quoted person said is answered by their quotes.
            # A document the reader named for a comparison row needs less to be quoted from: its best
            # on-topic sentence (checked below) is its cell, unless that is far from the question.
            named_row = the_plan.by == "document" and bool(scored) and scored[0].score >= MIN_SCORE - 0.1
            if not (answerable(part.question, scored, self.index) or (quoted and scored) or named_row):
                unanswered.append(part.label)
                continue
            if the_plan.kind == "comparison" and not any(e.coverage > 0 for e in scored[:3]):
                # A jurisdiction's cell must be about the topic, not merely the nearest text of that
                # jurisdiction: none of the best sentences uses a word of the question's topic.
                unanswered.append(part.label)
                continue
            limit = 2 if the_plan.kind == "comparison" else 3
            for d in self._drafts(part.question, found, scored, notes, limit):
                d.cited = [n + offset for n in d.cited]
                d.label = part.label
                drafts.append(d)
                if d.check.supported and the_plan.kind != "comparison":
                    yield d.text + "".join(f" [{n}]" for n in d.cited) + " "
            timings["generate"] += (time.perf_counter() - t2) * 1000
        answer = self._assemble(question, passages, drafts, notes, timings, t0)
        self._policy_notes(answer, standalone, as_of)
        if the_plan.kind == "comparison" and not answer.refused:
            _as_table(answer, [p.label for p in the_plan.parts], drafts, the_plan.by)
            yield answer.text
        elif unanswered and not answer.refused:
            answer.unanswered = unanswered
            tail = " ".join(f"The sources don't say: {u}" for u in unanswered)
            answer.text = f"{answer.text} {tail}"
            yield " " + tail
        elif answer.refused:
            yield answer.text
        yield answer

    def _speaker_passages(self, question: str, filters: dict[str, Any] | None, limit: int = 4) -> list[Passage]:
        """'What did Kyle Chan say about ...?': the passages holding that person's quotations."""
        from .retrieve import allowed_mask

        mask = allowed_mask(self.index, filters)
        out: list[Passage] = []
        # "Who signed the foreword of the white paper?": the signature that opens the foreword.
        signer = _ASKS_SIGNER.search(question)
        named = set(doc_mentions(self.index, question)) if signer else set()
        for doc_id, d in self.index.docs.items():
            signed = list(signed_sections(d["text"])) if doc_id in named or (signer and not named) else []
            for q in list(quotes_of(d["text"])) + signed:
                name = q.speaker
                if q not in signed and name not in question and not re.search(rf"\b{re.escape(name.split()[-1])}\b", question):
                    continue
                for pid in self.index.doc_pids.get(doc_id, ()):
                    row = self.index._rows[pid]
                    if row[2] <= q.start < row[3] and (mask is None or mask[pid]):
                        out.append(self.index.passage(int(pid)))
                        break
        return out[:limit]

    def _score(self, question: str, passages: list[Passage], latest: bool,
               status_aliases: list[str] | None = None) -> list[ev.Evidence]:
        asked_about = {doc_id: mentioned_speakers(question, self.index.docs[doc_id]["text"])
                       for doc_id in {p.doc_id for p in passages}}
        gathered = ev.gather(passages) + self._quotations(passages, asked_about)
        if _ASKS_SIGNER.search(question):
            gathered += self._signatures(passages)
        topic = focus(self.index, question)
        asked = sorted({n for names in asked_about.values() for n in names})
        if asked:
            # "What did Michelle Donelan say in the foreword about legislating?" is about legislating:
            # who said it is settled by attribution, and her signature line must not win on her name.
            topic = _without_speakers(topic, asked)
        scored = ev.score(topic, gathered, self.index.embedder)
        dates = sorted({p.date for p in passages if p.date})
        wanted = asked_count(question)
        asks_role = bool(_ASKS_ROLE.search(question))
        for e in scored:
            doc_text = self.index.docs[e.passage.doc_id]["text"]
            # Binding law outranks commentary saying the same; with "latest", newer outranks older.
            e.score += 0.01 * (4 - policy.tier(e.passage.meta))
            if in_footnote(footnotes(doc_text), e.start):
                e.score -= FOOTNOTE_PENALTY  # a PDF footnote (a reference, an aside) rarely is the answer
            if asked_about.get(e.passage.doc_id):
                # "Why, according to Chan, ...": that person's own quotations answer, not the narration.
                q = speaker_at(doc_text, e.start, e.end)
                if q and q.speaker in asked_about[e.passage.doc_id]:
                    e.score += 0.15
            if latest and e.passage.date and dates:
                e.score += 0.04 * dates.index(e.passage.date) / max(1, len(dates) - 1)
            if wanted and items_after(doc_text, e.start, e.end) == wanted:
                # "Which four ethical principles ...?": a lead-in followed by exactly four items is the list.
                e.score += COUNTED_LIST_BONUS
            if asks_role and _GIVES_ROLE.search(e.text):
                # "Who co-chairs the Steering Council?": the line that gives the post ("… shall serve as
                # Co-Chairs"), not the lines about what the Co-Chairs may do.
                e.score += ROLE_BONUS
            if e.signature:
                e.score += SIGNATURE_BONUS  # "Who signed the foreword?": the signature is the answer
        scored.sort(key=lambda e: (e.item, -e.score))  # a bare list item is quoted only under its lead-in
        # "Is the AI Council set up by EO 14110 still valid?": the order revoking EO 14110 never names
        # the Council, and is the answer all the same.
        says_status = (lambda e: _is_status(e, status_aliases)) if status_aliases else None
        return prefer_referenced(question, on_topic(question, scored, self.index, says_status), self.index)

    def _signatures(self, passages: list[Passage]) -> list[ev.Evidence]:
        """The signature lines ("The Rt Hon Michelle Donelan MP, / Secretary of State for ...") that
        open the signed forewords in these passages."""
        out = []
        for i, p in enumerate(passages):
            text = self.index.docs[p.doc_id]["text"]
            for q in signed_sections(text):
                s, e = signature_span(text, q)
                if p.start <= s and e <= p.end:
                    out.append(ev.Evidence(i, p, s, e, text[s:e], signature=True))
        return out

    def _list_continuations(self, top: list[Passage], have: set[int], more: int = 2) -> list[Passage]:
        """The next passages of the same article or section, after a passage that opens a list.

        "The following AI practices shall be prohibited:" is followed by items (a)-(h) that run
        over several passages; without them a list answer stops at (a).
        """
        out: list[Passage] = []
        for p in top:
            part = top_level(p.section)
            doc_text = self.index.docs[p.doc_id]["text"]
            if not part or not any(list_size(p.text[s:e], "", doc_text[p.start + e:p.start + e + 400])
                                   for s, e in sentence_spans(p.text)):
                continue
            pids = self.index.part_pids.get((p.doc_id, part), [])
            after = [pid for pid in pids if self.index._rows[pid][2] > p.start and pid not in have][:more]
            for pid in after:
                have.add(pid)
                out.append(self.index.passage(pid))
        return out

    def _quotations(self, passages: list[Passage], asked_about: dict[str, list[str]]) -> list[ev.Evidence]:
        """Whole quotations of the people a question asks about, with their attribution, as evidence.

        A quotation often spans two sentences ("“It's hard to know where to invest ... It is not
        stable like steel industry,” says Chan."); quoting one of them would cut the person off.
        """
        out: list[ev.Evidence] = []
        seen: set[tuple[str, int]] = set()
        for i, p in enumerate(passages):
            names = asked_about.get(p.doc_id)
            if not names:
                continue
            text = self.index.docs[p.doc_id]["text"]
            for q in quotes_of(text):
                if q.speaker not in names or not (p.start <= q.start and q.end <= p.end) or (p.doc_id, q.start) in seen:
                    continue
                seen.add((p.doc_id, q.start))
                stop = re.search(r"[.!?](?=\s|$)", text[q.end:p.end])
                end = q.end + stop.end() if stop and stop.start() < 200 else q.end
                out.append(ev.Evidence(i, p, q.start, end, text[q.start:end], quoted=q.speaker))
        return out

    def _drafts(self, question: str, passages: list[Passage], scored: list[ev.Evidence], notes: list[str],
                limit: int) -> Iterator["Draft"]:
        """LLM sentences as they are verified; quotes if there is no model or nothing verified.

        After a model's verified sentences come the quotes the extractive answer leads with, unless
        the model already cites those very words: a fluent sentence that leaves out the figure or
        the name the sources give must not hide it.
        """
        produced = False
        shown: list[tuple[str, int, int, str]] = []
        if self.generator is not None:
            try:
                for d in self._generate(question, passages, scored):
                    produced = produced or d.check.supported
                    if d.check.supported:
                        shown += [(passages[n - 1].doc_id, s, e, d.text) for n, (s, e) in zip(d.cited, d.spans or [])]
                    yield d
            except LLMError as e:
                if produced:
                    notes.append(f"The language model failed mid-answer ({e}); only its verified sentences are shown.")
                else:
                    notes.append(f"The language model failed ({e}); showing quotes from the sources instead.")
            if not produced and not any("language model failed" in n for n in notes):
                notes.append("No sentence of the model's answer could be verified against the sources; "
                             "showing quotes from the sources instead.")
        if not produced:
            yield from self._extract(question, scored, limit)
            return
        for x in self._extract(question, scored, limit):
            doc, (s, e) = passages[x.cited[0] - 1].doc_id, x.spans[0]
            # Skipped only where a model sentence cites these words and says what they say: their
            # figures and names, and most of their words.
            if not any(doc == d and s < e2 and s2 < e and not missing_facts(x.text, said) and _recall(x.text, said) >= 0.5
                       for d, s2, e2, said in shown):
                yield x

    def _policy_notes(self, answer: Answer, question: str, as_of: str | None) -> None:
        """Status of cited (or named) documents, and each citation's source tier."""
        cited = {c.doc_id for c in answer.citations}
        named = set(doc_mentions(self.index, question))
        for i, c in enumerate(answer.citations):
            meta = self.index.docs[c.doc_id]["meta"]
            st = policy.status_as_of(meta, as_of)
            answer.citations[i] = replace(c, tier=policy.tier_label(meta),
                                          status=st.describe(meta.get("title", c.doc_id)) if st else None)
        for doc_id in sorted(cited | named):
            meta = self.index.docs[doc_id]["meta"]
            st = policy.status_as_of(meta, as_of)
            if st and st.state != "in force":
                answer.notes.append("Status: " + st.describe(_short_title(meta.get("title", doc_id))))

    # ------------------------------------------------------------------ modes
    def _extract(self, question: str, scored: list[ev.Evidence], limit: int = 3) -> Iterator["Draft"]:
        """Quote-first answer: the best evidence sentences, verbatim, with their speakers.

        A sentence that introduces a list ("The following AI practices shall be prohibited:") brings
        the items that follow it in the same passage.
        """
        best = next((e.score for e in scored if not e.item), scored[0].score)
        chosen: list[ev.Evidence] = []
        listed = False  # a lead-in was quoted with its items: they keep the document's order
        for e in scored:
            if e.item:
                continue
            if len(chosen) >= limit or e.score < best - 0.3:
                break
            # What a person said is answered by their quotations, even ones the embedding ranks lower.
            if not e.quoted and e.score < best - 0.12:
                continue
            if any(c.passage.doc_id == e.passage.doc_id and e.start < c.end + 1 and c.start < e.end for c in chosen):
                continue
            if any(ev.display(c.text) == ev.display(e.text) for c in chosen):
                continue  # the same words repeated elsewhere in the document
            doc_text = self.index.docs[e.passage.doc_id]["text"]
            items = list_size(e.text, question, doc_text[e.end:e.end + 400])
            if items and _ONE_WHO.search(question):
                continue  # "Who chairs the Council?" is not answered by "… shall consist of the following members:"
            chosen.append(e)
            nxt = _continuation(e, scored, doc_text) if len(chosen) == 1 else None
            if nxt is not None and not items:
                chosen.append(nxt)
            if items:
                part = top_level(e.passage.section)
                notes = footnotes(doc_text)  # a footnote at the page's foot is not the list's next item
                following = sorted((x for x in scored if x.start > e.start and not x.quoted and (
                    x.passage is e.passage or (x.passage.doc_id == e.passage.doc_id and part is not None
                                               and top_level(x.passage.section) == part))
                    and not in_footnote(notes, x.start)),
                    key=lambda x: x.start)
                # Items are the sentences that open with an enumerator ("(b) Second, ...", "2.", "•"),
                # not the explanation under each; without enumerators, the sentences that follow.
                marked = [x for x in following if _ENUMERATOR.match(x.text)]
                # "o The 'adaptivity' of AI ...:" heads its own sub-bullets: with as many heads as items
                # asked for, the heads are the list.
                heads = [x for x in marked if x.text.rstrip().endswith(":")]
                marked = heads if len(heads) == items else marked
                # Items at the list's own level: "(a)", "(b)", "(c)", "(d)" ... not the "(i)", "(ii)" inside (c).
                level = _in_sequence(marked)
                marked = level if len(level) >= 2 else marked
                chosen.extend((marked if len(marked) >= 2 else following)[:items])
                listed = True
                break
        if not listed:
            chosen.sort(key=lambda c: (policy.tier(c.passage.meta), -c.score))
        said_by = None
        for e in chosen:
            text = ev.display(e.text)
            doc_text = self.index.docs[e.passage.doc_id]["text"]
            q = speaker_at(doc_text, e.start, e.end)
            if q and q.speaker.split()[-1] not in text and q.speaker != said_by:
                text = f"{q.speaker}{', ' + q.role if q.role else ''}: {text}"  # once per run of their words
            said_by = q.speaker if q else None
            check = SentenceCheck(text, (e.passage_index + 1,), True, round(e.score, 3), (), "verbatim quote")
            yield Draft(text, [e.passage_index + 1], check, [(e.start, e.end)])

    def _generate(self, question: str, passages: list[Passage], scored: list[ev.Evidence]) -> Iterator["Draft"]:
        """Stream the model's reply and verify it sentence by sentence.

        The prompt shows the passages holding the best evidence first, numbered [1]..[n]; ``view``
        maps those numbers back to positions in ``passages``.
        """
        n, chars = getattr(self.generator, "prompt_passages", (6, 1400))
        best: dict[int, float] = {}
        for e in scored:
            best[e.passage_index] = max(best.get(e.passage_index, -1.0), e.score)
        view = sorted(range(len(passages)), key=lambda i: -best.get(i, -1.0))[:n]
        messages = answer_messages(question, [passages[i] for i in view], chars)
        buffer = ""
        for piece in self.generator.stream(messages, max_tokens=320):
            buffer += piece
            while True:
                m = _SENT_END.search(buffer)
                if not m:
                    break
                sentence, buffer = buffer[: m.end()].strip(), buffer[m.end():]
                if sentence:
                    yield self._check(sentence, passages, view, question)
        if buffer.strip():
            yield self._check(buffer.strip(), passages, view, question)

    def _check(self, sentence: str, passages: list[Passage], view: list[int], question: str = "") -> "Draft":
        """Verify one model sentence against what it cites; an uncited one against each source shown."""
        marks = {int(n) for grp in _MARK.findall(sentence) for n in grp.split(",")}
        cited = sorted(view[n - 1] + 1 for n in marks if 1 <= n <= len(view))
        claim = _strip_marks(sentence)
        if NOT_IN_SOURCES.lower() in claim.lower() or len(claim) < 3:
            return Draft(claim, [], SentenceCheck(claim, (), False, 0.0, (), "model said the sources do not answer"))
        if len(tokenize(claim)) < 2 or not is_claim(claim):
            # "The answer is:" or "Yes." says nothing a quote could support: never shown as an answer.
            return Draft(claim, [], SentenceCheck(claim, (), False, 0.0, (), "not a claim"))
        if _WH.match(question) and not set(ev.content_terms(claim)) - set(tokenize(question)):
            # "China gets training data that complies with censorship by the article." only says the
            # question back: every word of it is the question's.
            return Draft(claim, [], SentenceCheck(claim, (), False, 0.0, (), "repeats the question"))
        leak = _instruction_leak(claim) or ("repeats a source's title" if _title_echo(claim, passages) else "")
        if leak:
            return Draft(claim, [], SentenceCheck(claim, (), False, 0.0, (), leak))
        evidence = lambda ns: [self._evidence_text(passages[n - 1]) for n in ns]  # noqa: E731
        if len(cited) > 1:
            together = check_sentence(claim, evidence(cited), self.index.embedder)
            if together.supported:
                return self._quoted(Draft(claim, cited, replace(together, text=claim, citations=tuple(cited))), passages)
        best: SentenceCheck | None = None
        best_n: list[int] = []
        for n in cited or [i + 1 for i in view]:
            check = check_sentence(claim, evidence([n]), self.index.embedder)
            if best is None or (check.supported, check.score) > (best.supported, best.score):
                best, best_n = check, [n]
        if best is None:
            return Draft(claim, [], SentenceCheck(claim, (), False, 0.0, (), "no source to check against"))
        if best.supported and _recall(claim, evidence(best_n)[0]) < 0.5:
            best = replace(best, supported=False, reason="most of its words are not in the cited source")
        reason = best.reason if cited else f"uncited sentence; {best.reason or 'matched to a source'}"
        if marks and not cited:
            reason = f"cited a source that does not exist ({', '.join(f'[{n}]' for n in sorted(marks))}); {reason}"
        return self._quoted(Draft(claim, best_n, replace(best, text=claim, citations=tuple(best_n), reason=reason)),
                            passages)

    def _quoted(self, d: "Draft", passages: list[Passage]) -> "Draft":
        """Choose the quotes a supported model sentence will show, and re-verify against exactly them.

        The sentence was accepted against whole passages (with titles and speakers); the reader sees
        the best sentence of each. Where that sentence alone does not carry it, the quote widens to
        the passage; where even the bare passages do not, the sentence is rejected. So what the
        evaluation re-checks from the citations is what the verifier passed, and nothing unverified
        is ever streamed.
        """
        if not d.check.supported or not d.cited:
            return d
        spans = []
        for n in d.cited:
            p = passages[n - 1]
            s, e = ev.best_span(p, d.text, self.index.embedder)
            if missing_facts(d.text, self.index.docs[p.doc_id]["text"][s:e]):
                s, e = p.start, p.end  # the shown quote must hold the sentence's facts: the whole passage
            spans.append((p, s, e))
        for candidate in (spans, [(p, p.start, p.end) for p, _s, _e in spans]):
            quotes = [ev.without_instructions(self.index.docs[p.doc_id]["text"][s:e]) for p, s, e in candidate]
            if check_sentence(d.text, quotes, self.index.embedder).supported:
                d.spans = [(s, e) for _p, s, e in candidate]
                return d
        d.check = replace(d.check, supported=False, reason="the quotes it would show do not support it")
        return d

    def _evidence_text(self, p: Passage) -> str:
        """A passage plus the attribution of any quotation in it (so 'Kyle Chan said' can be verified)."""
        doc_text = self.index.docs[p.doc_id]["text"]
        q = speaker_at(doc_text, p.start, p.end)
        where = f"\n({p.title}{', ' + p.section if p.section else ''}, {p.date})"
        return ev.without_instructions(p.text) + where + (f"\n(Quoted speaker: {q.speaker}, {q.role})" if q else "")

    # --------------------------------------------------------------- assembly
    def _assemble(self, question: str, passages: list[Passage], drafts: list["Draft"], notes: list[str],
                  timings: dict[str, float], t0: float) -> Answer:
        kept = [d for d in drafts if d.check.supported and d.cited]
        if not kept:
            return self._refusal(question, passages, notes, timings, t0)
        numbers: dict[tuple[str, int, int], int] = {}
        citations: list[Citation] = []
        lines: list[str] = []
        sentences: list[SentenceCheck] = []
        for d in kept:
            marks = []
            for i, n in enumerate(d.cited):
                p = passages[n - 1]
                s, e = d.spans[i] if d.spans else ev.best_span(p, d.text, self.index.embedder)
                key = (p.doc_id, s, e)
                if key not in numbers:
                    numbers[key] = len(numbers) + 1
                    citations.append(self._citation(numbers[key], p, s, e))
                marks.append(numbers[key])
            d.marks = marks
            lines.append(d.text + "".join(f" [{m}]" for m in marks))
            sentences.append(replace(d.check, text=d.text, citations=tuple(marks)))
        dropped = len(drafts) - len(kept)
        if dropped:
            notes.append(f"{dropped} sentence(s) of the draft answer were dropped: the cited sources do not support them.")
        timings["total"] = (time.perf_counter() - t0) * 1000
        return Answer(question, " ".join(lines), citations, False, passages, timings, sentences, self.mode, notes)

    def _citation(self, n: int, p: Passage, s: int, e: int) -> Citation:
        doc = self.index.docs[p.doc_id]
        text = doc["text"]
        q = speaker_at(text, s, e)
        page = self.index.document(p.doc_id).page_at(s) or p.page
        return Citation(n=n, doc_id=p.doc_id, title=p.title, quote=text[s:e], start=s, end=e, page=page,
                        date=p.date, source=p.source, speaker=q.speaker if q else None,
                        section=label_at(doc["marks"], s) if doc["marks"] else p.section)

    def _refusal(self, question: str, passages: list[Passage], notes: list[str],
                 timings: dict[str, float], t0: float) -> Answer:
        timings["total"] = (time.perf_counter() - t0) * 1000
        nearest = "; ".join(f"{p.title} ({p.section or 'p. ' + str(p.page) if p.page or p.section else p.date})"
                            for p in passages[:3])
        # The answer itself names nothing it does not cite (no titles, numbers or dates); where to
        # look next is a note.
        if nearest:
            notes = notes + [f"{NEAREST}: {nearest}."]
        return Answer(question, REFUSAL + ".", [], True, passages, timings, [], self.mode, notes)


DEFAULT_MODE = "extractive"


@dataclass
class Draft:
    """A candidate answer sentence, the passages it cites (1-based) and the verifier's verdict."""

    text: str
    cited: list[int]
    check: SentenceCheck
    spans: list[tuple[int, int]] | None = None  # exact quote offsets, when known (extractive)
    label: str = ""  # the sub-question (jurisdiction or part) it answers
    marks: list[int] = field(default_factory=list)  # final citation numbers, set by _assemble


NOT_ADDRESSED = "not addressed in the sources"
_URL = re.compile(r"https?://|www\.|!\[[^\]]*\]\(|\]\(", re.I)


def _recall(claim: str, evidence: str) -> float:
    """Share of the claim's content words found in the evidence."""
    words = tokenize(claim)
    have = set(tokenize(evidence))
    return sum(w in have for w in words) / len(words) if words else 0.0


_MARKUP = re.compile(r"</?\s*(?:source|passage|document|context|system|user|assistant)\b[^>]*>|^#{1,6}\s|\[/?INST\]", re.I | re.M)


def _title_echo(claim: str, passages: list[Passage]) -> bool:
    """A 'sentence' that is a source's title (with its date or a list number): metadata, not a claim."""
    words = tokenize(re.sub(r"\(\d{4}[^)]*\)|\b\d+\.", " ", claim))
    if not words:
        return True
    titles = {w for p in passages for w in tokenize(p.title)}
    return len(words) <= 16 and sum(w in titles for w in words) / len(words) >= 0.85


def _instruction_leak(claim: str) -> str:
    """Model output that repeats its instructions or carries links is never an answer sentence.

    Sources cannot ask for either: a link belongs in a citation (which carries the source URL),
    and the instructions are not a source.
    """
    if _URL.search(claim):
        return "contains a link (links are given by citations, never by answer text)"
    if _MARKUP.search(claim):
        return "contains prompt markup (<source> tags, headers), not prose"
    from .prompts import SYSTEM

    words = tokenize(claim)
    if words and sum(w in set(tokenize(SYSTEM)) for w in words) / len(words) >= 0.6:
        return "repeats the assistant's instructions"
    return ""
def _is_status(e: ev.Evidence, aliases: list[str]) -> bool:
    """A sentence that names the document and says it was revoked, replaced or is to be revised."""
    return bool(policy.STATUS_TEXT.search(e.text)) and any(a in e.text.lower() for a in aliases)


def _boost_status(scored: list[ev.Evidence], aliases: list[str]) -> None:
    """A sentence that names the document and says it was revoked/replaced answers a status question."""
    top = max([MIN_SCORE + 0.2] + [e.score for e in scored])
    for e in scored:
        if _is_status(e, aliases):
            e.score = max(e.score, top + 0.01)  # it answers "is it still in force?" before anything else
    scored.sort(key=lambda e: -e.score)


_ONE_WHO = re.compile(r"\bwho\s+(?!are\b|were\b|sits?\b|serve\b)[a-z-]+s\b", re.I)  # "who chairs", "who co-chairs"
_ASKS_ROLE = re.compile(r"\bwho\s+(?:will\s+|is\s+to\s+|shall\s+)?(?:co-?)?(?:chair|lead|head|direct|run|coordinate|oversee)s?\b",
                        re.I)
_WH = re.compile(r"\s*(?:what|how|which|who|whom|whose|when|where|why)\b", re.I)  # not "Is ...?", "Does ...?"
_ASKS_SIGNER = re.compile(r"\b(?:who|which\s+\w+)\b[^?]*\b(?:signed|signs|wrote|writes|written|authored)\b[^?]*\b(?:foreword|preface)\b"
                          r"|\bwhose\s+(?:foreword|preface)\b|\b(?:foreword|preface)\b[^?]*\b(?:signed|written)\s+by\b", re.I)
_GIVES_ROLE = re.compile(r"\b(?:serve|serves|act|acts)\s+as\s+(?:the\s+)?(?:co-?)?(?:chair|lead|head|director|coordinator)"
                         r"|\b(?:chaired|co-chaired|led|headed|directed)\s+by\b|\bshall\s+(?:co-?)?(?:chair|lead|head)\b", re.I)
_ANAPHOR = re.compile(r"(?:They|This|These|It|He|She|That|Those|Instead|But|However|Rather)\b")


def _without_speakers(question: str, names: list[str]) -> str:
    words = {w for n in names for w in (n, n.split()[-1])}
    pattern = r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")(?:['’]s)?\b"
    out = re.sub(pattern, " ", question)
    out = re.sub(r"\b(?:in|from)\s+(?:the|his|her|their)\s+(?:[\w-]+\s+){0,3}?(?:foreword|preface)\b", " ", out, flags=re.I)
    return " ".join(out.split()) or question


def _continuation(e: ev.Evidence, scored: list[ev.Evidence], doc_text: str) -> ev.Evidence | None:
    """The sentence right after ``e`` when it carries ``e`` on ("… did not shake. They preferred to
    bet on open source systems."): quoting the first alone answers with a half."""
    after = [x for x in scored if x.passage.doc_id == e.passage.doc_id and x.start >= e.end
             and not doc_text[e.end:x.start].strip() and not x.quoted]
    nxt = min(after, key=lambda x: x.start, default=None)
    return nxt if nxt is not None and _ANAPHOR.match(nxt.text) else None


def _as_table(answer: Answer, labels: list[str], drafts: list[Draft], by: str = "jurisdiction") -> None:
    """One verified, cited cell per jurisdiction (or named document); 'not addressed in the sources'
    where nothing holds. Each row has ``label`` and, under the name of what it is, the same label."""
    rows = []
    for label in labels:
        cell = [d for d in drafts if d.label == label and d.check.supported and d.marks]
        text = " ".join(d.text + "".join(f" [{m}]" for m in d.marks) for d in cell) or NOT_ADDRESSED
        rows.append({by: label, "label": label, "text": text, "citations": sorted({m for d in cell for m in d.marks})})
    answer.table = rows
    lines = [f"| {by.capitalize()} | What the sources say |", "|---|---|"]
    lines += [f"| {r['label']} | {r['text'].replace('|', '/')} |" for r in rows]
    answer.text = "\n".join(lines)
    answer.unanswered = [r["label"] for r in rows if r["text"] == NOT_ADDRESSED]


def _short_title(title: str) -> str:
    return title.split(":")[0].strip() if ":" in title[:60] else title


def ev_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_COUNT = re.compile(r"\b(" + "|".join(_COUNT_WORDS) + r"|\d{1,2})\s+(?:[a-z-]+\s+){0,2}?(?:[a-z-]+s)\b", re.I)


def _counts(text: str) -> list[int]:
    """The list sizes a text states: "the seven key requirements" -> [7] (2 to 10 only)."""
    counts = [int(_COUNT_WORDS.get(m.group(1).lower(), m.group(1))) for m in _COUNT.finditer(text)]
    return [n for n in counts if 2 <= n <= 10]


def asked_count(question: str) -> int | None:
    """"Which four ethical principles ...?" -> 4; None when the question counts nothing."""
    if not re.match(r"\s*(?:which|what|list|name|give)\b", question, re.I):
        return None
    counts = _counts(question)
    return counts[0] if len(counts) == 1 else None


_ITEM_LINE = re.compile(r"[^\S\n]*(?:o|" + BULLETS + r"|\(?(?:[a-z]|[ivx]{1,4}|\d{1,2})[.)])[^\S\n]+\S")
_INLINE_ITEM = re.compile(r"(?:^|[\s:;,])\((?:\d{1,2}|[a-z]|[ivx]{1,4})\)\s")


def items_after(doc_text: str, start: int, end: int) -> int:
    """How many items a sentence lists: inline ("(1) …, (2) …") or on the lines after its colon."""
    sentence = doc_text[start:end]
    inline = len(_INLINE_ITEM.findall(sentence))
    if not sentence.rstrip().endswith(":"):
        return inline
    n = 0
    for line in doc_text[end:end + 3000].split("\n")[1:]:
        if _ITEM_LINE.match(line):
            n += 1
        elif not (n and line.strip()[:1].islower()):  # an item's wrapped second line goes on
            break
    return n


def _in_sequence(items: list[ev.Evidence]) -> list[ev.Evidence]:
    """The items whose enumerators follow on from the first: (a), (b), (c), (d) or 1., 2., 3.;
    a sub-list's "(i)", "(ii)" between (c) and (d) is left out."""
    out: list[ev.Evidence] = []
    expect: str | None = None
    for x in items:
        m = re.match(r"\s*\(?([a-z]|\d{1,2})[.)]", x.text)
        if not m:
            continue
        tok = m.group(1)
        if expect is None or tok == expect:
            out.append(x)
            expect = str(int(tok) + 1) if tok.isdigit() else chr(ord(tok) + 1)
    return out


_ENUMERATOR = re.compile(r"\s*(?:\(?(?:[a-z]|[ivx]{1,4}|\d{1,2})[.)]\s|" + BULLETS + r"\s|o\s(?=[A-Z\u2018\u201c'\"])|(?:\([a-z]\)\s*)?"
                         r"(?:First|Second|Third|Fourth|Fifth|Sixth|Seventh|Finally)\b)")


def list_size(sentence: str, question: str, after: str = "") -> int:
    """How many items to quote after a sentence that introduces a list (0 when it introduces none).

    "The following AI practices shall be prohibited:" or "the following three objectives will
    guide ..." bring the items after them; as many as the lead-in or the question counts
    ("the seven key requirements"), else three. A sentence that counts ("by reference to the two
    characteristics ...") and is followed by bullets (``after``, the text after it) brings that many.
    """
    text = sentence.rstrip()
    if not (text.endswith(":") or re.search(r"\bthe following\b", text, re.I)):
        counted = _counts(text)
        if after and _ITEM_LINE.match(after.lstrip(" \t").lstrip("\n")) and len(counted) == 1:
            return counted[0]
        return 0
    counts = _counts(text) + _counts(question)
    if counts:
        return min(max(counts), 8)
    # "What does Article 5 prohibit?" asks for the provision, all of it; otherwise the first three.
    return 8 if _asks_whole_provision(question) else 3


def on_topic(question: str, scored: list[ev.Evidence], index: Index,
             keep_anyway: Callable[[ev.Evidence], bool] | None = None) -> list[ev.Evidence]:
    """Evidence from passages that mention every name and number the question asks about.

    "What fine did Japan's AI law set?" must not be answered from a passage about EU fines that
    happens to sit near a sentence mentioning Japan.
    """
    if not ev.entities(question):
        return scored
    keep = []
    for e in scored:
        p = e.passage
        doc = index.docs[p.doc_id]
        speakers = " ".join(speakers_near(doc["text"], p.start, p.end))
        # Where the passage sits counts too: "(b) the placing on the market ..." is in Article 5.
        context = f"{p.text} {p.title} {p.section or ''} {policy.issuer(doc['meta'])} {p.doc_id} {p.date} {speakers}"
        if not ev.missing_entities(question, [context]) or (keep_anyway and keep_anyway(e)):
            keep.append(e)
    return keep


_REF_WORDS = re.compile(r"\b(?:article|art|section|sec|annex|recital|of the|eu|eo|ai act|say|says|said|cover|covers|"
                        r"contain|contains|prohibit|prohibits|ban|bans|establish|establishes)\b", re.I)


def _asks_whole_provision(question: str) -> bool:
    """"What does Article 5 prohibit?" reads the article; "Under Section 12, who chairs the Council?"
    asks one thing in it."""
    asked = [t for t in ev.content_terms(_REF_WORDS.sub(" ", question)) if not re.search(r"\d", t)]
    whole = references(question) or re.search(r"\b(?:ban|bans|banned|prohibit|prohibits|forbid|forbids)\b", question, re.I)
    return bool(whole) and len(asked) <= 1  # "What does the EU AI Act ban?": every prohibited practice


def prefer_referenced(question: str, scored: list[ev.Evidence], index: Index | None = None) -> list[ev.Evidence]:
    """'What does Article 5 say?': the referenced article's own sentences, in order, come first.

    'What does Section 4(a) ask?' puts the sentences of 4(a) itself before the rest of Section 4.
    """
    refs = references(question)
    if not refs:
        return scored

    def label(e: ev.Evidence) -> str | None:
        """Where the sentence itself sits (a passage can start in Sec. 11 and run into Sec. 12)."""
        marks = index.docs[e.passage.doc_id].get("marks") if index is not None else None
        return label_at(marks, e.start) if marks else e.passage.section

    inside = [e for e in scored if top_level(label(e)) in refs and label(e) is not None]
    if not inside:
        return scored
    # "What does Article 5 prohibit?" reads the article in order; "Under Article 51, when is a model
    # presumed to have high-impact capabilities?" asks for one provision of it: best match first.
    if _asks_whole_provision(question):
        inside.sort(key=lambda e: (e.passage.doc_id, e.start))
    precise = [r for r in references(question, precise=True) if r not in refs]
    if precise:
        def within(e: ev.Evidence) -> bool:
            return any(label(e) == r or (label(e) or "").startswith(r + "(") for r in precise)
        inside = [e for e in inside if within(e)] + [e for e in inside if not within(e)]
    for e in inside:
        e.score = max(e.score, MIN_SCORE + 0.1)
    rest = [e for e in scored if e not in inside]
    return inside + rest


def answerable(question: str, scored: list[ev.Evidence], index: Index) -> bool:
    if not scored:
        return False
    top = scored[0]
    return top.sim >= MIN_SIM or top.score >= MIN_SCORE


def _strip_marks(sentence: str) -> str:
    return _MARK.sub("", sentence).strip()

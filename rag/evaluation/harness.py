"""Run a golden set through the assistant and score every answer.

Faithfulness and citation quality are recomputed here from the answer's own citations with the
same verifier the answerer uses (``rag.verify``), rather than trusting the answerer's verdicts:
one implementation, two uses, and the harness would notice if the answerer skipped a check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..answer import Assistant, rewrite
from ..verify import check_sentence, without_attribution
from .. import policy
from ..retrieve import named_groups
from . import metrics as m
from .golden import Item

SKIP_NO_DOC = "gold document not in the index"


@dataclass
class Result:
    item: Item
    record: dict[str, Any]


def citation_scores(answer, embedder) -> tuple[float, float, float]:
    """(faithfulness, citation recall, citation precision) in the ALCE sense.

    recall: share of sentences supported by the union of their citations' quotes.
    precision: share of citations that are needed — they support the sentence alone, or the
    sentence stops being supported without them.
    """
    quotes = {c.n: c.quote for c in answer.citations}
    sentences = answer.sentences
    if not sentences:
        return 0.0, 0.0, 0.0
    supported = 0
    needed = total = 0
    speakers = {c.n: c.speaker for c in answer.citations if c.speaker}
    for s in sentences:
        cited = [quotes[n] for n in s.citations if n in quotes]
        text = without_attribution(s.text, [speakers[n] for n in s.citations if n in speakers])
        ok = bool(cited) and check_sentence(text, cited, embedder).supported
        supported += ok
        for i, q in enumerate(cited):
            total += 1
            alone = check_sentence(text, [q], embedder).supported
            rest = cited[:i] + cited[i + 1:]
            without = bool(rest) and check_sentence(text, rest, embedder).supported
            needed += alone or (ok and not without)
    recall = supported / len(sentences)
    return recall, recall, (needed / total if total else 0.0)


def retrieve_as_answered(assistant: Assistant, question: str, k: int, filters: dict[str, Any] | None):
    """The passages the answerer reads: one retrieval per planned sub-question, interleaved by rank."""
    plan = policy.plan(question, filters, named_groups(assistant.index, question))
    lists = [assistant.index.retrieve(part.question, k=k, filters=part.filters) for part in plan.parts]
    out, seen = [], set()
    for rank in range(k):
        for found in lists:
            if rank < len(found) and found[rank].pid not in seen:
                seen.add(found[rank].pid)
                out.append(found[rank])
    return out


def evaluate_item(assistant: Assistant, item: Item, k: int = 10) -> dict[str, Any]:
    index = assistant.index
    rec: dict[str, Any] = {"id": item.id, "type": item.type, "question": item.question,
                           "answerable": item.answerable}
    missing = [d for d in item.doc_ids if d not in index.docs]
    if missing:
        rec["skipped"] = f"{SKIP_NO_DOC}: {', '.join(missing)}"
        return rec
    filters = {"as_of": item.extra["as_of"]} if item.extra.get("as_of") else None
    t0 = time.perf_counter()
    answer = assistant.ask(item.question, history=item.history or None, filters=filters)
    rec["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    rec["answer"] = answer.text
    rec["refused"] = answer.refused
    rec["notes"] = answer.notes
    rec["citations"] = [{"n": c.n, "doc_id": c.doc_id, "quote": c.quote, "start": c.start, "end": c.end,
                         "section": c.section, "speaker": c.speaker, "page": c.page} for c in answer.citations]
    # Every citation quote must be an exact substring of its document at its offsets.
    rec["quotes_exact"] = all(index.docs[c.doc_id]["text"][c.start:c.end] == c.quote for c in answer.citations)
    gold = [(g.doc_id, s, e) for g in item.gold for s, e in m.gold_spans(index.docs[g.doc_id]["text"], g.quote)]
    if item.answerable and gold:
        passages = retrieve_as_answered(assistant, rewrite(item.question, item.history), k, filters)
        rel = m.relevance([(p.doc_id, p.start, p.end) for p in passages], gold)
        rec.update({"hit@1": m.hit_at(rel, 1), "hit@5": m.hit_at(rel, 5), "mrr": m.mrr(rel, k),
                    "ndcg@10": m.ndcg(rel, len(item.gold), k)})
        rec["cites_gold"] = any(c.doc_id == d and m.overlaps((c.start, c.end), (s, e), 0.3) or
                                c.doc_id == d and m.overlaps((s, e), (c.start, c.end), 0.5)
                                for c in answer.citations for d, s, e in gold)
    if item.answerable:
        found = [f for f in item.facts if m.contains_fact(answer.text, f)]
        rec["facts_found"] = len(found)
        rec["facts_total"] = len(item.facts)
        rec["correct"] = (not answer.refused) and len(found) == len(item.facts)
    else:
        rec["refusal_ok"] = answer.refused
    if not answer.refused:
        faith, recall, precision = citation_scores(answer, index.embedder)
        rec.update({"faithfulness": faith, "citation_recall": recall, "citation_precision": precision})
    if item.extra.get("speaker") and not answer.refused:
        rec["speaker_ok"] = any(c.speaker == item.extra["speaker"] for c in answer.citations)
    if item.extra.get("section") and not answer.refused:
        want = str(item.extra["section"])
        rec["pinpoint_ok"] = any((c.section or "").startswith(want) for c in answer.citations)
    if item.extra.get("status"):
        rec["status_ok"] = m.mentions_status(answer.text + " " + " ".join(answer.notes))
    return rec


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in records if "skipped" not in r]

    def mean(key: str, rows=None) -> float | None:
        vals = [float(r[key]) for r in (rows if rows is not None else done) if key in r]
        return round(sum(vals) / len(vals), 4) if vals else None

    answerable = [r for r in done if r["answerable"]]
    unanswerable = [r for r in done if not r["answerable"]]
    lat = [r["latency_ms"] for r in done if "latency_ms" in r]
    out: dict[str, Any] = {
        "questions": len(records), "evaluated": len(done), "skipped": len(records) - len(done),
        "hit@1": mean("hit@1"), "hit@5": mean("hit@5"), "mrr": mean("mrr"), "ndcg@10": mean("ndcg@10"),
        "correctness": mean("correct", answerable), "cites_gold": mean("cites_gold"),
        "faithfulness": mean("faithfulness"), "citation_recall": mean("citation_recall"),
        "citation_precision": mean("citation_precision"),
        "refusal_accuracy": mean("refusal_ok", unanswerable),
        "false_refusal_rate": round(sum(r["refused"] for r in answerable) / len(answerable), 4) if answerable else None,
        "quotes_exact": mean("quotes_exact"), "speaker_accuracy": mean("speaker_ok"),
        "pinpoint_accuracy": mean("pinpoint_ok"), "status_mention": mean("status_ok"),
        "latency_p50_ms": round(m.percentile(lat, 0.5), 1), "latency_p95_ms": round(m.percentile(lat, 0.95), 1),
    }
    by_type: dict[str, dict[str, Any]] = {}
    for t in sorted({r["type"] for r in done}):
        rows = [r for r in done if r["type"] == t]
        by_type[t] = {"n": len(rows), "hit@5": mean("hit@5", rows), "correctness": mean("correct", rows),
                      "refusal_accuracy": mean("refusal_ok", rows), "faithfulness": mean("faithfulness", rows)}
    out["by_type"] = by_type
    return out


def run(assistant: Assistant, items: list[Item], progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    records = []
    for i, item in enumerate(items):
        if progress:
            progress(i, len(items))
        records.append(evaluate_item(assistant, item))
    if progress:
        progress(len(items), len(items))
    return {"mode": assistant.mode, "index": str(assistant.index.path), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "metrics": summarise(records), "items": records}


def save_json(path: Path, data: Any) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")

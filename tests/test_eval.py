"""The evaluation harness: metric definitions, the regression gate, and a real run on the golden set."""

from __future__ import annotations

import copy
import json

from rag.evaluation import gate, golden, harness
from rag.evaluation import metrics as m
from rag.evaluation import report

from .conftest import ROOT


def test_retrieval_metrics():
    rel = m.relevance([("a", 0, 100), ("b", 0, 50), ("a", 500, 600)], [("a", 520, 560)])
    assert rel == [0, 0, 1]
    assert m.hit_at(rel, 2) == 0 and m.hit_at(rel, 3) == 1
    assert m.mrr(rel) == 1 / 3
    assert 0 < m.ndcg(rel, 1) < 1
    assert m.contains_fact("invested about $100 billion", "$ 100 billion")


def _run(items):
    return {"mode": "x", "created": "now", "metrics": harness.summarise(items), "items": items}


def test_gate_fails_and_names_the_questions_that_regressed():
    items = [{"id": f"q{i}", "type": "fact", "question": f"question {i}", "answerable": True, "refused": False,
              "correct": True, "hit@5": 1.0, "latency_ms": 100.0, "faithfulness": 1.0} for i in range(10)]
    base = gate.baseline_from(_run(items))
    worse = copy.deepcopy(items)
    for r in worse[:3]:
        r["correct"], r["hit@5"] = False, 0.0
    failures, changes = gate.compare(_run(worse), base)
    assert any(f.startswith("correctness fell from 1.000 to 0.700") for f in failures)
    assert any(f.startswith("hit@5 fell") for f in failures)
    assert [c.split()[1] for c in changes] == ["q0", "q1", "q2"] and all(c.startswith("WORSE") for c in changes)
    assert gate.compare(_run(items), base) == ([], [])


def test_reports_are_written(tmp_path):
    items = [{"id": "q1", "type": "fact", "question": "q", "answerable": True, "refused": False, "correct": True,
              "hit@5": 1.0, "latency_ms": 120.0}]
    run = _run(items)
    paths = report.write(tmp_path, run, gate.baseline_from(run), [], [])
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and len(paths) == 3
    assert json.loads((tmp_path / "results.json").read_text())["metrics"]["correctness"] == 1.0


def test_a_real_run_on_seed_article_questions(index_dir):
    from rag.answer import Assistant

    items = [i for i in golden.load(ROOT / "eval" / "golden.jsonl")
             if all(g.doc_id == "000_2a757378fe6c6261" for g in i.gold) and i.answerable][:4]
    run = harness.run(Assistant.open(index_dir), items)
    assert run["metrics"]["quotes_exact"] == 1.0
    assert run["metrics"]["hit@5"] >= 0.75
    assert all("latency_ms" in r for r in run["items"])

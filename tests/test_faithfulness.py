"""The response-level faithfulness scorer: packaged model, behaviour on a real source, CLI records,
and its measured quality on a RAGTruth slice that training never saw."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.faithfulness import (
    MODEL_PATH, RESPONSE_FEATURES, SENTENCE_FEATURES, FaithfulnessScorer, content_words, flatten_context,
    score_records,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED_TEXT = (ROOT / "corpus" / "000_2a757378fe6c6261.md").read_text(encoding="utf-8").split("---", 2)[2]

FAITHFUL = ("Kyle Chan, an associate researcher at Rand Corp., says China is applying state support throughout "
            "the AI technology chain, from chips and data centers to energy. Since 2014, the government has "
            "invested about $100 billion in the semiconductor industry, and in April it announced $8.5 billion "
            "for AI startups.")
FABRICATED = ("Kyle Chan, a professor at Harvard University, says China has stopped funding AI chips altogether. "
              "Since 2019, the government has invested about $300 billion in quantum computing, mostly through "
              "Tencent and Baidu.")


@pytest.fixture(scope="module")
def scorer() -> FaithfulnessScorer:
    return FaithfulnessScorer.load()


def test_packaged_model_is_plain_json_with_the_code_s_features() -> None:
    raw = MODEL_PATH.read_text(encoding="utf-8")
    model = json.loads(raw)  # JSON, not pickle: safe to load, reviewable in a diff
    for part, names in (("sentence", SENTENCE_FEATURES), ("response", RESPONSE_FEATURES)):
        m = model[part]
        assert m["features"] == names
        assert len(m["coef"]) == len(m["mean"]) == len(m["scale"]) == len(names)
        assert all(math.isfinite(v) for v in m["coef"] + [m["intercept"]])
        assert 0.0 < m["threshold"] < 1.0


def test_a_faithful_paraphrase_scores_higher_than_a_fabrication(scorer: FaithfulnessScorer) -> None:
    good = scorer.score(FAITHFUL, SEED_TEXT)
    bad = scorer.score(FABRICATED, SEED_TEXT)
    assert good.score > bad.score
    assert not good.hallucinated and good.unsupported == []
    assert bad.hallucinated
    assert len(bad.unsupported) == 2
    assert "Harvard University" in bad.sentences[0].missing
    assert {"2019", "$300 billion"} <= set(bad.sentences[1].missing)


def test_scores_are_probabilities_and_sentences_are_explained(scorer: FaithfulnessScorer) -> None:
    result = scorer.score(FAITHFUL, [SEED_TEXT], question="How much has China invested in chips?")
    assert 0.0 <= result.score <= 1.0
    assert [s.supported for s in result.sentences] == [True, True]
    assert all(s.reason for s in result.sentences)


def test_structured_context_is_flattened_to_key_value_lines() -> None:
    [text] = flatten_context({"name": "Finch & Fork", "attributes": {"OutdoorSeating": False}, "hours": ["9-5"]})
    assert "name: Finch & Fork" in text and "attributes Outdoor Seating: no" in text and "hours: 9-5" in text


def test_score_records_round_trip(scorer: FaithfulnessScorer) -> None:
    records = [
        {"id": "good", "question": "Who is Kyle Chan?", "context": [SEED_TEXT], "answer": FAITHFUL},
        {"id": "bad", "context": SEED_TEXT, "answer": FABRICATED},
        {"id": 3, "context": json.dumps({"name": "Finch & Fork", "city": "Santa Barbara"}),
         "answer": "Finch & Fork is in Santa Barbara."},
    ]
    out = list(score_records(records, scorer))
    assert [r["id"] for r in out] == ["good", "bad", 3]
    for r in out:
        assert set(r) == {"id", "score", "hallucinated", "unsupported"}
        assert 0.0 <= r["score"] <= 1.0 and isinstance(r["hallucinated"], bool)
        assert json.loads(json.dumps(r)) == r  # what `rag eval faithfulness --json` prints
    assert out[0]["score"] > out[1]["score"] and out[1]["hallucinated"] and out[1]["unsupported"]
    assert not out[2]["hallucinated"]


@pytest.mark.slow
def test_ragtruth_held_out_slice_beats_word_overlap() -> None:
    if not (SHARED / "datasets" / "ragtruth").is_dir():
        pytest.skip(f"{SHARED}/datasets/ragtruth is absent: the RAGTruth check needs the shared datasets")
    from sklearn.metrics import roc_auc_score

    sys.path.insert(0, str(ROOT / "eval" / "faithfulness"))
    import train  # the same loader and held-out slice definition the model was trained with

    responses = [r for r in train.load() if train.held_out(r)]
    assert len({r.group for r in responses}) == 2 * train.HELD_OUT_SOURCES
    y = np.array([r.label for r in responses])
    scorer = FaithfulnessScorer.load()
    ours = np.array([1.0 - scorer.score(r.text, r.passages).score for r in responses])
    overlap = []
    for r in responses:
        context = set(content_words("\n".join(r.passages)))
        words = set(content_words(r.text))
        overlap.append(1.0 - len(words & context) / max(len(words), 1))
    auroc, baseline = roc_auc_score(y, ours), roc_auc_score(y, overlap)
    assert auroc > 0.70 or auroc > baseline, f"AUROC {auroc:.3f} vs content-word overlap {baseline:.3f}"

"""The index over the real corpus: exact offsets, whole sentences, filters, incremental and atomic builds."""

from __future__ import annotations

import json
import shutil

import pytest

from rag.errors import IndexMissingError
from rag.index import Index
from rag.sentences import sentence_spans

from .conftest import CORPUS, SEED_ID, shared_corpus_or_skip
from .docs import write_pdf


def test_every_passage_is_an_exact_slice_of_its_document(policy_index):
    for pid in range(len(policy_index)):
        p = policy_index.passage(pid)
        doc = policy_index.document(p.doc_id)
        assert doc.text[p.start:p.end] == p.text
        assert p.text.strip() == p.text and p.text


def test_offsets_point_into_the_source_files_themselves(policy_index):
    """What the user opens (the file) holds each passage at a fixed shift: the front matter."""
    from rag.ingest.metadata import split_front_matter

    for doc_id, d in policy_index.docs.items():
        raw = open(d["path"], encoding="utf-8").read()
        shift = len(raw) - len(split_front_matter(raw)[1])
        p = policy_index.passage(int((policy_index.doc_of == doc_id).argmax()))
        assert raw[shift + p.start: shift + p.end] == p.text


def test_passages_never_cut_a_sentence_and_fit_the_model(policy_index):
    tok = policy_index.embedder
    for doc_id in policy_index.docs:
        text = policy_index.document(doc_id).text
        spans = sentence_spans(text)
        starts, ends = {s for s, _ in spans}, {e for _, e in spans}
        passages = [policy_index.passage(i) for i, d in enumerate(policy_index.doc_of) if d == doc_id]
        for p in passages:
            for edge, ok in ((p.start, p.start in starts), (p.end, p.end in ends)):
                if ok:
                    continue
                # Only a "sentence" longer than the model can read (a list with no full stop) is split.
                s, e = next((s, e) for s, e in spans if s <= edge <= e)
                assert tok.count_tokens([text[s:e]])[0] > 250, (doc_id, text[s:e][:80])
        sizes = tok.count_tokens([p.text for p in passages])
        assert sum(n > 256 for n in sizes) / len(sizes) < 0.03, doc_id


def test_consecutive_passages_overlap_and_lose_no_text(policy_index):
    text = policy_index.document(SEED_ID).text
    pids = [i for i, d in enumerate(policy_index.doc_of) if d == SEED_ID]
    ps = [policy_index.passage(i) for i in pids]
    for a, b in zip(ps, ps[1:]):
        assert b.start <= a.end, "a gap between passages would lose text"
    assert ps[0].start == 0 and ps[-1].end == len(text.rstrip())


def test_passages_carry_metadata_and_pinpoints(policy_index):
    shared_corpus_or_skip()
    hits = policy_index.retrieve("What does Article 5 of the EU AI Act prohibit?", k=5)
    art5 = [p for p in hits if (p.section or "").startswith("Art. 5")]
    assert art5, [p.section for p in hits]
    p = art5[0]
    assert p.doc_id == "eu-ai-act-regulation-2024-1689"
    assert p.jurisdiction == "European Union" and p.doc_type == "regulation" and p.date == "2024-06-13"
    assert p.page and p.source.startswith("http")


def test_retrieves_the_seed_article_answers(policy_index):
    hits = policy_index.retrieve("How much has China invested in the semiconductor industry since 2014?", k=5)
    assert any("$ 100 billion" in p.text for p in hits)
    hits = policy_index.retrieve("What did Kyle Chan say about state support?", k=5)
    assert hits[0].doc_id == SEED_ID and "state support" in hits[0].text


def test_filters_restrict_by_metadata(policy_index):
    shared_corpus_or_skip()
    q = "requirements for high-risk AI systems"
    for filters, check in [
        ({"jurisdiction": ["UK"]}, lambda p: p.jurisdiction.startswith("United Kingdom")),
        ({"doc_type": ["executive-order"]}, lambda p: p.doc_type == "executive-order"),
        ({"doc_id": ["us-omb-m-24-10-2024"]}, lambda p: p.doc_id == "us-omb-m-24-10-2024"),
        ({"date_from": ["2024-01-01"], "date_to": ["2024-12-31"]}, lambda p: p.date.startswith("2024")),
    ]:
        hits = policy_index.retrieve(q, k=5, filters=filters)
        assert hits and all(check(p) for p in hits), filters
    assert policy_index.retrieve(q, filters={"jurisdiction": ["Atlantis"]}) == []


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index build"):
        Index.open(tmp_path / "nowhere")


def test_incremental_build_embeds_only_what_changed(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(CORPUS, src)
    (src / "note.md").write_text("---\ntitle: Note\ndoc_type: memo\n---\nThe memo sets a budget of $7 million.\n")
    idx, first = Index.build([src], tmp_path / "ix")
    assert sorted(first.added) == sorted([SEED_ID, "note"]) and first.embedded == len(idx)
    _, again = Index.build([src], tmp_path / "ix")
    assert again.embedded == 0 and sorted(again.unchanged) == sorted([SEED_ID, "note"])
    (src / "note.md").write_text("---\ntitle: Note\ndoc_type: memo\n---\nThe memo now sets $9 million.\n")
    (src / "extra.txt").write_text("A second note about export controls on advanced chips.\n")
    idx, third = Index.build([src], tmp_path / "ix")
    assert third.updated == ["note"] and third.added == ["extra"] and third.embedded == 2
    (src / "extra.txt").unlink()
    idx, fourth = Index.build([src], tmp_path / "ix")
    assert fourth.removed == ["extra"] and "extra" not in idx.docs
    assert "$9 million" in idx.retrieve("memo budget", k=1)[0].text


def test_adding_a_file_with_a_taken_name_keeps_both(tmp_path):
    """Two reports both called report.md: adding the second must not silently replace the first;
    re-adding the first (changed) refreshes it under its own id."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "report.md", tmp_path / "b" / "report.md"
    first.write_text("# A\nThe first report counts 12 regulators.\n")
    second.write_text("# B\nThe second report counts 40 inspectors.\n")
    Index.build([first], tmp_path / "ix")
    idx, rep = Index.add([second], tmp_path / "ix")
    assert len(idx.docs) == 2 and "report" in idx.docs and rep.added and rep.added[0].startswith("report-")
    assert "12 regulators" in idx.document("report").text
    first.write_text("# A\nThe first report now counts 13 regulators.\n")
    idx, rep = Index.add([first], tmp_path / "ix")
    assert rep.updated == ["report"] and len(idx.docs) == 2
    assert "13 regulators" in idx.document("report").text


def test_bad_files_are_reported_and_the_rest_indexed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.md").write_text("# Good\nThe regulation applies from 2 August 2026.\n")
    (src / "empty.txt").write_bytes(b"")
    (src / "binary.md").write_bytes(bytes(range(256)) * 10)
    (src / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (src / "data.xyz").write_text("unknown")
    write_pdf(src / "real.pdf", ["The agency must publish an inventory.", "Page two: deadlines."])
    idx, report = Index.build([src], tmp_path / "ix")
    assert sorted(idx.docs) == ["good", "real"]
    failed = {path.split("/")[-1]: reason for path, reason in report.errors}
    assert set(failed) == {"empty.txt", "binary.md", "broken.pdf", "data.xyz"}
    assert all("\n" not in r for r in failed.values())
    hit = idx.retrieve("deadlines", k=1)[0]
    assert hit.doc_id == "real" and hit.page == 1
    assert idx.document("real").page_at(hit.start + hit.text.index("deadlines")) == 2


def test_an_unfinished_build_leaves_the_previous_index_intact(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(CORPUS, src)
    ix = tmp_path / "ix"
    before, _ = Index.build([src], ix)
    # A crashed build leaves a staged folder behind; it is never read and is cleaned up later.
    partial = ix / "v-20990101T000000-deadbeef.partial"
    partial.mkdir()
    (partial / "store.sqlite").write_bytes(b"half written")
    after = Index.open(ix)
    assert after.version == before.version and len(after) == len(before)
    manifest = json.loads((after.version / "manifest.json").read_text())
    assert manifest["passages"] == len(after)

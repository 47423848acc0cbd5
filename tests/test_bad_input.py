"""Bad input, one build: every bad file gets a one-line error naming it, every good file is indexed.

The matrix is built in ONE ``Index.build`` together with real documents, so the tests prove both
halves of the promise: a bad file is refused with a message a user can act on, and it never takes
the rest of the build down with it. Questions get the same treatment: empty, huge, or full of
control / right-to-left-override characters, each is refused in one line or answered sanely.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from rag.errors import IngestError, InputError, RagError
from rag.index import Index
from rag.ingest import load_document

from .conftest import CORPUS, SEED_ID
from .docs import write_docx, write_html, write_pdf

ROOT = Path(__file__).resolve().parents[1]

# Bad files: name -> a word the one-line reason must contain.
BAD: dict[str, str] = {
    "empty.md": "empty file",
    "blank.txt": "no extractable text",
    "nul-binary.txt": "binary",  # NUL bytes
    "noisy-binary.md": "binary",  # random bytes without a single NUL
    "png-renamed.md": "binary",  # a real image header with a text extension
    "huge.txt": "over the 50 MB limit",  # 100 MB, sparse
    "locked.pdf": "encrypted",
    "truncated.pdf": "truncated",
    "not-a-zip.docx": "not a valid DOCX",
    "zip-not-docx.docx": "could not parse DOCX",
    "odd-utf16.txt": "could not parse TXT",  # a BOM, then an odd number of bytes
    "table.xlsx": "unsupported file type",
    "zip-bomb.docx": "of XML, over the 50 MB limit",  # 63 MB unpacked, 170 KB on disk
}

# Good files: name -> a phrase that must be findable in the indexed text, exactly.
GOOD: dict[str, str] = {
    "cp1252-memo.txt": "Régulation européenne – 5 € per “model”",
    "utf16-bom.md": "Le règlement fixe 12 obligations pour l’IA générative",
    "utf8-with-a-bad-byte.md": "Die Behörde prüft Modelle in Zürich",
    "mixed-crlf.txt": "Line endings are mixed here",
    "a;rm -rf x$(id).md": "Shell characters in a file name never run",
    "with spaces and 'quotes' \"double\".md": "Quotes in file names are harmless",
    "政策 résumé ünïcödé.md": "Unicode file names are indexed like any other",
    "good.pdf": "The PDF minister announced 7 pilots",
    "good.docx": "The DOCX annex lists 3 regulators",
    "good.html": "The HTML page sets a 30 day deadline",
}


def _write_matrix(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = random.Random(6)
    (folder / "empty.md").write_bytes(b"")
    (folder / "blank.txt").write_bytes(b"  \n\n\t  \n")
    (folder / "nul-binary.txt").write_bytes(bytes(range(256)) * 64)
    (folder / "noisy-binary.md").write_bytes(bytes(rng.randrange(1, 256) for _ in range(20000)))
    (folder / "png-renamed.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(4000)))
    with open(folder / "huge.txt", "wb") as fh:  # sparse: instant, takes no disk
        fh.truncate(100 * 1024 * 1024)
    write_pdf(folder / "locked.pdf", ["Nothing here may be read without the password."], encrypt="s3cret")
    whole = write_pdf(folder / "whole.tmp", ["A page about the AI Act. " * 40, "Another page. " * 40]).read_bytes()
    (folder / "whole.tmp").unlink()
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    (folder / "not-a-zip.docx").write_bytes(b"PK? no, just text pretending to be a Word file")
    with zipfile.ZipFile(folder / "zip-not-docx.docx", "w") as z:
        z.writestr("hello.txt", "a zip archive, but not a Word document")
    (folder / "odd-utf16.txt").write_bytes("Half a character: ".encode("utf-16") + b"\x41")
    (folder / "table.xlsx").write_bytes(b"PK\x03\x04 spreadsheet")
    _write_docx_bomb(folder / "zip-bomb.docx", megabytes=60)

    (folder / "cp1252-memo.txt").write_bytes(
        f"Memo.\n\n{GOOD['cp1252-memo.txt']} is the fee in the draft.\n".encode("cp1252"))
    (folder / "utf16-bom.md").write_bytes(
        f"---\ntitle: Note UTF-16\n---\n{GOOD['utf16-bom.md']}.\n".encode("utf-16"))
    (folder / "utf8-with-a-bad-byte.md").write_bytes(
        f"{GOOD['utf8-with-a-bad-byte.md']}.\n\nEin kaputtes Byte: ".encode("utf-8") + b"\xff\xfe\xc3("
        + " danach geht es weiter mit Übergangsfristen.\n".encode("utf-8"))
    (folder / "mixed-crlf.txt").write_bytes(b"Line endings are mixed here.\r\nSecond line.\rThird line.\n")
    for name in ("a;rm -rf x$(id).md", "with spaces and 'quotes' \"double\".md", "政策 résumé ünïcödé.md"):
        (folder / name).write_text(f"# Title\n\n{GOOD[name]}.\n", encoding="utf-8")
    write_pdf(folder / "good.pdf", [f"{GOOD['good.pdf']} in the spring."])
    write_docx(folder / "good.docx", [f"{GOOD['good.docx']}.", "Second paragraph."], title="DOCX annex")
    write_html(folder / "good.html", "HTML rules", f"<p>{GOOD['good.html']}.</p>")


def _write_docx_bomb(path: Path, megabytes: int) -> None:
    """A real DOCX whose document.xml holds ``megabytes`` MB of text: it compresses ~350:1."""
    base = write_docx(path.with_suffix(".base"), ["x"])
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename != "word/document.xml":
                zout.writestr(item, data)
                continue
            head, tail = data.decode().split("<w:body>")
            block = ("<w:p><w:r><w:t>" + "A" * 1000 + "</w:t></w:r></w:p>").encode() * 1000
            with zout.open(item.filename, "w", force_zip64=True) as fh:
                fh.write((head + "<w:body>").encode())
                for _ in range(megabytes):
                    fh.write(block)
                fh.write(("</w:body>" + tail.split("</w:body>")[1]).encode())
    base.unlink()


def test_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    import resource

    bomb = tmp_path / "bomb.docx"
    _write_docx_bomb(bomb, megabytes=300)
    assert bomb.stat().st_size < 2e6
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(IngestError, match="DOCX unpacks to 3.. MB of XML"):
        load_document(bomb, max_bytes=50_000_000)
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 100_000  # KB: nothing was inflated


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-input")
    folder = base / "docs"
    _write_matrix(folder)
    # A path with ".." in it that still resolves inside the folder, given as a file argument.
    dotted = folder / "sub"
    dotted.mkdir()
    (dotted / "nested.md").write_text("A nested document reached through a dotted path.\n", encoding="utf-8")
    cwd_before = sorted(os.listdir(base))
    t0 = time.perf_counter()
    idx, report = Index.build([CORPUS, folder, dotted / ".." / "sub" / "nested.md"], base / "index")
    return {"base": base, "folder": folder, "index": idx, "report": report, "seconds": time.perf_counter() - t0,
            "cwd_before": cwd_before}


def _doc_of(idx, path: Path) -> str:
    """The doc_id indexed for ``path`` (good.pdf, good.docx and good.html share a stem on purpose)."""
    found = [k for k, d in idx.docs.items() if d["path"] == str(path)]
    assert len(found) == 1, (path, sorted(idx.docs))
    return found[0]


def _error_for(report, name: str) -> str:
    hits = [f"{p}: {r}" for p, r in report.errors if Path(p).name == name]
    assert len(hits) == 1, (name, report.errors)
    return hits[0]


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_file_gets_one_line_naming_it(matrix, name):
    message = _error_for(matrix["report"], name)
    assert "\n" not in message and "Traceback" not in message
    assert str(matrix["folder"] / name) in message, message
    assert BAD[name] in message, message
    assert len(message) < 400


def test_the_errors_are_exactly_the_bad_files(matrix):
    assert sorted(Path(p).name for p, _ in matrix["report"].errors) == sorted(BAD)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_good_file_in_the_same_build_is_indexed(matrix, name):
    idx = matrix["index"]
    doc_id = _doc_of(idx, matrix["folder"] / name)
    text = idx.docs[doc_id]["text"]
    # Decoded right: the phrase is there exactly, with no mojibake and no replacement characters
    # around it (a UTF-8 file with one bad byte must not be re-read as cp1252 as a whole).
    assert GOOD[name] in text, text[:300]
    passages = [idx.passage(i) for i, d in enumerate(idx.doc_of) if d == doc_id]
    assert passages and any(GOOD[name][:20] in p.text for p in passages)


def test_files_sharing_a_stem_get_distinct_doc_ids(matrix):
    idx = matrix["index"]
    ids = {_doc_of(idx, matrix["folder"] / n) for n in ("good.pdf", "good.docx", "good.html")}
    assert len(ids) == 3 and all(i.startswith("good") for i in ids)


def test_corpus_and_dotted_path_are_indexed_too(matrix):
    idx = matrix["index"]
    assert SEED_ID in idx.docs and "nested" in idx.docs
    assert len(idx.docs) == len(GOOD) + 2
    hits = idx.retrieve("What did Kyle Chan say about state support?", k=3)
    assert hits[0].doc_id == SEED_ID


def test_a_bad_byte_is_replaced_not_the_whole_file_misdecoded(matrix):
    idx = matrix["index"]
    text = idx.docs[_doc_of(idx, matrix["folder"] / "utf8-with-a-bad-byte.md")]["text"]
    assert "Übergangsfristen" in text and "Ã" not in text
    assert text.count("\ufffd") <= 4


def test_shell_characters_in_names_run_nothing(matrix):
    base = matrix["base"]
    assert not any(n.startswith("x") for n in os.listdir(base))
    assert not any(n.startswith("x") for n in os.listdir(matrix["folder"]) if n != "x")
    assert not any(Path.cwd().glob("x*uid=*"))
    doc = matrix["index"].docs["a;rm -rf x$(id)"]
    assert doc["path"] == str(matrix["folder"] / "a;rm -rf x$(id).md")


def test_the_huge_file_is_refused_quickly(matrix):
    # Refusing a 100 MB file is a stat, not a read: the whole build stays fast.
    assert matrix["seconds"] < 120


def test_mixed_line_endings_are_normalised(matrix):
    idx = matrix["index"]
    text = idx.docs[_doc_of(idx, matrix["folder"] / "mixed-crlf.txt")]["text"]
    assert "\r" not in text and "Second line.\nThird line." in text


def test_a_file_that_turns_bad_keeps_its_last_good_version(matrix, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    good = folder / "memo.md"
    good.write_text("The memo sets a budget of 40 million euros.\n", encoding="utf-8")
    (folder / "other.md").write_text("Another document about chips.\n", encoding="utf-8")
    Index.build([folder], tmp_path / "index")
    good.write_bytes(bytes(range(256)) * 10)
    idx, report = Index.build([folder], tmp_path / "index")
    assert [Path(p).name for p, _ in report.errors] == ["memo.md"]
    assert "40 million euros" in idx.docs["memo"]["text"] and "other" in idx.docs


def test_a_build_of_only_bad_files_fails_in_one_line(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "empty.md").write_bytes(b"")
    (folder / "bin.txt").write_bytes(b"\x00" * 100)
    with pytest.raises(RagError) as info:
        Index.build([folder], tmp_path / "index")
    assert "\n" not in str(info.value) and "2 file(s) failed" in str(info.value)
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_a_missing_path_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "ok.md").write_text("Fine text about AI.\n", encoding="utf-8")
    idx, report = Index.build([tmp_path / "ok.md", tmp_path / "nope"], tmp_path / "index")
    assert "ok" in idx.docs
    assert report.errors == [(str(tmp_path / "nope"), "no such file or folder")]


def test_front_matter_that_is_not_a_mapping_or_not_yaml_is_body_text(tmp_path):
    for i, head in enumerate(["- a\n- list", "key: [unclosed", "!!python/object/apply:os.system ['touch pwned']"]):
        path = tmp_path / f"fm{i}.md"
        path.write_text(f"---\n{head}\n---\nBody sentence number {i}.\n", encoding="utf-8")
        doc = load_document(path)
        assert f"Body sentence number {i}." in doc.text
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_cli_build_prints_one_line_per_bad_file_and_no_traceback(matrix, tmp_path):
    rag = Path(sys.executable).parent / "rag"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    proc = subprocess.run([str(rag), "index", "build", str(matrix["folder"]), "--index", str(tmp_path / "index")],
                          capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("skipped ")]
    for name in BAD:
        lines = [line for line in skipped if str(matrix["folder"] / name) in line]
        assert len(lines) == 1 and BAD[name] in lines[0], (name, skipped)
    # Library warnings (pypdf's "EOF marker not found" ...) must not leak as unattributed lines.
    stray = [line for line in proc.stderr.splitlines()
             if line.strip() and not line.startswith(("skipped ", "index ", "reading", "embedding", "writing"))]
    assert not stray, stray


def test_cli_refuses_a_bad_question_in_one_line(matrix):
    rag = Path(sys.executable).parent / "rag"
    idx = matrix["base"] / "index"
    for question in ["", "   \t  "]:
        proc = subprocess.run([str(rag), "ask", question, "--index", str(idx)], capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-1500:])
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: empty question"), proc.stderr
        assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------ questions
@pytest.fixture(scope="module")
def assistant(matrix):
    from rag.answer import Assistant

    return Assistant(Index.open(matrix["base"] / "index"))


@pytest.mark.parametrize("question, reason", [
    ("", "empty question"),
    ("   \n\t  ", "empty question"),
    ("\u202e\u202d\u2066\u200b\x00\x1b", "empty question after removing control characters"),
    ("x" * 10_000_000, "over the 2,000 limit"),
])
def test_bad_questions_get_a_one_line_input_error(assistant, question, reason):
    t0 = time.perf_counter()
    with pytest.raises(InputError) as info:
        assistant.ask(question)
    assert time.perf_counter() - t0 < 2.0, "a 10 MB question must be refused before any work is done"
    message = str(info.value)
    assert reason in message and "\n" not in message and len(message) < 200


def test_a_question_just_over_the_limit_by_control_characters_is_still_bounded(assistant):
    with pytest.raises(InputError):
        assistant.ask("What did Kyle Chan say? " + "\u200b" * 5000)


@pytest.mark.parametrize("question", [
    "What did Kyle Chan say\u202e about state support?",  # right-to-left override inside
    "\u202eWhat did Kyle Chan say about state support?\u202c",
    "What did Kyle\x00 Chan\x1b[31m say about\x07 state\u200b support?\r\n",
    "What did \u2066Kyle Chan\u2069 say about state support?\ufeff",
])
def test_control_and_bidi_characters_are_stripped_and_the_question_answered(assistant, question):
    answer = assistant.ask(question)
    assert not answer.refused, answer.text
    assert any(c.doc_id == SEED_ID for c in answer.citations)
    for text in (answer.question, answer.text):
        assert not any(ch in text for ch in "\u202e\u202d\u202c\u2066\u2069\u200b\ufeff\x00\x1b\x07\r")
    doc = assistant.index.docs[SEED_ID]["text"]
    for c in answer.citations:
        assert assistant.index.docs[c.doc_id]["text"][c.start:c.end] == c.quote
    assert "state support" in " ".join(c.quote for c in answer.citations) or "Kyle Chan" in answer.text
    assert doc  # the seed article is the one answering


def test_a_question_in_another_script_is_answered_or_refused_cleanly(assistant):
    answer = assistant.ask("政策 ¿Qué dijo Kyle Chan sobre el apoyo estatal? 🤖")
    assert isinstance(answer.text, str) and answer.text
    assert answer.refused or all(s.supported for s in answer.sentences)

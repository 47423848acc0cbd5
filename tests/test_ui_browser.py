"""The chat web UI, driven end to end in headless Chromium over the real index.

The app runs as a subprocess (`python app.py`) on a free loopback port, over a copy of the session
index (uploads change it). Screenshots go to artifacts/screenshots/. Needs Debian's Chromium at
/usr/bin/chromium (scripts/system-deps.sh installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ANSWER_TIMEOUT = 180_000  # ms: a cold CPU answer over the full corpus
FINAL = "#rag-chat .rag-answer, #rag-chat .rag-refusal, #rag-chat .rag-error"
KYLE = "What did Kyle Chan say about state support?"
NYT_TITLE = "China's state-backed push to become an AI power"

UPLOAD_DOC = """---
title: "Zorblatt Island Synthetic Media Ordinance"
issuer: "Zorblatt Island Council"
date: "2025-03-14"
jurisdiction: "Zorblatt Island"
doc_type: "regulation"
---
# Zorblatt Island Synthetic Media Ordinance

Section 1. Every provider of a chatbot on Zorblatt Island must register the chatbot with the Office of
Synthetic Minds within 45 days of its launch.

Section 2. A provider that fails to register a chatbot shall pay a fine of 7,777 zorbs to the Island Treasury.
"""


# ------------------------------------------------------------------ fixtures
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, index: Path, log: Path, **env: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **env}
        if "RAG_UI_AUTH" not in env:
            full_env.pop("RAG_UI_AUTH", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--index", str(index), "--port", str(self.port)],
            cwd=ROOT, env=full_env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited ({self.proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"app.py did not start in 180 s:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="module")
def ui_index(index_dir, tmp_path_factory) -> Path:
    """A copy of the real index: the upload test adds a document to it."""
    dest = tmp_path_factory.mktemp("ui") / "index"
    shutil.copytree(index_dir, dest, ignore=shutil.ignore_patterns(".lock", "*.partial", "uploads"))
    return dest


@pytest.fixture(scope="module")
def server(ui_index, tmp_path_factory):
    SHOTS.mkdir(parents=True, exist_ok=True)
    srv = Server(ui_index, SHOTS.parent / "ui-server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (scripts/system-deps.sh) to run browser tests")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(server.url)
    pg.wait_for_selector("#rag-question textarea")
    yield pg
    ctx.close()


# ------------------------------------------------------------------- helpers
def ask(page, question: str):
    """Ask, wait for the final (verified) message, return its locator; records whether it streamed."""
    before = page.locator(FINAL).count()
    page.evaluate("""() => {
        window.__ragStream = [];
        const chat = document.querySelector('#rag-chat');
        if (window.__ragObs) window.__ragObs.disconnect();
        window.__ragObs = new MutationObserver(() => {
            const s = chat.querySelector('.rag-streaming');
            if (s) window.__ragStream.push(s.textContent);
        });
        window.__ragObs.observe(chat, {subtree: true, childList: true, characterData: true});
    }""")
    page.fill("#rag-question textarea", question)
    page.click("#rag-ask")
    try:
        page.wait_for_function(f"document.querySelectorAll({FINAL!r}).length > {before}", timeout=ANSWER_TIMEOUT)
    except Exception as e:
        last = page.locator("#rag-chat").inner_text()[-800:]
        raise AssertionError(f"no answer to {question!r}: {e}\nchat: {last}\nserver log: {_log_tail()}") from None
    return page.locator(FINAL).nth(before)


def _log_tail() -> str:
    log = SHOTS.parent / "ui-server.log"
    return log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else "(none)"


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def pick(page, elem_id: str, option: str) -> None:
    """Choose an option of a gradio (multiselect) dropdown."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(option)
    page.locator(f"#{elem_id} [role=option][aria-label='{option}']").click()
    page.keyboard.press("Escape")


# --------------------------------------------------------------------- tests
@pytest.mark.browser
def test_streamed_cited_answer_and_source_viewer(page):
    answer = ask(page, KYLE)
    text = answer.inner_text()
    assert "[1]" in text and "state support" in text
    assert NYT_TITLE in text
    assert answer.locator(".rag-ok").count() >= 1, "each verified sentence carries a ✓"
    assert "Kyle Chan" in answer.locator(".rag-source").first.inner_text(), "the quote's speaker is shown"
    assert "mode: extractive" in text and " ms" in text
    streamed = page.evaluate("window.__ragStream")
    assert any("Kyle Chan" in s for s in streamed), f"no streamed partial answer was seen: {streamed[:3]}"
    page.screenshot(path=str(SHOTS / "answer.png"))

    quote = answer.locator(".rag-quote").first.inner_text().split(" — ")[0].strip()
    answer.locator("a.rag-cite", has_text="[1]").first.click()
    mark = page.locator("#rag-viewer mark")
    mark.wait_for()
    assert mark.inner_text().strip()[:60] == quote[:60]
    assert "China is applying state support" in mark.inner_text()
    page.screenshot(path=str(SHOTS / "viewer.png"))

    page.click("#rag-full-btn")
    page.wait_for_selector("#rag-viewer .rag-full #rag-full-hit")
    full = page.locator("#rag-viewer .rag-doctext").inner_text()
    assert full.startswith("When OpenA"), "the full document is shown from its start"
    assert page.locator("#rag-full-hit").is_visible()
    page.screenshot(path=str(SHOTS / "full_document.png"))

    with page.expect_download() as dl:
        page.click("#rag-export")
    exported = Path(dl.value.path()).read_text(encoding="utf-8")
    assert f"## Q1. {KYLE}" in exported and "[1]" in exported and NYT_TITLE in exported
    assert "China is applying state support" in exported


@pytest.mark.browser
def test_follow_up_uses_history(page):
    ask(page, KYLE)
    second = ask(page, "What else did he say about investing?")
    text = second.inner_text()
    assert "Chan" in text, text
    assert "Follow-up read as:" in text, "the earlier turn was not passed to the assistant"
    # The viewer follows the latest answer; a click on the first answer's source brings that one back.
    page.wait_for_function("document.querySelector('#rag-cite-pick input').value.startsWith('Q2 [1]')")
    page.locator(FINAL).first.locator("a.rag-src-title").first.click()
    page.wait_for_function("document.querySelector('#rag-cite-pick input').value.startsWith('Q1 [1]')")
    assert "Kyle Chan" in page.locator("#rag-viewer mark").inner_text()
    page.screenshot(path=str(SHOTS / "follow_up.png"))


@pytest.mark.browser
def test_jurisdiction_filter_is_respected(page):
    open_tab(page, "Filters")
    pick(page, "rag-f-juris", "United Kingdom")
    page.wait_for_function("document.querySelector('#rag-filters-summary').innerText.includes('United Kingdom')")
    answer = ask(page, KYLE)
    text = answer.inner_text()
    assert NYT_TITLE not in text, "a China news article was cited under a United Kingdom filter"
    assert "jurisdiction = United Kingdom" in text
    for meta in answer.locator(".rag-source .rag-src-meta").all_inner_texts():
        assert "United Kingdom" in meta
    page.screenshot(path=str(SHOTS / "filter.png"))


@pytest.mark.browser
def test_upload_then_ask(page, tmp_path):
    good = tmp_path / "zorblatt-ordinance.md"
    good.write_text(UPLOAD_DOC, encoding="utf-8")
    bad = tmp_path / "empty-notes.txt"
    bad.write_text("", encoding="utf-8")
    before = page.locator("#rag-header").inner_text()
    open_tab(page, "Add documents")
    page.locator("#rag-upload").wait_for(state="visible")
    page.set_input_files("#rag-upload input[type=file]", [str(good), str(bad)])
    page.wait_for_function("document.querySelector('#rag-upload').innerText.includes('zorblatt')", timeout=60_000)
    page.click("#rag-add")
    status = page.locator("#rag-upload-status")
    page.wait_for_function("document.querySelector('#rag-upload-status').innerText.includes('Added')",
                           timeout=120_000)
    assert "Zorblatt Island Synthetic Media Ordinance" in status.inner_text()
    assert "empty-notes.txt" in status.inner_text() and "empty file" in status.inner_text()
    n_before = int(before.split(" documents")[0].split()[-1])
    page.wait_for_function(f"document.querySelector('#rag-header').innerText.includes('{n_before + 1} documents')")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "upload.png"))

    answer = ask(page, "What fine does the Zorblatt Island ordinance set for unregistered chatbots?")
    text = answer.inner_text()
    assert "7,777 zorbs" in text and "Zorblatt Island Synthetic Media Ordinance" in text
    assert "[1]" in text
    page.screenshot(path=str(SHOTS / "upload_answer.png"))
    # What was indexed before is still there.
    again = ask(page, KYLE)
    assert NYT_TITLE in again.inner_text()


@pytest.mark.browser
def test_unanswerable_question_is_refused_visibly(page):
    answer = ask(page, "What fine did Japan's AI law set?")
    assert answer.get_attribute("class") == "rag-refusal"
    text = answer.inner_text()
    assert "Not answered by the sources" in text and "nearest passages" in text.lower()
    assert answer.locator(".rag-near").count() >= 1
    bg = answer.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent", "rgb(255, 255, 255)"), "a refusal must look different"
    answer.locator(".rag-near a").first.click()
    page.locator("#rag-viewer mark").wait_for()
    page.screenshot(path=str(SHOTS / "refusal.png"))


@pytest.mark.browser
def test_many_users_at_once_are_queued_not_crashed(browser, server):
    questions = [KYLE, "What fine did Japan's AI law set?", "Is Executive Order 14110 still in force?",
                 "What AI practices does Article 5 of the EU AI Act prohibit?", KYLE]
    ctxs = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in questions]
    try:
        pages = [c.new_page() for c in ctxs]
        for pg in pages:
            pg.goto(server.url)
            pg.wait_for_selector("#rag-question textarea")
        for pg, q in zip(pages, questions):  # all asked before any answer arrives
            pg.fill("#rag-question textarea", q)
            pg.click("#rag-ask")
        for pg, q in zip(pages, questions):
            pg.wait_for_selector(FINAL, timeout=ANSWER_TIMEOUT)
            final = pg.locator(FINAL).first
            assert final.get_attribute("class") in ("rag-answer", "rag-refusal"), (q, final.inner_text())
        assert NYT_TITLE in pages[0].locator(FINAL).first.inner_text()
        assert pages[1].locator(FINAL).first.get_attribute("class") == "rag-refusal"
    finally:
        for c in ctxs:
            c.close()


@pytest.mark.browser
def test_bad_settings_are_reported_not_crashed(page):
    open_tab(page, "Filters")
    page.fill("#rag-f-from textarea, #rag-f-from input", "2024/01")
    page.keyboard.press("Tab")
    page.wait_for_function("document.querySelector('#rag-filters-summary').innerText.includes('not a date')")
    answer = ask(page, KYLE)
    assert answer.get_attribute("class") == "rag-error" and "not a date" in answer.inner_text()
    page.fill("#rag-f-from textarea, #rag-f-from input", "")
    open_tab(page, "Settings")
    page.get_by_role("radio", name="openai").check()
    page.fill("#rag-base-url textarea, #rag-base-url input", "https://attacker.example/v1")
    answer = ask(page, KYLE)
    assert answer.get_attribute("class") == "rag-error"
    assert "configured endpoint" in answer.inner_text()
    page.screenshot(path=str(SHOTS / "bad_settings.png"))
    page.get_by_role("radio", name="extractive").check()
    assert NYT_TITLE in ask(page, KYLE).inner_text(), "the page still works after the errors"


@pytest.mark.browser
def test_login_required_when_auth_is_set(browser, ui_index, tmp_path):
    srv = Server(ui_index, tmp_path / "auth.log", RAG_UI_AUTH="alice:wonderland-42")
    try:
        for path in ("/config", "/gradio_api/info", "/gradio_api/queue/data", "/gradio_api/file=/etc/passwd"):
            r = httpx.get(srv.url + path, timeout=10)
            assert r.status_code == 401 and "Kyle" not in r.text, (path, r.status_code)
        r = httpx.post(srv.url + "/gradio_api/queue/join", json={"data": [KYLE], "fn_index": 0,
                                                                 "session_hash": "x"}, timeout=10)
        assert r.status_code == 401, r.status_code
        r = httpx.post(srv.url + "/gradio_api/upload", files={"files": ("x.md", b"# hi")}, timeout=10)
        assert r.status_code == 401, r.status_code
        page_html = httpx.get(srv.url + "/", timeout=10).text
        assert NYT_TITLE not in page_html and "rag-question" not in page_html
        ctx = browser.new_context(viewport={"width": 1200, "height": 800})
        page = ctx.new_page()
        page.goto(srv.url)
        page.wait_for_selector("input[type=password]")
        assert page.locator("#rag-question").count() == 0
        page.screenshot(path=str(SHOTS / "login.png"))
        page.locator("input[type=password]").fill("wrong")
        page.locator("input[type=text]").first.fill("alice")
        page.get_by_role("button", name="Login").click()
        page.wait_for_timeout(1500)
        assert page.locator("#rag-question").count() == 0
        page.locator("input[type=text]").first.fill("alice")
        page.locator("input[type=password]").fill("wonderland-42")
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#rag-question textarea")
        ctx.close()
    finally:
        srv.stop()


@pytest.mark.browser
def test_server_serves_no_files_from_disk(server, ui_index):
    for path in ("/etc/passwd", str(ui_index / "CURRENT"), str(ROOT / "corpus" / "000_2a757378fe6c6261.md"),
                 "../../../../etc/passwd"):
        r = httpx.get(f"{server.url}/gradio_api/file={path}", timeout=10)
        assert r.status_code in (403, 404), (path, r.status_code)


def test_missing_index_exits_2_with_the_fix(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--index", str(tmp_path / "nope")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "make run" in r.stderr and "rag index build corpus/" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_viewer_only_resolves_citations_the_server_made():
    from rag.ui import _resolve

    turns = [{"citations": [{"n": 1, "doc_id": "d", "start": 0, "end": 1}], "nearest": [], "refused": False}]
    assert _resolve("1:c1", turns)["doc_id"] == "d"
    assert _resolve("1:c1|1712345", turns)["doc_id"] == "d"
    for key in ("../../etc/passwd", "1:c2", "2:c1", "0:c1", "1:p0", "/etc/passwd", "1:c1/../x", ""):
        assert _resolve(key, turns) is None

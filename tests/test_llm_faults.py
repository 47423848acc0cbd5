"""LLM endpoint faults, played by a real HTTP server on loopback that misbehaves on purpose.

Every fault must end in bounded time: a bounded number of requests with growing backoff, then one
clear ``LLMError`` line; through the ``Assistant`` the user gets the extractive answer (verbatim,
cited quotes) with a note saying the model failed, never a hang and never an unverified sentence.
The last tests run the real thing: llama-cpp-python's OpenAI-compatible server with the bundled
SmolLM2 model.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.errors import LLMError
from rag.llm import OpenAICompatible

from .conftest import SEED_ID, free_port

QUESTION = "What did Kyle Chan say about state support?"


def _event(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


GOOD_REPLY = ["China is applying state support ", "throughout the AI technology chain, ", "Kyle Chan said [1]."]


class Faulty(BaseHTTPRequestHandler):
    """POST /<mode>/v1/chat/completions misbehaves according to <mode>."""

    protocol_version = "HTTP/1.1"
    server: "FaultServer"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:  # noqa: N802
        mode = self.path.strip("/").split("/")[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        n = self.server.record(mode, body)
        try:
            getattr(self, f"mode_{mode.replace('-', '_')}")(n)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _good_stream(self) -> None:
        self._start_sse()
        for piece in GOOD_REPLY:
            self._send(_event(piece))
        self._send(_event(finish="stop"))
        self._send(b"data: [DONE]\n\n")

    def _status(self, code: int, extra: dict[str, str] | None = None) -> None:
        data = b'{"error": {"message": "try later"}}'
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._send(data)

    # ------------------------------------------------------------------ modes
    def mode_ok(self, n: int) -> None:
        self._good_stream()

    def mode_vacuous(self, n: int) -> None:  # a well-formed reply that says nothing
        self._start_sse()
        for piece in ["The answer is: [1]. ", "Yes [2]."]:
            self._send(_event(piece))
        self._send(b"data: [DONE]\n\n")

    def mode_slow(self, n: int) -> None:  # answers long after the client's timeout
        time.sleep(self.server.slow_seconds)
        self._good_stream()

    def mode_flaky(self, n: int) -> None:  # 500 once, then fine
        if n == 1:
            self._status(500)
        else:
            self._good_stream()

    def mode_busy(self, n: int) -> None:  # 429 forever
        self._status(429, {"Retry-After": "1"})

    def mode_forbidden(self, n: int) -> None:
        self._status(401)

    def mode_malformed_json(self, n: int) -> None:
        data = b'{"choices": [{"message": {"content": "half'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._send(data)

    def mode_malformed_event(self, n: int) -> None:
        self._start_sse()
        self._send(_event("China is "))
        self._send(b"data: {this is not json\n\n")

    def mode_halfway(self, n: int) -> None:  # stops mid-sentence: no finish_reason, no [DONE]
        self._start_sse()
        self._send(_event("China is applying state support throughout"))
        self._send(_event(" the AI technology"))
        self.close_connection = True

    def mode_halfway_after_a_sentence(self, n: int) -> None:
        self._start_sse()
        self._send(_event("China is applying state support throughout the AI technology chain [1]. "))
        self._send(_event("It also said that"))
        self.close_connection = True

    def mode_drip(self, n: int) -> None:  # text forever, slower than a human reads, faster than a timeout
        self._start_sse()
        while not self.server.stopping.is_set():
            self._send(_event("and "))
            time.sleep(0.2)

    def mode_drip_keepalive(self, n: int) -> None:  # SSE comments only: bytes arrive, no event ever does
        self._start_sse()
        while not self.server.stopping.is_set():
            self._send(b": keep-alive\n\n")
            time.sleep(0.2)

    def mode_drip_bytes(self, n: int) -> None:  # one event, one byte at a time, never a newline
        self._start_sse()
        for ch in b'data: {"choices": [{"delta": {"content": "' + b"x" * 10_000:
            if self.server.stopping.is_set():
                break
            self._send(bytes([ch]))
            time.sleep(0.2)


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Faulty)
        self.lock = threading.Lock()
        self.requests: dict[str, list[float]] = {}
        self.bodies: list[dict] = []
        self.slow_seconds = 3.0
        self.stopping = threading.Event()

    def handle_error(self, request, client_address) -> None:
        pass  # a client hanging up on a misbehaving reply is the point of these tests, not an error

    def record(self, mode: str, body: dict) -> int:
        with self.lock:
            self.requests.setdefault(mode, []).append(time.monotonic())
            self.bodies.append(body)
            return len(self.requests[mode])

    def count(self, mode: str) -> int:
        with self.lock:
            return len(self.requests.get(mode, []))

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{mode}/v1"


@pytest.fixture(scope="module")
def server():
    srv = FaultServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.stopping.set()
    srv.shutdown()
    srv.server_close()


def client(url: str, **kw) -> OpenAICompatible:
    opts = {"timeout": 1.0, "retries": 2, "backoff": 0.05, **kw}
    return OpenAICompatible(base_url=url, model="test", **opts)


def run(gen: OpenAICompatible) -> str:
    return "".join(gen.stream([{"role": "user", "content": "hi"}], max_tokens=20))


def one_line_error(excinfo, *words: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message and len(message) < 300, message
    for w in words:
        assert w in message, message
    return message


# ----------------------------------------------------------------------- the client alone
@pytest.mark.timeout(60)
def test_happy_stream_from_the_fault_server(server):
    assert run(client(server.url("ok"))) == "".join(GOOD_REPLY)
    body = server.bodies[-1]
    assert body["stream"] is True and body["max_tokens"] == 20 and body["messages"][0]["content"] == "hi"


@pytest.mark.timeout(60)
def test_connection_refused_is_retried_then_one_line(server):
    port = free_port()  # bound, then closed: nothing listens there
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        run(client(f"http://127.0.0.1:{port}/v1", backoff=0.1))
    elapsed = time.monotonic() - t0
    one_line_error(info, "unavailable after 3 attempts", "ConnectError", f"127.0.0.1:{port}")
    assert 0.3 <= elapsed < 5, elapsed  # backoff 0.1 + 0.2 between the three attempts


@pytest.mark.timeout(60)
def test_timeout_is_bounded_and_retried(server):
    server.slow_seconds = 3.0
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        run(client(server.url("slow"), timeout=0.5, retries=1))
    elapsed = time.monotonic() - t0
    one_line_error(info, "unavailable after 2 attempts", "timed out")
    assert server.count("slow") == 2
    assert elapsed < 2.5, elapsed  # two 0.5 s timeouts and one backoff, not the server's 3 s each


@pytest.mark.timeout(60)
def test_http_500_then_success_retries_once(server):
    assert run(client(server.url("flaky"))) == "".join(GOOD_REPLY)
    assert server.count("flaky") == 2


@pytest.mark.timeout(60)
def test_429_forever_is_bounded_with_growing_backoff(server):
    with pytest.raises(LLMError) as info:
        run(client(server.url("busy"), retries=3, backoff=0.2))
    one_line_error(info, "unavailable after 4 attempts", "HTTP 429")
    times = server.requests["busy"]
    assert len(times) == 4
    gaps = [b - a for a, b in zip(times, times[1:])]
    for gap, expected in zip(gaps, [0.2, 0.4, 0.8]):  # exponential: backoff * 2 ** (attempt - 1)
        assert expected * 0.9 <= gap < expected + 1.0, gaps


@pytest.mark.timeout(60)
def test_a_client_error_is_not_retried(server):
    with pytest.raises(LLMError) as info:
        run(client(server.url("forbidden")))
    one_line_error(info, "HTTP 401")
    assert server.count("forbidden") == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode, words", [
    ("malformed-json", ["malformed JSON"]),
    ("malformed-event", ["malformed stream event"]),
    ("halfway", ["stopped mid-answer", "[DONE]"]),
])
def test_broken_replies_are_one_line_errors(server, mode, words):
    with pytest.raises(LLMError) as info:
        run(client(server.url(mode)))
    one_line_error(info, *words)
    assert server.count(mode) == 1  # text may already be on screen: never retried after that


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["drip", "drip-keepalive", "drip-bytes"])
def test_a_stream_that_never_ends_is_cut_at_the_deadline(server, mode):
    gen = client(server.url(mode), timeout=0.5, retries=0)  # deadline: 4 x timeout = 2 s
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        run(gen)
    elapsed = time.monotonic() - t0
    one_line_error(info, server.url(mode))
    assert elapsed < 4.0, f"{mode}: {elapsed:.1f}s for a 2 s deadline"


# ------------------------------------------------------------------- through the Assistant
@pytest.fixture(scope="module")
def index(index_dir):
    from rag.index import Index

    return Index.open(index_dir)


def _assistant(index, gen):
    from rag.answer import Assistant

    return Assistant(index, gen)


def assert_verified_and_exact(index, answer) -> None:
    assert answer.sentences, answer.text
    assert all(s.supported for s in answer.sentences), [(s.text, s.reason) for s in answer.sentences]
    for c in answer.citations:
        assert index.docs[c.doc_id]["text"][c.start:c.end] == c.quote
        assert c.quote in index.docs[c.doc_id]["text"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["busy", "slow", "malformed-json", "malformed-event", "halfway", "drip",
                                  "drip-keepalive", "drip-bytes", "refused"])
def test_assistant_falls_back_to_quotes_with_a_note(server, index, mode):
    url = f"http://127.0.0.1:{free_port()}/v1" if mode == "refused" else server.url(mode)
    t0 = time.monotonic()
    answer = _assistant(index, client(url, timeout=0.5, retries=1)).ask(QUESTION)
    assert time.monotonic() - t0 < 30
    assert not answer.refused, answer.text
    notes = " ".join(answer.notes)
    assert "language model failed" in notes and "showing quotes" in notes, answer.notes
    assert all(s.reason == "verbatim quote" for s in answer.sentences), answer.sentences
    assert any(c.doc_id == SEED_ID for c in answer.citations)
    assert_verified_and_exact(index, answer)


@pytest.mark.timeout(60)
def test_assistant_uses_a_flaky_endpoint_after_its_retry(server, index):
    before = server.count("flaky")
    answer = _assistant(index, client(server.url("flaky"))).ask(QUESTION)
    assert server.count("flaky") - before in (1, 2)
    assert not any("language model failed" in n for n in answer.notes), answer.notes
    assert "China is applying state support throughout the AI technology chain" in answer.text
    assert_verified_and_exact(index, answer)


@pytest.mark.timeout(60)
def test_a_stream_cut_after_a_verified_sentence_shows_only_verified_text_and_says_so(server, index):
    answer = _assistant(index, client(server.url("halfway-after-a-sentence"))).ask(QUESTION)
    assert not answer.refused
    assert "It also said that" not in answer.text
    assert_verified_and_exact(index, answer)
    notes = " ".join(answer.notes)
    assert "language model failed" in notes
    if "showing quotes" in notes:  # the note must describe what the user actually got
        assert any(s.reason == "verbatim quote" for s in answer.sentences), (answer.notes, answer.sentences)


# ------------------------------------------------------------- the real llama.cpp server
# (the `llama_server` fixture lives in conftest.py: tests/test_judge.py uses the same server)
@pytest.mark.timeout(180)
def test_real_llama_cpp_server_streams_a_reply(llama_server):
    gen = OpenAICompatible(base_url=llama_server, timeout=60, retries=0)
    reply = "".join(gen.stream([{"role": "user", "content": "Say hello in one short sentence."}], max_tokens=24))
    assert reply.strip()


@pytest.mark.timeout(400)
@pytest.mark.parametrize("question", [QUESTION, "How much has China invested in the semiconductor industry since 2014?"])
def test_real_llama_cpp_server_through_the_assistant_shows_only_verified_sentences(llama_server, index_dir, question):
    from rag.answer import Assistant

    gen = OpenAICompatible(base_url=llama_server, timeout=240, retries=0)
    assistant = Assistant.open(index_dir, llm=gen)
    assert assistant.mode.startswith("openai:")
    answer = assistant.ask(question)
    assert not answer.refused, answer.text
    # The protocol worked end to end (a 135M model's words may still all be dropped by the verifier).
    assert not any("language model failed" in n for n in answer.notes), answer.notes
    assert_verified_and_exact(assistant.index, answer)
    shown = answer.text
    for s in answer.sentences:
        assert s.text in shown
    print(f"\nllama.cpp + SmolLM2 answered {question!r}: {answer.text!r} notes={answer.notes}")
    empty = [s.text for s in answer.sentences if len(_content(s.text)) < 2]
    if empty:  # deterministic at temperature 0, but depends on the llama.cpp build: reported, not asserted
        pytest.xfail(f"the verifier passed a contentless model sentence {empty[0]!r} (see test_a_model_that_says_"
                     "nothing_is_not_an_answer)")
    assert {c.doc_id for c in answer.citations} & {SEED_ID} or any(
        "model's answer could be verified" in n for n in answer.notes), (answer.text, answer.notes)


def _content(text: str) -> set[str]:
    stop = {"the", "a", "an", "is", "are", "of", "to", "and", "in", "on", "it", "this", "that", "yes", "no"}
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stop and len(w) > 1}


@pytest.mark.timeout(60)
def test_a_model_that_says_nothing_is_not_an_answer(server, index):
    answer = _assistant(index, client(server.url("vacuous"))).ask(QUESTION)
    for s in answer.sentences:
        assert len(_content(s.text)) >= 2, f"shown as a verified answer: {s.text!r} ({s.reason})"

"""Shared fixtures: the real corpus, one real index per test session, the real embedding model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"
SHARED_CORPUS = SHARED / "corpus"
SEED_ID = "000_2a757378fe6c6261"


def shared_corpus_or_skip() -> Path:
    if not SHARED_CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present beside the project: tests over the public corpus need it")
    return SHARED_CORPUS


def corpus_paths() -> list[Path]:
    return [CORPUS] + ([SHARED_CORPUS] if SHARED_CORPUS.is_dir() else [])


@pytest.fixture(scope="session")
def index_dir() -> Path:
    """The index of corpus/ plus ../shared/corpus (when present).

    It is the same index `rag eval run` uses (.cache/eval-index), brought up to date here; builds
    are incremental, so after the first run this costs a second, not a minute. Tests must not
    change it: tests that add or remove documents copy it first (see ``private_index``).
    """
    from rag.index import Index

    path = ROOT / ".cache" / "eval-index"
    Index.build(corpus_paths(), path)
    return path


@pytest.fixture()
def private_index(index_dir, tmp_path) -> Path:
    """A copy of the session index that a test may change."""
    import shutil

    dest = tmp_path / "index"
    shutil.copytree(index_dir, dest, ignore=shutil.ignore_patterns(".lock", "*.partial"))
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server():
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2 GGUF on a loopback port,
    shared by every test that talks to a real model over HTTP (``…/v1`` base URL). RAG_LLM_THREADS
    caps its CPU threads (default: llama.cpp's own choice)."""
    import httpx

    from rag.llm import default_gguf

    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", default_gguf(), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "4096", "--verbose", "False"]
    if int(os.environ.get("RAG_LLM_THREADS") or 0) > 0:
        cmd += ["--n_threads", os.environ["RAG_LLM_THREADS"], "--n_threads_batch", os.environ["RAG_LLM_THREADS"]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {proc.stderr.read().decode(errors='replace')[-1500:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer /v1/models within 90 s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def policy_index(index_dir):
    from rag.index import Index

    return Index.open(index_dir)


# CI replays the same hypothesis examples every run (a new counterexample should come from a
# developer's exploratory run, not turn an unrelated submission red); locally they stay random.
try:
    from hypothesis import settings as _hsettings

    _hsettings.register_profile("ci", derandomize=True, deadline=None)
    if os.environ.get("CI"):
        _hsettings.load_profile("ci")
except ImportError:  # pragma: no cover
    pass

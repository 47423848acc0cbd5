"""What the UI serves from: the open index (reopened when it changes), generators, and uploads.

One ``Library`` per server, shared by every session. Reading is lock-free (an ``Index`` never changes
once open; a rebuild publishes a new version and the next request reopens it). Uploads go through
``Index.add`` under the index's own build lock, so nothing already indexed is lost and a bad file
only costs itself.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from .answer import DEFAULT_MODE, Assistant
from .errors import InputError, RagError
from .index import Index
from .llm import Generator, make_generator
from .settings import Settings

UPLOAD_TYPES = (".pdf", ".md", ".markdown", ".txt", ".html", ".htm", ".docx")
MODES = ("extractive", "local", "openai")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_NO_KEY = "RAG_UI_NO_API_KEY"  # an environment variable that is never set: no key is sent
_STAGES = {"read": "Reading", "embed": "Embedding passages", "write": "Writing the index"}


def safe_name(name: str) -> str:
    """A plain file name: no folders, no dot-files, only letters, digits, '.', '_' and '-'."""
    base = Path(str(name).replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:80] or "upload"
    return stem + suffix


class Library:
    def __init__(self, index_dir: Path, settings: Settings):
        self.index_dir = Path(index_dir)
        self.settings = settings
        self.uploads = self.index_dir / "uploads"
        self._index = Index.open(self.index_dir, settings)  # raises IndexMissingError with the fix to run
        self._lock = threading.Lock()
        self._generators: dict[tuple[str, str, str], Generator | None] = {}
        self.default_mode = (settings.llm or DEFAULT_MODE) if (settings.llm or DEFAULT_MODE) in MODES else DEFAULT_MODE

    # ------------------------------------------------------------- reading
    def index(self) -> Index:
        """The live index; reopened if a build or an upload has published a new version."""
        try:
            live = (self.index_dir / "CURRENT").read_text(encoding="utf-8").strip()
        except OSError:
            return self._index
        if live != self._index.version.name:
            with self._lock:
                if live != self._index.version.name:
                    try:
                        self._swap(Index.open(self.index_dir, self.settings))
                    except RagError:
                        pass  # a version being replaced right now: keep serving the one we have
        return self._index

    def _swap(self, new: Index) -> None:
        old = self._index
        if old._embedder is not None and old.manifest.get("model") == new.manifest.get("model"):
            new._embedder = old._embedder  # the same model: don't load it again
        self._index = new

    def values(self, key: str) -> list[str]:
        return sorted({str(d["meta"].get(key)) for d in self.index().docs.values() if d["meta"].get(key)})

    def doc_choices(self) -> list[tuple[str, str]]:
        docs = self.index().docs
        items = [(f"{d['meta'].get('title') or doc_id} ({d['meta'].get('date') or 'undated'})", doc_id)
                 for doc_id, d in docs.items()]
        return sorted(items, key=lambda x: x[0].lower())

    def warm_up(self) -> None:
        """Load models and tables now, in the background, so the first question is not slow."""

        def run() -> None:
            try:  # one throw-away question loads the embedder and every lazy table retrieval uses
                Assistant(self.index(), None, self.settings).ask("What does the AI Act prohibit?")
            except Exception:  # noqa: BLE001 - the first real question will report any real problem
                pass

        threading.Thread(target=run, name="rag-warm-up", daemon=True).start()

    # ----------------------------------------------------------- answering
    def generator(self, mode: str, model: str = "", base_url: str = "") -> Generator | None:
        """The generator a session chose in Settings, within what the server allows.

        A browser may not point the server at arbitrary hosts with the server's API key, nor load an
        arbitrary file as a model: the API key only goes to the base URL configured on the server
        (RAG_BASE_URL); another URL must be on this machine (loopback) and gets no key; local mode runs
        the bundled model or the one configured on the server (RAG_MODEL).
        """
        mode = (mode or self.default_mode).lower()
        model, base_url = (model or "").strip(), (base_url or "").strip()
        s = self.settings
        if mode not in MODES:
            raise InputError(f"unknown generator '{mode}': use extractive, local or openai")
        key_env = s.api_key_env
        if mode == "openai":
            if not re.match(r"^https?://\S+$", base_url):
                raise InputError("openai mode needs a base URL such as http://127.0.0.1:8080/v1 (Settings tab)")
            if base_url.rstrip("/") != s.base_url.strip().rstrip("/"):
                host = (urlsplit(base_url).hostname or "").lower()
                if host not in _LOOPBACK:
                    raise InputError(f"only the server's configured endpoint ({s.base_url or 'none set'}) or one on "
                                     "this machine (127.0.0.1/localhost) can be used; set RAG_BASE_URL on the server")
                key_env = _NO_KEY  # the server's key is never sent to an endpoint typed into the browser
        if mode == "local" and model not in ("", s.model.strip()):
            raise InputError("local mode runs the bundled model or the server's RAG_MODEL; leave Model empty")
        cache_key = (mode, model, base_url if mode == "openai" else "")
        with self._lock:
            if cache_key not in self._generators:
                if len(self._generators) >= 8:
                    self._generators.pop(next(iter(self._generators)))
                self._generators[cache_key] = make_generator(mode, model or (s.model if mode == "local" else ""),
                                                             cache_key[2], key_env, s.llm_timeout, s.llm_retries)
            return self._generators[cache_key]

    def assistant(self, mode: str, model: str = "", base_url: str = "") -> Assistant:
        return Assistant(self.index(), self.generator(mode, model, base_url), self.settings)

    # ------------------------------------------------------------- uploads
    def upload(self, paths: list[Any], progress: Callable | None = None) -> tuple[str, bool]:
        """Add uploaded files; returns (Markdown report, whether the index changed)."""
        limit = self.settings.max_upload_mb
        problems: list[str] = []
        staged: list[Path] = []
        if not paths:
            return "Choose one or more files first.", False
        docs = self.index().docs
        self.uploads.mkdir(parents=True, exist_ok=True)
        for raw in paths:
            src = Path(getattr(raw, "name", raw))
            shown = src.name
            if src.suffix.lower() not in UPLOAD_TYPES:
                problems.append(f"**{shown}**: unsupported type; upload PDF, Markdown, text, HTML or DOCX")
                continue
            if not src.is_file():
                problems.append(f"**{shown}**: the upload did not arrive; try again")
                continue
            size = src.stat().st_size
            if size > limit * 1e6:
                problems.append(f"**{shown}**: {size / 1e6:.1f} MB is over the {limit:g} MB limit")
                continue
            name = safe_name(shown)
            prior = docs.get(Path(name).stem)
            if prior is not None and Path(prior["path"]).parent.resolve() != self.uploads.resolve():
                # Same name as a corpus document: index it beside that one, never over it.
                digest = hashlib.sha1(src.read_bytes()).hexdigest()[:6]
                name = f"{Path(name).stem}-upload-{digest}{Path(name).suffix}"
            dest = self.uploads / name
            shutil.copyfile(src, dest)
            staged.append(dest)
        if not staged:
            return _report([], problems), False

        def step(stage: str, done: int, total: int) -> None:
            if progress is not None:
                progress((done / total) if total else 0.0, desc=_STAGES.get(stage, stage))

        try:
            new, report = Index.add(staged, self.index_dir, self.settings, step)
        except RagError as e:
            return _report([], problems + [f"nothing was added: {e}"]), False
        for path, reason in report.errors:
            problems.append(f"**{Path(path).name}**: {reason}")
            if Path(path).parent == self.uploads and Path(path).stem not in new.docs:
                Path(path).unlink(missing_ok=True)
        with self._lock:
            self._swap(new)
        added = [f"**{new.docs[d]['meta'].get('title') or d}** (`{d}`)"
                 for d in report.added + report.updated if d in new.docs]
        same = [f"`{d}`" for d in report.unchanged]
        return _report(added, problems, len(new.docs), same), bool(report.added or report.updated)


def _report(added: list[str], problems: list[str], total: int | None = None, same: list[str] | None = None) -> str:
    lines = []
    if added:
        lines.append("✓ Added to the index and searchable now: " + "; ".join(added)
                     + (f". The index holds {total} documents." if total else ""))
    if same:
        lines.append("Already indexed, unchanged: " + "; ".join(same))
    for p in problems:
        lines.append(f"⚠ Not added: {p}")
    if not added and not problems and not same:
        lines.append("Nothing to add.")
    if problems and not added:
        lines.append("Nothing already indexed was changed.")
    return "\n\n".join(lines)

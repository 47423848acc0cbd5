"""The chat web UI (gradio): streamed, verified, cited answers; a source viewer; filters; uploads.

``build_app(index_dir, settings)`` returns the Blocks app; ``serve(...)`` runs it (``python app.py``,
``rag serve``). Safe defaults: it binds 127.0.0.1, requires a login when ``RAG_UI_AUTH=user:pass`` is
set, queues requests instead of running them all at once, accepts only the supported document types
up to ``settings.max_upload_mb``, and its source viewer only shows indexed documents, looked up by a
citation the server itself produced (no path or document id is taken from the browser).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from . import ui_render as R  # noqa: E402
from .errors import InputError, RagError  # noqa: E402
from .settings import Settings, get_settings  # noqa: E402
from .ui_library import UPLOAD_TYPES, Library  # noqa: E402
from .ui_style import CSS, JS, SCROLL_TO_MARK, theme  # noqa: E402

log = logging.getLogger(__name__)
CONCURRENCY = 2  # answers computed at once (CPU-bound); the rest wait in the queue
QUEUE_SIZE = 64  # beyond this, new requests are told the server is busy
SESSION_TTL = 12 * 3600  # a conversation idle this long (seconds) is dropped from server memory
HISTORY_TURNS = 4  # earlier turns passed to the assistant for follow-up questions
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_QUOTES = "“”\"‘’' "
_KEY = re.compile(r"^(\d{1,4}):([cp])(\d{1,3})(?:\|\d+)?$")


EXAMPLES = ("What did Kyle Chan say about state support?",
            "What AI practices does Article 5 of the EU AI Act prohibit?",
            "Is Executive Order 14110 still in force?")
PLACEHOLDER = ("<div class='rag-placeholder'><b>Ask the indexed policy sources.</b><br>Answers quote the sources "
               "verbatim or are checked against them sentence by sentence; click a citation to see it in its document."
               "</div>")


def _example(evt: gr.SelectData) -> str:
    return str((evt.value or {}).get("text", "")) if isinstance(evt.value, dict) else str(evt.value or "")


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:pass`` (RAG_UI_AUTH) -> gradio auth tuple; empty -> no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InputError("RAG_UI_AUTH must look like user:password")
    return user, password


def make_filters(juris: list[str] | None, dtypes: list[str] | None, date_from: str | None, date_to: str | None,
                 docs: list[str] | None) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if juris:
        filters["jurisdiction"] = list(juris)
    if dtypes:
        filters["doc_type"] = list(dtypes)
    if docs:
        filters["doc_id"] = list(docs)
    for key, value in (("date_from", date_from), ("date_to", date_to)):
        value = (value or "").strip()
        if value:
            if not _DATE.match(value):
                raise InputError(f"{key.replace('_', ' ')} '{value}' is not a date: use YYYY, YYYY-MM or YYYY-MM-DD")
            filters[key] = value
    return filters


def _history(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for t in turns[-HISTORY_TURNS:]:
        out += [{"role": "user", "content": t["question"]}, {"role": "assistant", "content": t["text"]}]
    return out


def _cite_choices(turns: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for i, t in enumerate(turns, 1):
        for c in t["citations"]:
            quote = R._clip(c["quote"].strip(_QUOTES), 60)
            out.append((f"Q{i} [{c['n']}] {R._clip(c['title'], 48)}: “{quote}”", f"{i}:c{c['n']}"))
        if t["refused"]:
            for j, p in enumerate(t["nearest"]):
                out.append((f"Q{i} nearest: {R._clip(p['title'], 48)} ({p.get('section') or p.get('date') or ''})",
                            f"{i}:p{j}"))
    return out


def _resolve(key: str | None, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A citation (or nearest passage) the server produced, named by 'turn:cN' / 'turn:pJ'."""
    m = _KEY.match((key or "").strip())
    if not m:
        return None
    turn_no, kind, n = int(m.group(1)), m.group(2), int(m.group(3))
    if not 1 <= turn_no <= len(turns):
        return None
    t = turns[turn_no - 1]
    if kind == "c":
        return next((c for c in t["citations"] if c["n"] == n), None)
    return t["nearest"][n] if n < len(t["nearest"]) else None


def build_app(index_dir: str | Path | None = None, settings: Settings | None = None) -> gr.Blocks:
    settings = settings or get_settings()
    lib = Library(Path(index_dir or settings.index), settings)
    lib.warm_up()

    def stats() -> str:
        idx = lib.index()
        return (f"{len(idx.docs)} documents · {len(idx):,} passages · index {idx.version.name} · "
                f"uploads up to {settings.max_upload_mb:g} MB")

    # Exported conversations and uploads copied into gradio's cache are deleted after a day.
    with gr.Blocks(title="AI-policy research assistant", fill_width=True, delete_cache=(3600, 86400)) as demo:
        turns = gr.State([], time_to_live=SESSION_TTL)
        view = gr.State(None, time_to_live=SESSION_TTL)  # the citation shown in the viewer (server-side; never sent as a path)
        with gr.Row(elem_id="rag-header"):
            gr.HTML("<h1>AI-policy research assistant</h1><p>Answers come only from the indexed policy sources. "
                    "Every sentence is checked against the exact quote it cites (✓); when the sources don't "
                    "answer, it says so.</p>")
            header_stats = gr.Markdown(stats(), elem_classes=["rag-stats"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=7, min_width=480):
                chat = gr.Chatbot(elem_id="rag-chat", show_label=False, height=640, autoscroll=True, buttons=["copy"],
                                  feedback_options=None, group_consecutive_messages=False, layout="panel",
                                  placeholder=PLACEHOLDER, examples=[{"text": q} for q in EXAMPLES])
                with gr.Row():
                    question = gr.Textbox(elem_id="rag-question", show_label=False, scale=8, lines=1, max_lines=4,
                                          placeholder="Ask a question about the indexed sources…", autofocus=True)
                    ask = gr.Button("Ask", variant="primary", elem_id="rag-ask", scale=1, min_width=90)
                with gr.Row():
                    filters_summary = gr.Markdown("Filters: none (all documents)", elem_id="rag-filters-summary")
                    clear = gr.Button("New conversation", size="sm", scale=0, min_width=150, elem_id="rag-clear")
                    export = gr.DownloadButton("Export Markdown", size="sm", scale=0, min_width=150,
                                               elem_id="rag-export", interactive=False)
            with gr.Column(scale=5, min_width=380):
                with gr.Tabs(elem_id="rag-tabs") as tabs:
                    with gr.Tab("Source viewer", id="viewer", elem_id="rag-tab-viewer"):
                        cite_pick = gr.Dropdown(choices=[], label="Citation", elem_id="rag-cite-pick",
                                                info="Or click [n] / a source title in an answer.")
                        viewer = gr.HTML(R.viewer_placeholder(), elem_id="rag-viewer")
                        with gr.Row():
                            passage_btn = gr.Button("Passage", size="sm", elem_id="rag-passage-btn", interactive=False)
                            full_btn = gr.Button("Full document at this place", size="sm", elem_id="rag-full-btn",
                                                 interactive=False)
                    with gr.Tab("Filters", id="filters", elem_id="rag-tab-filters"):
                        juris = gr.Dropdown(lib.values("jurisdiction"), multiselect=True, label="Jurisdiction",
                                            elem_id="rag-f-juris")
                        dtypes = gr.Dropdown(lib.values("doc_type"), multiselect=True, label="Document type",
                                             elem_id="rag-f-type")
                        with gr.Row():
                            date_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD",
                                                   elem_id="rag-f-from")
                            date_to = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD", elem_id="rag-f-to")
                        docs = gr.Dropdown(lib.doc_choices(), multiselect=True, label="Only these documents",
                                           elem_id="rag-f-docs")
                        reset = gr.Button("Clear filters", size="sm")
                    with gr.Tab("Add documents", id="upload", elem_id="rag-tab-upload"):
                        files = gr.File(file_count="multiple", file_types=list(UPLOAD_TYPES), elem_id="rag-upload",
                                        label=f"PDF, Markdown, text, HTML or DOCX (≤ {settings.max_upload_mb:g} MB each)")
                        add = gr.Button("Add to index", variant="primary", elem_id="rag-add")
                        upload_status = gr.Markdown("", elem_id="rag-upload-status")
                    with gr.Tab("Settings", id="settings", elem_id="rag-tab-settings"):
                        mode = gr.Radio(["extractive", "local", "openai"], value=lib.default_mode,
                                        label="Answer generator", elem_id="rag-mode",
                                        info="extractive: verbatim quotes, no model (fast) · local: bundled GGUF "
                                             "model on this CPU (slow) · openai: any OpenAI-compatible server. "
                                             "Model sentences the sources do not support are dropped.")
                        base_url = gr.Textbox(settings.base_url, label="Base URL (openai)",
                                              placeholder="http://127.0.0.1:8080/v1", elem_id="rag-base-url",
                                              info="The server's RAG_BASE_URL, or a server on this machine.")
                        model = gr.Textbox(settings.model, label="Model", elem_id="rag-model",
                                           info="openai: the model name · local: leave as set by the server "
                                                "(RAG_MODEL; empty = bundled SmolLM2)")
                        gr.Markdown(f"API key: read from the server's `{settings.api_key_env}` environment variable "
                                    "and sent only to the server's configured base URL; never entered here.")
                        k = gr.Slider(1, 20, value=settings.k, step=1, label="Passages retrieved (k)", elem_id="rag-k")
        cite_key = gr.Textbox(visible="hidden", elem_id="rag-cite-key")

        filter_inputs = [juris, dtypes, date_from, date_to, docs]

        def summarize(*values: Any) -> str:
            try:
                shown = R.filters_text(make_filters(*values))
            except InputError as e:
                return f"⚠ {e}"
            return f"Filters: {shown}" if shown else "Filters: none (all documents)"

        for comp in filter_inputs:
            comp.change(summarize, filter_inputs, filters_summary, queue=False, api_visibility="private")
        reset.click(lambda: (None, None, "", "", None), None, filter_inputs, queue=False, api_visibility="private")

        def respond(message, history, state, j, dt, df, dto, dids, md, url, mdl, kk):
            q = (message or "").strip()
            if not q:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            history = list(history or []) + [{"role": "user", "content": q},
                                             {"role": "assistant", "content": R.streaming_html("")}]
            yield "", history, state, gr.skip(), gr.skip()
            try:
                filters = make_filters(j, dt, df, dto, dids)
                assistant = lib.assistant(md, mdl, url)
                text, answer = "", None
                k_arg = int(kk) if kk and int(kk) != settings.k else None  # None: the assistant's own default
                for item in assistant.stream(q, _history(state), filters, k_arg):
                    if isinstance(item, str):
                        text += item
                        history[-1] = {"role": "assistant", "content": R.streaming_html(text)}
                        yield gr.skip(), history, gr.skip(), gr.skip(), gr.skip()
                    else:
                        answer = item
                if answer is None:
                    raise RagError("the assistant returned no answer")
            except RagError as e:
                history[-1] = {"role": "assistant", "content": R.error_html(str(e))}
                yield gr.skip(), history, state, gr.skip(), gr.skip()
                return
            except Exception as e:  # never crash the page: log it, tell the user in one line
                log.exception("answering %r failed", q)
                history[-1] = {"role": "assistant",
                               "content": R.error_html(f"internal error ({type(e).__name__}); see the server log")}
                yield gr.skip(), history, state, gr.skip(), gr.skip()
                return
            state = list(state) + [R.turn_from(answer, lib.index().docs, filters)]
            history[-1] = {"role": "assistant", "content": R.answer_html(state[-1], len(state))}
            path = _export_file(state, lib)
            yield "", history, state, gr.update(choices=_cite_choices(state)), gr.update(value=path, interactive=True)

        chat_io = dict(fn=respond, inputs=[question, chat, turns, *filter_inputs, mode, base_url, model, k],
                       outputs=[question, chat, turns, cite_pick, export], show_progress="hidden",
                       api_visibility="private", trigger_mode="always_last")  # a question asked meanwhile waits

        def show(key, state):
            item = _resolve(key, state)
            if item is None or item["doc_id"] not in lib.index().docs:
                return (R.viewer_placeholder("That source is no longer available."), None, gr.skip(),
                        gr.update(interactive=False), gr.update(interactive=False), gr.skip())
            doc = lib.index().docs[item["doc_id"]]
            return (R.passage_html(item["doc_id"], doc, item), item, gr.update(value=key.split("|")[0]),
                    gr.update(interactive=True), gr.update(interactive=True), gr.Tabs(selected="viewer"))

        def show_latest(state):
            """After an answer, its first source (or nearest passage) is shown in the viewer."""
            if not state:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            t = state[-1]
            key = f"{len(state)}:c{t['citations'][0]['n']}" if t["citations"] else (
                f"{len(state)}:p0" if t["nearest"] else "")
            return show(key, state)[:5] if key else (gr.skip(),) * 5

        latest = dict(fn=show_latest, inputs=turns, outputs=[viewer, view, cite_pick, passage_btn, full_btn],
                      queue=False, api_visibility="private")
        ask.click(**chat_io).then(**latest)
        question.submit(**chat_io).then(**latest)
        view_out = [viewer, view, cite_pick, passage_btn, full_btn, tabs]
        cite_key.change(show, [cite_key, turns], view_out, queue=False, api_visibility="private")
        cite_pick.input(show, [cite_pick, turns], view_out, queue=False, api_visibility="private")

        def show_in(item, whole: bool):
            if not item or item["doc_id"] not in lib.index().docs:
                return R.viewer_placeholder("Choose a citation first.")
            render = R.document_html if whole else R.passage_html
            return render(item["doc_id"], lib.index().docs[item["doc_id"]], item)

        full_btn.click(lambda item: show_in(item, True), view, viewer, queue=False, api_visibility="private").then(None, js=SCROLL_TO_MARK, api_visibility="private")
        passage_btn.click(lambda item: show_in(item, False), view, viewer, queue=False, api_visibility="private").then(None, js=SCROLL_TO_MARK, api_visibility="private")
        chat.example_select(_example, None, question, queue=False, api_visibility="private").then(
            **chat_io).then(**latest)

        def upload(paths, progress=gr.Progress()):
            message, changed = lib.upload(paths or [], progress)
            if not changed:
                return message, gr.skip(), gr.skip(), gr.skip(), gr.skip(), None
            return (message, gr.update(choices=lib.doc_choices()), gr.update(choices=lib.values("jurisdiction")),
                    gr.update(choices=lib.values("doc_type")), stats(), None)

        add.click(upload, files, [upload_status, docs, juris, dtypes, header_stats, files], concurrency_limit=1,
                  api_visibility="private")

        def new_conversation():
            off = gr.update(interactive=False)
            return ([], [], gr.update(choices=[], value=None), R.viewer_placeholder(), None,
                    gr.update(value=None, interactive=False), off, off)

        reset_out = [chat, turns, cite_pick, viewer, view, export, passage_btn, full_btn]
        clear.click(new_conversation, None, reset_out, queue=False, api_visibility="private")
        chat.clear(new_conversation, None, reset_out, queue=False, api_visibility="private")
    demo.rag_library = lib  # type: ignore[attr-defined]
    return demo


def _export_file(turns: list[dict[str, Any]], lib: Library) -> str:
    folder = Path(tempfile.gettempdir()) / "rag-ui-exports"
    folder.mkdir(exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="conversation-", suffix=".md", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(R.export_markdown(turns, f"index {lib.index().version.name}"))
    return path


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX=2 would) before the server's threads start.

    glibc gives each thread that allocates its own arena; with 20 users answered on worker threads
    the freed memory stays fragmented across them and RSS keeps climbing (load test: 149 MB/min in
    the second half of a 2-minute run, 35 MB/min with two arenas, same throughput).
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc (macOS, musl): nothing to cap


def serve(index_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 7860,
          auth: tuple[str, str] | str | None = None, settings: Settings | None = None, block: bool = True):
    """Run the UI. ``auth``: (user, password) or "user:pass"; default from RAG_UI_AUTH (none = no login)."""
    limit_malloc_arenas()
    settings = settings or get_settings()
    login = parse_auth(auth) if isinstance(auth, str) else auth
    if login is None:
        login = parse_auth(os.environ.get("RAG_UI_AUTH"))
    demo = build_app(index_dir or settings.index, settings)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo.launch(
        server_name=host, server_port=port, auth=login, auth_message="AI-policy research assistant: please log in.",
        theme=theme(), css=CSS, js=JS, max_file_size=int(settings.max_upload_mb * 1024 * 1024), show_error=False,
        ssr_mode=False, share=False, inbrowser=False, prevent_thread_lock=not block, quiet=True,
        state_session_capacity=settings.ui_sessions,
    )

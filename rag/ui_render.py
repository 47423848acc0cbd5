"""HTML and Markdown for the chat UI: answers with their sources, refusals, the source viewer, exports.

Pure functions over plain dicts (a "turn"), so the UI state is JSON-like and every page fragment can
be checked without a browser. Everything that came from a document or a user is HTML-escaped here;
the only markup is ours.
"""

from __future__ import annotations

import html
import re
import time
from typing import Any

from .answer import NEAREST
from .types import Answer

_WARN = re.compile(r"^(Status:|The language model failed|No sentence of the model|\d+ sentence\(s\) of the draft)")
CONTEXT_CHARS = 700  # document text shown either side of a quote in the passage view


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _url(value: Any) -> str:
    url = str(value or "").strip()
    return url if re.match(r"https?://[^\s<>\"']+$", url) else ""


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


# ------------------------------------------------------------------ turns
def turn_from(answer: Answer, docs: dict[str, dict[str, Any]], filters: dict[str, Any]) -> dict[str, Any]:
    """What the UI keeps of an answer: JSON-like, enough to re-render, view sources and export."""

    def meta(doc_id: str) -> dict[str, Any]:
        return docs.get(doc_id, {}).get("meta", {})

    cites = []
    for c in answer.citations:
        m = meta(c.doc_id)
        cites.append({
            "n": c.n, "doc_id": c.doc_id, "title": c.title or m.get("title") or c.doc_id, "quote": c.quote,
            "start": c.start, "end": c.end, "page": c.page, "date": c.date or m.get("date", ""),
            "section": c.section, "speaker": c.speaker, "tier": c.tier, "status": c.status,
            "issuer": m.get("issuer", ""), "jurisdiction": m.get("jurisdiction", ""),
            "url": _url(m.get("source_url")) or _url(c.source), "source": c.source,
        })
    nearest, seen = [], set()
    for p in answer.passages:
        key = (p.doc_id, p.section, p.page)
        if key in seen or len(nearest) >= 3:
            continue
        seen.add(key)
        nearest.append({"doc_id": p.doc_id, "title": p.title or p.doc_id, "section": p.section, "page": p.page,
                        "date": p.date, "start": p.start, "end": p.end, "snippet": _clip(p.text, 220),
                        "issuer": p.issuer, "jurisdiction": p.jurisdiction, "url": _url(p.source)})
    return {
        "question": answer.question, "text": answer.text, "refused": answer.refused, "mode": answer.mode,
        "ms": float(answer.timings.get("total", 0.0)), "notes": list(answer.notes),
        "unanswered": list(answer.unanswered), "table": answer.table, "filters": dict(filters),
        "sentences": [{"text": s.text, "citations": list(s.citations), "supported": s.supported,
                       "score": s.score, "reason": s.reason} for s in answer.sentences],
        "citations": cites, "nearest": nearest,
    }


def filters_text(filters: dict[str, Any]) -> str:
    parts = []
    for key, value in filters.items():
        if value in (None, "", []):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        parts.append(f"{key.replace('_', ' ')} = {shown}")
    return "; ".join(parts)


# ---------------------------------------------------------------- answers
def _cite_link(turn_no: int, n: int) -> str:
    return (f'<a class="rag-cite" href="#rag-cite-{turn_no}:c{n}" '
            f'title="Open source [{n}] in the viewer">[{n}]</a>')


def _sentence(turn_no: int, s: dict[str, Any]) -> str:
    marks = "".join(_cite_link(turn_no, n) for n in s["citations"])
    if s["supported"]:
        why = f"Verified against {' '.join(f'[{n}]' for n in s['citations'])}: {s.get('reason') or 'supported'}"
        tick = f'<span class="rag-ok" title="{esc(why)} (score {s.get("score", 0):.2f})">✓</span>'
    else:
        tick = f'<span class="rag-unverified" title="{esc(s.get("reason") or "not verified")}">?</span>'
    return f'<span class="rag-sent">{esc(s["text"])}{marks}{tick}</span> '


def _source_item(turn_no: int, c: dict[str, Any]) -> str:
    bits = [esc(c["issuer"]) if c.get("issuer") else "", esc(c["date"]) if c.get("date") else "",
            esc(c["section"]) if c.get("section") else "", f"p.&nbsp;{esc(c['page'])}" if c.get("page") else "",
            esc(c["jurisdiction"]) if c.get("jurisdiction") else ""]
    meta = " · ".join(b for b in bits if b)
    badges = ""
    if c.get("tier"):
        badges += f'<span class="rag-badge">{esc(c["tier"])}</span>'
    if c.get("status"):
        badges += f'<span class="rag-badge rag-badge-warn">{esc(c["status"])}</span>'
    speaker = f'<span class="rag-speaker">— {esc(c["speaker"])}</span>' if c.get("speaker") else ""
    link = (f'<a class="rag-link" href="{esc(c["url"])}" target="_blank" rel="noopener noreferrer">source ↗</a>'
            if c.get("url") else "")
    return (
        f'<li class="rag-source">'
        f'<div class="rag-src-head"><span class="rag-n">[{c["n"]}]</span> '
        f'<a class="rag-src-title" href="#rag-cite-{turn_no}:c{c["n"]}" title="{esc(c["title"])}: show the quote '
        f'in its document">{esc(_clip(c["title"], 110))}</a></div>'
        f'<div class="rag-src-meta">{meta} {badges}</div>'
        f'<blockquote class="rag-quote">{esc(_clip(c["quote"], 360))} {speaker}</blockquote>'
        f'<div class="rag-src-actions"><a href="#rag-cite-{turn_no}:c{c["n"]}">view in document</a>{link}</div>'
        "</li>"
    )


def _table(turn_no: int, turn: dict[str, Any]) -> str:
    rows = []
    for r in turn["table"] or []:
        text = re.sub(r"\s*\[\d+\]", "", r["text"])
        marks = "".join(_cite_link(turn_no, n) for n in r.get("citations", []))
        rows.append(f"<tr><th>{esc(r['label'])}</th><td>{esc(text)}{marks}</td></tr>")
    head = "Document" if turn["table"] and "document" in turn["table"][0] else "Jurisdiction"
    return (f'<table class="rag-table"><thead><tr><th>{head}</th><th>What the sources say</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _footer(turn: dict[str, Any]) -> str:
    ok = sum(1 for s in turn["sentences"] if s["supported"])
    parts = [f"mode: {esc(turn['mode'] or 'extractive')}", f"{turn['ms']:,.0f} ms"]
    if turn["sentences"]:
        parts.append(f"{ok}/{len(turn['sentences'])} sentences verified ✓")
    shown = filters_text(turn.get("filters") or {})
    if shown:
        parts.append(f"filters: {esc(shown)}")
    return f'<div class="rag-footer">{" · ".join(parts)}</div>'


def _notes(turn: dict[str, Any]) -> str:
    if not turn["notes"]:
        return ""
    items = "".join(f'<li class="{"rag-note-warn" if _WARN.match(n) else "rag-note"}">{esc(n)}</li>'
                    for n in turn["notes"])
    return f'<ul class="rag-notes">{items}</ul>'


def answer_html(turn: dict[str, Any], turn_no: int) -> str:
    """The assistant message: verified sentences with [n] and ✓, notes, then its sources."""
    if turn["refused"]:
        return refusal_html(turn, turn_no)
    if turn.get("table"):
        body = _table(turn_no, turn)
    elif turn["sentences"]:
        body = "".join(_sentence(turn_no, s) for s in turn["sentences"])
    else:
        body = esc(turn["text"])
    gaps = ""
    if turn.get("unanswered"):
        gaps = ('<div class="rag-partial">⚠ The sources don\'t say: '
                + "; ".join(esc(u) for u in turn["unanswered"]) + "</div>")
    sources = "".join(_source_item(turn_no, c) for c in turn["citations"])
    return (f'<div class="rag-answer"><div class="rag-body">{body}</div>{gaps}{_notes(turn)}'
            f'<details class="rag-sources" open><summary class="rag-sources-h">Sources ({len(turn["citations"])})'
            f'</summary><ol>{sources}</ol></details>'
            f"{_footer(turn)}</div>")


def refusal_html(turn: dict[str, Any], turn_no: int) -> str:
    near = []
    for i, p in enumerate(turn["nearest"]):
        where = " · ".join(esc(x) for x in (p.get("section"), f"p. {p['page']}" if p.get("page") else "",
                                             p.get("date")) if x)
        near.append(f'<li class="rag-near"><a href="#rag-cite-{turn_no}:p{i}">{esc(_clip(p["title"], 110))}</a>'
                    f' <span class="rag-src-meta">{where}</span><div class="rag-snippet">{esc(p["snippet"])}</div></li>')
    head = turn["text"].rstrip(".")
    listing = f'<div class="rag-sources-h">{NEAREST}</div><ol>{"".join(near)}</ol>' if near else ""
    notes = {**turn, "notes": [n for n in turn["notes"] if not n.startswith(NEAREST)]}  # listed below
    return (f'<div class="rag-refusal"><div class="rag-refusal-h">⚠ Not answered by the sources</div>'
            f'<p>{esc(head)}.</p>{_notes(notes)}{listing}{_footer(turn)}</div>')


def streaming_html(text: str) -> str:
    return (f'<div class="rag-streaming"><span>{esc(text)}</span>'
            '<span class="rag-working"> verifying sources…</span></div>')


def error_html(message: str) -> str:
    return f'<div class="rag-error"><b>Could not answer.</b> {esc(message)}</div>'


# ----------------------------------------------------------------- viewer
def _page_at(pages: list, offset: int) -> int | None:
    page = None
    for number, start in pages or []:
        if start > offset:
            break
        page = number
    return page


def _locate(text: str, start: int, end: int, quote: str | None) -> tuple[int, int]:
    """The quote's offsets; re-found by content if the stored offsets no longer point at it."""
    start, end = max(0, int(start)), min(len(text), int(end))
    if quote and text[start:end] != quote:
        at = text.find(quote)
        if at >= 0:
            return at, at + len(quote)
    return start, max(start, end)


def _doc_head(doc_id: str, doc: dict[str, Any], start: int, item: dict[str, Any]) -> str:
    m = doc["meta"]
    page = item.get("page") or _page_at(doc.get("pages"), start)
    bits = [m.get("issuer"), m.get("date"), m.get("jurisdiction"), m.get("doc_type"),
            item.get("section"), f"p. {page}" if page else None]
    url = _url(m.get("source_url"))
    link = f' <a href="{esc(url)}" target="_blank" rel="noopener noreferrer">original source ↗</a>' if url else ""
    speaker = f'<div class="rag-src-meta">Quoted speaker: <b>{esc(item["speaker"])}</b></div>' if item.get("speaker") else ""
    return (f'<div class="rag-view-head"><div class="rag-view-title">{esc(m.get("title") or doc_id)}</div>'
            f'<div class="rag-src-meta">{" · ".join(esc(b) for b in bits if b)}{link}</div>{speaker}'
            f'<div class="rag-src-meta rag-docid">document id: {esc(doc_id)}</div></div>')


def passage_html(doc_id: str, doc: dict[str, Any], item: dict[str, Any]) -> str:
    """The quote highlighted in the text around it."""
    text = doc["text"]
    s, e = _locate(text, item["start"], item["end"], item.get("quote"))
    lo, hi = max(0, s - CONTEXT_CHARS), min(len(text), e + CONTEXT_CHARS)
    if lo > 0:
        lo = text.find(" ", lo, s) + 1 or lo
    if hi < len(text):
        hi = text.rfind(" ", e, hi) if text.rfind(" ", e, hi) > 0 else hi
    before = ("… " if lo > 0 else "") + esc(text[lo:s])
    after = esc(text[e:hi]) + (" …" if hi < len(text) else "")
    return (f'<div class="rag-viewer">{_doc_head(doc_id, doc, s, item)}'
            f'<div class="rag-doctext">{before}<mark class="rag-hit">{esc(text[s:e])}</mark>{after}</div></div>')


def document_html(doc_id: str, doc: dict[str, Any], item: dict[str, Any] | None) -> str:
    """The whole document, the quote marked and anchored (#rag-full-hit) so it can be scrolled to."""
    text = doc["text"]
    if item is None:
        body = esc(text)
        start = 0
    else:
        s, e = _locate(text, item["start"], item["end"], item.get("quote"))
        body = f'{esc(text[:s])}<mark id="rag-full-hit" class="rag-hit">{esc(text[s:e])}</mark>{esc(text[e:])}'
        start = s
    return (f'<div class="rag-viewer rag-full">{_doc_head(doc_id, doc, start, item or {})}'
            f'<div class="rag-doctext rag-doctext-full">{body}</div></div>')


def viewer_placeholder(message: str = "Click a citation [n] or a source title in an answer to see the quote in its document.") -> str:
    return f'<div class="rag-viewer-empty">{esc(message)}</div>'


# ----------------------------------------------------------------- export
def export_markdown(turns: list[dict[str, Any]], index_label: str = "") -> str:
    out = ["# AI-policy research assistant: conversation export", "",
           f"Exported {time.strftime('%Y-%m-%d %H:%M %Z')}" + (f" from {index_label}" if index_label else "") + ".",
           "Every answer sentence was checked against the quote it cites; refusals say so.", ""]
    for i, t in enumerate(turns, 1):
        out += [f"## Q{i}. {t['question']}", ""]
        if t["refused"]:
            out += [f"> **Not answered by the sources.** {t['text']}", ""]
        else:
            out += [t["text"], ""]
        meta = [f"mode: {t['mode']}", f"{t['ms']:.0f} ms"]
        if t["sentences"]:
            meta.append(f"{sum(s['supported'] for s in t['sentences'])}/{len(t['sentences'])} sentences verified")
        if filters_text(t.get("filters") or {}):
            meta.append("filters: " + filters_text(t["filters"]))
        out += ["*" + " · ".join(meta) + "*", ""]
        for note in t["notes"]:
            out.append(f"- Note: {note}")
        if t["notes"]:
            out.append("")
        if t["citations"]:
            out += ["**Sources**", ""]
        for c in t["citations"]:
            where = ", ".join(str(x) for x in (c.get("issuer"), c.get("date"), c.get("section"),
                                                f"p. {c['page']}" if c.get("page") else None) if x)
            line = f"[{c['n']}] {c['title']}" + (f" ({where})" if where else "")
            if c.get("url"):
                line += f". <{c['url']}>"
            out.append(line)
            quote = " ".join(c["quote"].split())
            out += [f"> “{quote}”" + (f" (speaker: {c['speaker']})" if c.get("speaker") else ""), ""]
        if t["refused"] and t["nearest"]:
            out += ["Nearest passages (they do not answer the question):", ""]
            out += [f"- {p['title']}" + (f" ({p['section']})" if p.get("section") else "") for p in t["nearest"]]
            out.append("")
    return "\n".join(out).rstrip() + "\n"

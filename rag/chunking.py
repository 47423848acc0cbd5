"""Sentence-aware chunking with exact offsets.

Passages are runs of whole sentences sized in the embedding model's own word pieces (MiniLM
reads 256; we aim below that to leave room for the title/section prefix), overlapping by whole
sentences. A new article or section starts a new passage so a pinpoint citation stays clean.
Only a single "sentence" longer than the model can read (tables, lists without full stops) is
split, at line breaks or semicolons, because otherwise most of it would never be embedded.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .sentences import sentence_spans
from .structure import Marker, is_part, label_at

_SOFT_BREAK = re.compile(r";[^\S\n]+|\n")


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    section: str | None


def chunk_text(
    text: str,
    count_tokens: Callable[[Sequence[str]], list[int]],
    marks: list[Marker] | None = None,
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    hard_limit: int = 250,
) -> list[Chunk]:
    marks = marks or []
    # Page-marker lines never join a sentence (see sentences._BLOCK); a marker inside a line is text.
    spans = sentence_spans(text)
    spans = _split_overlong(text, spans, count_tokens, hard_limit)
    if not spans:
        return []
    sizes = count_tokens([text[s:e] for s, e in spans])
    top_starts = {m.offset for m in marks if is_part(m.label)}
    sec_bounds = sorted(top_starts)

    chunks: list[Chunk] = []
    cur: list[int] = []  # indices into spans
    cur_tokens = 0
    for i, (_s, _e) in enumerate(spans):
        prev_end = spans[i - 1][1] if i else 0
        k = bisect.bisect_left(sec_bounds, prev_end)
        starts_section = k < len(sec_bounds) and sec_bounds[k] < spans[i][1]
        if cur and (cur_tokens + sizes[i] > max_tokens or (starts_section and cur_tokens >= max_tokens * 0.3)):
            chunks.append(_make(text, spans, cur, marks))
            keep: list[int] = []
            if not starts_section:
                t = 0
                for j in reversed(cur[1:]):
                    if t + sizes[j] > overlap_tokens:
                        break
                    keep.insert(0, j)
                    t += sizes[j]
            cur, cur_tokens = keep, sum(sizes[j] for j in keep)
        cur.append(i)
        cur_tokens += sizes[i]
    if cur:
        chunks.append(_make(text, spans, cur, marks))
    return chunks


def _make(text: str, spans: list[tuple[int, int]], idx: list[int], marks: list[Marker]) -> Chunk:
    start, end = spans[idx[0]][0], spans[idx[-1]][1]
    return Chunk(start, end, label_at(marks, start) if marks else None)


def _split_overlong(text: str, spans, count_tokens, limit: int) -> list[tuple[int, int]]:
    sizes = count_tokens([text[s:e] for s, e in spans])
    out: list[tuple[int, int]] = []
    for (s, e), n in zip(spans, sizes):
        if n <= limit:
            out.append((s, e))
            continue
        # Cut at soft breaks into pieces of roughly `limit` tokens (estimated by characters).
        target = max(200, int((e - s) * limit / n))
        piece = s
        while e - piece > target:
            cut = None
            for m in _SOFT_BREAK.finditer(text, piece + target // 3, min(e, piece + target)):
                cut = m.end()
            if cut is None:
                ws = text.rfind(" ", piece + target // 3, piece + target)
                cut = ws + 1 if ws > piece else piece + target
            a, b = _strip(text, piece, cut)
            if b > a:
                out.append((a, b))
            piece = cut
        a, b = _strip(text, piece, e)
        if b > a:
            out.append((a, b))
    return out


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e

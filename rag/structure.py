"""Where a passage sits in a legal or policy text: "Art. 5(1)(a)", "Sec. 4.2(b)(i)", "Annex III".

The structure is read once per document at indexing time as a list of (offset, label) markers;
``label_at`` finds the pinpoint for any character offset, so a citation of a quote knows its
article and paragraph, not just its page.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

_EU_ARTICLE = re.compile(r"^[^\S\n]*Article (\d+[a-z]?)[^\S\n]*$", re.M)
_EU_ANNEX = re.compile(r"^[^\S\n]*ANNEX ([IVXLC]+)[^\S\n]*$", re.M)
_EU_RECITALS_END = re.compile(r"^[^\S\n]*HAVE ADOPTED THIS REGULATION", re.M)
_US_SEC = re.compile(r"^[^\S\n]*(?:<u>)?Sec(?:tion|\.|</u>\.) (\d+)\.", re.M)  # "<u>Sec</u>. 4." (whitehouse.gov HTML)
_US_SUB = re.compile(r"^[^\S\n]*(\d+)\.(\d+)\.[^\S\n]", re.M)
_MD_HEAD = re.compile(r"^(#{1,4}) +(.+?)\s*#*$", re.M)
_LINE_ITEM = re.compile(r"^[^\S\n]*(\d{1,2})\.[^\S\n]+(?=\S)|^[^\S\n]*\(([a-z]{1,2}|[ivx]{1,5}|[A-Z]|\d{1,3})\)[^\S\n]+", re.M)
_INLINE_PARA = re.compile(r"(?<=\.)[^\S\n]+\(([a-z])\)[^\S\n]+")
_ROMAN = re.compile(r"^[ivx]{1,5}$")


@dataclass(frozen=True)
class Marker:
    offset: int
    label: str


def kind_of(text: str) -> str:
    if len(_EU_ARTICLE.findall(text)) >= 3:
        return "eu"
    if len(_US_SEC.findall(text)) >= 2:
        return "us"
    return "generic"


def markers(text: str) -> list[Marker]:
    kind = kind_of(text)
    if kind == "eu":
        return _eu_markers(text)
    if kind == "us":
        return _us_markers(text)
    return _generic_markers(text)


# Reports and frameworks converted from PDF: numbered headings ("3.3.4 Artificial intelligence
# sandboxes"), NIST AI RMF categories ("GOVERN 1.2:") and numbered paragraphs ("97. We intend ..."),
# the way UK white papers are cited. Table-of-contents lines end in a page number and are skipped.
_NUM_HEAD = re.compile(r"^[^\S\n]*(\d{1,2}(?:\.\d{1,2}){1,3}\.?|\d{1,2}\.)[^\S\n]+([A-Z][^\n]{2,100}?)[^\S\n]*$", re.M)
_NIST_CAT = re.compile(r"^(GOVERN|MAP|MEASURE|MANAGE) (\d{1,2}(?:\.\d{1,2})?):", re.M)
_PARA = re.compile(r"^(\d{1,3})\.[^\S\n]+(?=[A-Z])", re.M)


def _is_heading(m: re.Match, text: str) -> bool:
    number, head = m.group(1).rstrip("."), m.group(2)
    if head[-1] in ".,;:?!" or re.search(r"\s\d+$|\.{3}", head) or len(head.split()) > 14:
        return False
    if "." not in number and (len(head) > 60 or len(head.split()) > 9):
        return False  # a wrapped first line of a numbered paragraph, not a heading
    following = text[m.end():m.end() + 200].lstrip("\n ")
    return not following[:1].islower()


def _generic_markers(text: str) -> list[Marker]:
    out = [Marker(m.start(), m.group(2).strip()[:80]) for m in _MD_HEAD.finditer(text)]
    heads = [m for m in _NUM_HEAD.finditer(text) if _is_heading(m, text)]
    out += [Marker(m.start(), f"Sec. {m.group(1).rstrip('.')}") for m in heads]
    out += [Marker(m.start(), f"{m.group(1)} {m.group(2)}") for m in _NIST_CAT.finditer(text)]
    head_at = {m.start() for m in heads}
    last = 0
    section_marks = sorted(out, key=lambda mk: mk.offset)
    for m in _PARA.finditer(text):
        n = int(m.group(1))
        if m.start() in head_at or n != last + 1:
            continue
        first = re.split(r"(?<=[.?!])\s", text[m.end():m.end() + 400], maxsplit=1)[0]
        if first.rstrip().endswith("?"):
            continue  # a numbered consultation question, not a paragraph
        last = n
        sec = label_at(section_marks, m.start())
        out.append(Marker(m.start(), f"{sec}, para. {n}" if sec else f"para. {n}"))
    if last < 20:  # a few numbered lines are a list; white papers number every paragraph
        out = [mk for mk in out if "para. " not in mk.label]
    return sorted(out, key=lambda mk: mk.offset)


def _eu_markers(text: str) -> list[Marker]:
    out: list[Marker] = []
    tops = [(m.start(), f"Art. {m.group(1)}") for m in _EU_ARTICLE.finditer(text)]
    tops += [(m.start(), f"Annex {m.group(1)}") for m in _EU_ANNEX.finditer(text)]
    end_recitals = _EU_RECITALS_END.search(text)
    tops.sort()
    first_article = tops[0][0] if tops else len(text)
    # Recitals "(12) ..." in the preamble.
    for m in re.finditer(r"^[^\S\n]*\((\d{1,3})\)[^\S\n]+", text[:first_article], re.M):
        if end_recitals is None or m.start() < end_recitals.start():
            out.append(Marker(m.start(), f"Recital {m.group(1)}"))
    bounds = tops + [(len(text), "")]
    for (start, label), (end, _) in zip(bounds, bounds[1:]):
        out.append(Marker(start, label))
        para = point = None
        for m in _LINE_ITEM.finditer(text, start, end):
            if m.group(1):
                para, point = m.group(1), None
                out.append(Marker(m.start(), f"{label}({para})"))
            else:
                tok = m.group(2)
                if tok.isdigit():
                    continue
                if _ROMAN.match(tok) and point and not (tok == "i" and point == "h"):
                    out.append(Marker(m.start(), f"{label}{f'({para})' if para else ''}({point})({tok})"))
                elif tok.islower():
                    point = tok
                    out.append(Marker(m.start(), f"{label}{f'({para})' if para else ''}({point})"))
    return sorted(out, key=lambda mk: mk.offset)


def _us_markers(text: str) -> list[Marker]:
    out = [Marker(m.start(), f"Sec. {m.group(1)}") for m in _US_SEC.finditer(text)]
    out += [Marker(m.start(), f"Sec. {m.group(1)}.{m.group(2)}") for m in _US_SUB.finditer(text)]
    out.sort(key=lambda mk: mk.offset)
    result: list[Marker] = []
    bounds = out + [Marker(len(text), "")]
    for cur, nxt in zip(bounds, bounds[1:]):
        result.append(cur)
        para = None
        items = [(m.start(), m.group(2)) for m in _LINE_ITEM.finditer(text, cur.offset, nxt.offset) if m.group(2)]
        items += [(m.start(1) - 1, m.group(1)) for m in _INLINE_PARA.finditer(text, cur.offset, nxt.offset)]
        for pos, tok in sorted(items):
            if tok.isdigit():
                continue
            if _ROMAN.match(tok) and para and not (tok == "i" and para == "h"):
                result.append(Marker(pos, f"{cur.label}({para})({tok})"))
            elif tok.isupper() and para:
                continue
            elif tok.islower():
                para = tok
                result.append(Marker(pos, f"{cur.label}({para})"))
    return sorted(result, key=lambda mk: mk.offset)


def label_at(marks: list[Marker] | list[tuple[int, str]], offset: int) -> str | None:
    """The innermost label in force at ``offset`` (None before the first marker)."""
    offsets = [m[0] if isinstance(m, tuple) else m.offset for m in marks]
    i = bisect.bisect_right(offsets, offset) - 1
    if i < 0:
        return None
    m = marks[i]
    return m[1] if isinstance(m, tuple) else m.label


def top_level(label: str | None) -> str | None:
    """'Art. 5(1)(a)' -> 'Art. 5'; 'Sec. 4.2(b)' -> 'Sec. 4.2'."""
    if not label:
        return label
    return re.split(r"\(|, ", label)[0].strip()


def is_part(label: str | None) -> bool:
    """A top-level part (article, section, annex, recital) where a new passage starts."""
    return bool(label) and top_level(label) == label and not label.startswith("para. ")


def headings(text: str, marks: list[Marker] | list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """(offset, label, heading text) of each top-level part: 'Article 5 Prohibited AI practices'."""
    out = []
    for m in marks:
        offset, label = (m if isinstance(m, tuple) else (m.offset, m.label))
        if not is_part(label) or label.startswith("Recital"):
            continue
        lines = [ln.strip() for ln in text[offset:offset + 400].split("\n") if ln.strip()]
        if not lines:
            continue
        head = lines[0]
        if re.fullmatch(r"(Article \d+[a-z]?|ANNEX [IVXLC]+)", head) and len(lines) > 1:
            head = f"{head} {lines[1]}"
        head = re.split(r"(?<=\.)\s+\(a\)", head)[0]
        out.append((offset, label, " ".join(head.split())[:160]))
    return out


_PAGE_MARK = re.compile(r"^[^\S\n]*---- Page \d+ ----[^\S\n]*$", re.M)
_NOTE_LINE = re.compile(r"^[^\S\n]*(\d{1,3})[^\S\n]+(?=\S)", re.M)


@lru_cache(maxsize=64)
def footnotes(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of PDF footnotes: the numbered notes at the foot of a page ("24 More recently, …").

    A note is a line "N text" at the end of a page whose N the body has already called as a
    superscript glued to a word ("principles,24", "component.26"), and the notes of a page run
    N, N+1, ... to its foot. A numbered list in the body ("1 Human agency and oversight") is not
    called that way, so it stays body text.
    """
    out: list[tuple[int, int]] = []
    bounds = [0] + [m.start() for m in _PAGE_MARK.finditer(text)] + [len(text)]
    for page_start, page_end in zip(bounds, bounds[1:]):
        notes = [m for m in _NOTE_LINE.finditer(text, page_start, page_end) if _called(text, m)]
        chain: list[re.Match] = []
        for m in reversed(notes):  # the run of consecutive numbers that ends the page
            if chain and int(m.group(1)) != int(chain[-1].group(1)) - 1:
                break
            chain.append(m)
        if not chain:
            continue
        last = chain[0]
        # A note runs on for a few lines at most; what follows further down is body text again.
        lines_after = text[last.end():page_end].split("\n")
        if len(lines_after) > 7:
            continue
        out.append((chain[-1].start(), page_end))
    return tuple(out)


def _called(text: str, m: re.Match) -> bool:
    n = m.group(1)
    call = re.compile(rf"(?:(?:[a-z]{{2}}|[)”’\"])[.,;:]?|\d{{4}}[.,;:]){n}(?![\d,])(?=[\s.,;:)])")  # "Year 2019,54"
    return bool(call.search(text, max(0, m.start() - 20000), m.start()))


def in_footnote(spans: tuple[tuple[int, int], ...], offset: int) -> bool:
    i = bisect.bisect_right([s for s, _ in spans], offset) - 1
    return i >= 0 and spans[i][0] <= offset < spans[i][1]

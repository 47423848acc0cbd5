"""The `rag` command: thin wrappers that parse flags, call the library and print text or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.console import Console

from .errors import InputError, RagError

app = typer.Typer(help="AI-policy research assistant: verified, cited answers over policy documents.",
                  no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False)
index_app = typer.Typer(help="Build and inspect the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
err = Console(stderr=True)
out = Console()

IndexOpt = typer.Option(None, "--index", help="Index directory (default ./index or $RAG_INDEX).")
FilterOpt = typer.Option(None, "--filter", "-f", help="key=value: doc_type, jurisdiction, doc_id, date_from, date_to.")


def _settings(**kw: Any):
    from .settings import get_settings

    return get_settings(**kw)


def parse_filters(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    filters: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--filter '{item}': expected key=value, e.g. --filter jurisdiction=EU")
        key, value = item.split("=", 1)
        filters.setdefault(key.strip(), []).extend(v.strip() for v in value.split(",") if v.strip())
    return filters


def read_jsonl(path: Path, field: str) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get(field), str):
            raise InputError(f"{path}:{n}: each line needs a \"{field}\" string")
        yield rec


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)


@index_app.command("build")
def index_build(
    paths: list[Path] = typer.Argument(..., help="Files or folders (searched recursively)."),
    index: Optional[Path] = IndexOpt,
    faiss: str = typer.Option("auto", help="FAISS structure: auto, flat, hnsw or ivfpq."),
) -> None:
    """Index documents (.md .txt .html .pdf .docx). Unchanged files are not re-embedded.

    Example: [bold]rag index build corpus/ ../shared/corpus --index index[/bold]
    """
    from .index import Index

    settings = _settings(index=index, faiss_kind=faiss)
    with _progress() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            label = {"read": "reading", "embed": "embedding", "write": "writing"}[stage]
            if stage not in tasks:
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        idx, report = Index.build(paths, settings.index, settings, progress)
    for path, reason in report.errors:
        err.print(f"[yellow]skipped[/yellow] {path}: {reason}", highlight=False, soft_wrap=True)
    err.print(
        f"index {idx.path}: {len(idx.docs)} documents, {len(idx)} passages "
        f"({len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed, {report.embedded} passages embedded) in {report.seconds:.1f}s",
        highlight=False,
    )


@index_app.command("info")
def index_info(index: Optional[Path] = IndexOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Documents, passages, size on disk, embedding model and FAISS structure of an index."""
    from .index import Index

    info = Index.open(index, _settings(index=index)).info()
    if as_json:
        print(json.dumps(info, indent=2))
        return
    from rich.table import Table

    out.print(f"[bold]{info['index']}[/bold] ({info['version']}, built {info['built']})")
    out.print(f"{info['documents']} documents, {info['passages']} passages, {info['bytes'] / 1e6:.1f} MB, "
              f"model {info['model']} ({info['dim']}d), FAISS {info['faiss']}")
    table = Table("doc_id", "title", "passages")
    for doc_id, d in info["docs"].items():
        table.add_row(doc_id, (d["title"] or "")[:70], str(d["passages"]))
    out.print(table)


def passage_json(p) -> dict[str, Any]:
    return {"doc_id": p.doc_id, "title": p.title, "text": p.text, "start": p.start, "end": p.end,
            "score": round(p.score, 6), "page": p.page, "source": p.source, "section": p.section,
            "date": p.date, "jurisdiction": p.jurisdiction, "doc_type": p.doc_type}


@app.command()
def retrieve(
    question: Optional[str] = typer.Argument(None, help="The question."),
    k: int = typer.Option(5, "-k", help="Passages to return."),
    filter: Optional[list[str]] = FilterOpt,
    queries: Optional[Path] = typer.Option(None, "--queries", help="JSONL of {\"id\",\"question\"}; one result per line."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    index: Optional[Path] = IndexOpt,
) -> None:
    """Find the passages that best answer a question (hybrid dense + BM25).

    Example: [bold]rag retrieve "What does the EU AI Act ban?" -k 5 --filter jurisdiction=EU[/bold]
    """
    from .index import Index

    settings = _settings(index=index)
    filters = parse_filters(filter)
    items = list(read_jsonl(queries, "question")) if queries else [{"question": _check_question(question, settings)}]
    idx = Index.open(settings.index, settings)
    for item in items:
        passages = idx.retrieve(_check_question(item["question"], settings), k=k, filters=filters)
        if as_json or queries:
            rec = {**({"id": item["id"]} if "id" in item else {}), "question": item["question"],
                   "passages": [passage_json(p) for p in passages]}
            print(json.dumps(rec, ensure_ascii=False), flush=True)
        else:
            for i, p in enumerate(passages, 1):
                loc = ", ".join(x for x in [p.section or "", f"p. {p.page}" if p.page else ""] if x)
                out.print(f"[bold][{i}] {p.title}[/bold] ({p.doc_id}{', ' + loc if loc else ''}) score {p.score:.4f}",
                          highlight=False)
                out.print(p.text.strip(), highlight=False, markup=False)
                out.print()


def _check_question(question: str | None, settings) -> str:
    if question is None or not question.strip():
        raise InputError("empty question: ask something, e.g. rag ask \"What does the EU AI Act ban?\"")
    if len(question) > settings.max_question_chars:
        raise InputError(f"question is {len(question):,} characters, over the {settings.max_question_chars:,} limit "
                         "(RAG_MAX_QUESTION_CHARS)")
    return question


def main() -> None:
    try:
        app()
    except RagError as e:
        err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)

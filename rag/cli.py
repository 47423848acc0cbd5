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
eval_app = typer.Typer(help="Evaluate answer quality: golden set, regression gate, faithfulness scorer.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")
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


@app.command()
def ask(
    question: Optional[str] = typer.Argument(None, help="The question."),
    llm: Optional[str] = typer.Option(None, "--llm", help="extractive (default), local (GGUF) or openai."),
    model: Optional[str] = typer.Option(None, "--model", help="GGUF path (local) or model name (openai)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible base URL (…/v1)."),
    filter: Optional[list[str]] = FilterOpt,
    k: Optional[int] = typer.Option(None, "-k", help="Passages to read."),
    questions: Optional[Path] = typer.Option(None, "--questions", help="JSONL of {\"id\",\"question\",\"history\"?}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per line)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Use only sources published by this date (YYYY-MM-DD)."),
    fmt: str = typer.Option("text", "--format", help="text, markdown, table (comparisons as a table) or json."),
    index: Optional[Path] = IndexOpt,
) -> None:
    """Answer with verified, cited quotes — or say the sources don't cover it.

    Examples:
      [bold]rag ask "What did Kyle Chan say about state support?"[/bold]
      [bold]rag ask "What does the EU AI Act ban?" --llm openai --base-url http://127.0.0.1:8080/v1[/bold]
      [bold]rag ask --questions questions.jsonl --json[/bold]
    """
    from .answer import Assistant

    settings = _settings(index=index, llm=llm, model=model, base_url=base_url)
    filters = parse_filters(filter)
    items = list(read_jsonl(questions, "question")) if questions else [{"question": _check_question(question, settings)}]
    assistant = Assistant.open(settings.index, settings=settings)
    for item in items:
        try:
            answer = assistant.ask(item["question"], history=item.get("history"), filters=filters, k=k,
                                   as_of=item.get("as_of") or as_of)
        except InputError as e:
            if not questions:
                raise
            print(json.dumps({**_id(item), "question": item["question"], "error": str(e)}), flush=True)
            continue
        if as_json or questions or fmt == "json":
            print(json.dumps({**_id(item), **answer.to_json()}, ensure_ascii=False), flush=True)
        elif fmt in ("markdown", "table"):
            print(answer_markdown(answer))
        else:
            _print_answer(answer)


def answer_markdown(answer) -> str:
    """The answer (a table for comparisons) followed by its numbered sources with their quotes."""
    lines = [answer.text, ""]
    lines += [f"> note: {n}" for n in answer.notes]
    for c in answer.citations:
        where = ", ".join(x for x in [c.section or "", f"p. {c.page}" if c.page else "", c.date, c.tier or ""] if x)
        who = f" — {c.speaker}" if c.speaker else ""
        lines.append(f"[{c.n}] **{c.title}** ({where}){who}: {_quoted(c.quote)} {c.source or ''}".rstrip())
    return "\n".join(lines)


def _id(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"]} if "id" in item else {}


def _print_answer(answer) -> None:
    style = "yellow" if answer.refused else "bold"
    out.print(answer.text, style=style, highlight=False, markup=False)
    for note in answer.notes:
        out.print(f"note: {note}", style="dim", highlight=False, markup=False)
    for c in answer.citations:
        where = ", ".join(x for x in [c.section or "", f"p. {c.page}" if c.page else "", c.date] if x)
        who = f" — {c.speaker}" if c.speaker else ""
        out.print(f"[{c.n}] {c.title} ({where}){who}", style="cyan", highlight=False, markup=False)
        out.print(f"    {_quoted(c.quote)}", highlight=False, markup=False)
        if c.source:
            out.print(f"    {c.source}", style="dim", highlight=False, markup=False)
    if answer.refused and answer.passages:
        out.print("Nearest passages:", style="dim")
        for p in answer.passages[:3]:
            out.print(f"  - {p.title} ({p.section or p.date}): {' '.join(p.text.split())[:160]}…", style="dim",
                      highlight=False, markup=False)
    total = answer.timings.get("total")
    if total is not None:
        out.print(f"({answer.mode}, {total:.0f} ms)", style="dim")


@app.command()
def serve(
    index: Optional[Path] = IndexOpt,
    host: str = typer.Option("127.0.0.1", help="Address to bind (localhost unless told otherwise)."),
    port: int = typer.Option(7860, help="Port."),
) -> None:
    """Start the chat web UI (same as `python app.py`). Set RAG_UI_AUTH=user:pass to require a login.

    Example: [bold]rag serve --index index --port 7860[/bold]
    """
    from .ui import serve as run

    run(index_dir=index, host=host, port=port)


ROOT = Path(__file__).resolve().parents[1]


def _eval_sources() -> list[Path]:
    shared = ROOT.parent / "shared" / "corpus"
    return [ROOT / "corpus"] + ([shared] if shared.is_dir() else [])


@eval_app.command("run")
def eval_run(
    suite: Path = typer.Option(ROOT / "eval" / "golden.jsonl", help="Golden set (JSONL)."),
    llm: Optional[str] = typer.Option(None, "--llm", help="extractive, local or openai."),
    model: Optional[str] = typer.Option(None, "--model"),
    base_url: Optional[str] = typer.Option(None, "--base-url"),
    index: Optional[Path] = typer.Option(None, "--index", help="Index to evaluate (default: corpus/ + ../shared/corpus, "
                                                                 "built incrementally in .cache/eval-index)."),
    baseline: Path = typer.Option(ROOT / "eval" / "baseline.json", help="Baseline to compare with."),
    gate: bool = typer.Option(False, "--gate", help="Exit 1 if a metric fell beyond its tolerance."),
    update_baseline: bool = typer.Option(False, "--update-baseline", help="Write this run as the new baseline."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write report.md, report.html, results.json here."),
    as_json: bool = typer.Option(False, "--json", help="Print the full results as JSON."),
    limit: Optional[int] = typer.Option(None, help="Only the first N questions (quick checks)."),
) -> None:
    """Score retrieval, correctness, faithfulness, citations, refusals and latency on a golden set.

    Examples:
      [bold]rag eval run --report eval/reports/latest[/bold]
      [bold]rag eval run --gate[/bold]                 (CI: fails and names the questions that regressed)
      [bold]rag eval run --llm local --report eval/reports/local[/bold]
    """
    from .answer import Assistant
    from .evaluation import gate as gate_mod
    from .evaluation import golden, harness
    from .evaluation import report as report_mod
    from .index import Index

    settings = _settings(index=index, llm=llm, model=model, base_url=base_url)
    if index is None:
        index = ROOT / ".cache" / "eval-index"
        with _progress() as bar:
            task = bar.add_task("indexing the evaluation corpus", total=None)
            Index.build(_eval_sources(), index, settings, lambda s, d, t: bar.update(task, completed=d, total=t))
    items = golden.load(suite)[:limit]
    assistant = Assistant.open(index, settings=settings)
    with _progress() as bar:
        task = bar.add_task(f"evaluating ({assistant.mode})", total=len(items))
        run = harness.run(assistant, items, lambda d, t: bar.update(task, completed=d))
    base = json.loads(baseline.read_text(encoding="utf-8")) if baseline.exists() else None
    failures, changes = gate_mod.compare(run, base) if base else ([], [])
    if report:
        for path in report_mod.write(report, run, base, failures, changes):
            err.print(f"wrote {path}", highlight=False)
    if as_json:
        print(json.dumps(run, ensure_ascii=False))
    else:
        out.print(report_mod.markdown(run, base, failures, changes).split("## Answerable")[0], markup=False,
                  highlight=False)
    if update_baseline:
        baseline.write_text(json.dumps(gate_mod.baseline_from(run), indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        err.print(f"baseline written to {baseline}")
    if gate:
        if base is None:
            raise RagError(f"no baseline at {baseline}: create one with `rag eval run --update-baseline`")
        for c in changes:
            err.print(c, highlight=False, markup=False)
        if failures:
            for f in failures:
                err.print(f"[red]REGRESSION[/red] {f}", highlight=False)
            raise typer.Exit(1)
        err.print("[green]gate passed[/green]: no metric fell beyond its tolerance")


@eval_app.command("faithfulness")
def eval_faithfulness(
    input: Path = typer.Option(..., "--input", help="JSONL: {\"id\", \"question\"?, \"context\": str|[str], \"answer\"}."),
    as_json: bool = typer.Option(False, "--json", help="One JSON result per line."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Also ask an LLM judge: local (GGUF) or openai."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge model: GGUF path (local) or model name (openai)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Judge endpoint, OpenAI-compatible (…/v1)."),
    combine: Optional[str] = typer.Option(None, "--combine", help="With --judge: and (flag only what both tiers "
                                          "flag) or or (flag what either flags); both verdicts are kept."),
) -> None:
    """Score whether answers are supported by their contexts (offline, milliseconds per answer).

    Output per line: {"id", "score" (0..1, faithful), "hallucinated", "unsupported": [sentences]}.
    With --judge, an LLM splits each answer into claims and checks each against the context instead
    (slower; its agreement with human labels is in eval/faithfulness/REPORT.md): the same fields
    ("unsupported" lists claims) plus "judge": {"claims", "supported", "unknown", "model", ...}.
    Examples:
      [bold]rag eval faithfulness --input answers.jsonl --json[/bold]
      [bold]rag eval faithfulness --input answers.jsonl --judge openai --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b[/bold]
    """
    records = list(read_jsonl(input, "answer"))
    if judge is None:
        if combine or model or base_url:
            raise InputError("--combine, --model and --base-url configure the LLM judge: add --judge local or --judge openai")
        from .faithfulness import score_records

        results = score_records(records)
    else:
        results = _judge_results(records, judge, model, base_url, combine)
    errors = 0
    for rec in results:
        errors += "error" in rec
        if as_json:
            print(json.dumps(rec, ensure_ascii=False), flush=True)
        else:
            _print_faithfulness(rec)
    if errors:
        err.print(f"{errors} of {len(records)} answers could not be judged (see their \"error\")", highlight=False)
        raise typer.Exit(1)


def _judge_results(records: list[dict[str, Any]], judge: str, model: str | None, base_url: str | None,
                   combine: str | None) -> Iterator[dict[str, Any]]:
    from .evaluation.judge import COMBINE_RULES, ClaimJudge, judge_records
    from .llm import make_generator

    if judge not in ("local", "openai"):
        raise InputError(f"--judge {judge}: use local (a GGUF model) or openai (an OpenAI-compatible endpoint)")
    if combine is not None and combine not in COMBINE_RULES:
        raise InputError(f"--combine {combine}: use and or or")
    settings = _settings(llm=judge, model=model, base_url=base_url)
    gen = make_generator(judge, settings.model, settings.base_url, settings.api_key_env, settings.llm_timeout,
                         settings.llm_retries, settings.llm_threads)
    if judge == "openai" and not getattr(gen, "base_url", ""):
        raise InputError("--judge openai needs an endpoint: pass --base-url (e.g. http://127.0.0.1:11434/v1) "
                         "or set RAG_BASE_URL")
    path = getattr(gen, "model_path", "")
    if judge == "local" and not Path(path).is_file():
        raise InputError(f"--model {path}: no such GGUF file")
    return judge_records(records, ClaimJudge(gen), combine)


def _print_faithfulness(rec: dict[str, Any]) -> None:
    if "error" in rec:
        out.print(f"{rec['id']}: ERROR {rec['error']}", highlight=False, markup=False)
        return
    flag = "HALLUCINATED" if rec["hallucinated"] else "ok"
    line = f"{rec['id']}: {flag} (faithful {rec['score']:.2f})"
    j = rec.get("judge")
    if j:
        line += f"; judge {j['model']}: {j['supported']}/{j['claims']} claims supported"
        line += f", {j['unknown']} unreadable" if j["unknown"] else ""
        line += "" if j["decomposition"] == "llm" else f", claims = {j['decomposition']}"
    if "learned" in rec:
        learned, judged = rec["learned"], rec["judge"]
        line += (f"; {rec['combine']} of learned ({'flags' if learned['hallucinated'] else 'passes'}, "
                 f"{learned['score']:.2f}) and judge ({'flags' if judged['hallucinated'] else 'passes'}, "
                 f"{judged['score']:.2f})")
    out.print(line, highlight=False, markup=False)
    for u in rec["unsupported"]:
        out.print(f"    unsupported: {u}", highlight=False, markup=False)


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


if __name__ == "__main__":
    main()


def _quoted(quote: str) -> str:
    """A citation's quote in quotation marks, unless it is itself a quotation (“…,” says Chan)."""
    text = " ".join(quote.split())
    return text if text[:1] in "“\"‘'" else f"“{text}”"

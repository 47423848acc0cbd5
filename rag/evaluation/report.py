"""Reports of an evaluation run: Markdown, a self-contained HTML page with plots, and JSON."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

HEADLINE = ["hit@5", "mrr", "ndcg@10", "correctness", "cites_gold", "faithfulness", "citation_recall",
            "citation_precision", "refusal_accuracy", "false_refusal_rate", "speaker_accuracy", "pinpoint_accuracy",
            "status_mention", "quotes_exact", "latency_p50_ms", "latency_p95_ms"]


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if v <= 1.0 else f"{v:.0f}"
    return str(v)


def markdown(run: dict[str, Any], baseline: dict[str, Any] | None, failures: list[str], changes: list[str]) -> str:
    m = run["metrics"]
    lines = [f"# Evaluation report — {run['mode']}", "",
             f"{run['created']}; {m['evaluated']} of {m['questions']} questions evaluated ({m['skipped']} skipped).", "",
             "| metric | this run | baseline |", "|---|---:|---:|"]
    base = (baseline or {}).get("metrics", {})
    for key in HEADLINE:
        lines.append(f"| {key} | {_fmt(m.get(key))} | {_fmt(base.get(key))} |")
    lines += ["", "## By question type", "", "| type | n | hit@5 | correctness | refusal accuracy | faithfulness |",
              "|---|---:|---:|---:|---:|---:|"]
    for t, row in m["by_type"].items():
        lines.append(f"| {t} | {row['n']} | {_fmt(row['hit@5'])} | {_fmt(row['correctness'])} | "
                     f"{_fmt(row['refusal_accuracy'])} | {_fmt(row['faithfulness'])} |")
    if baseline is not None:
        lines += ["", "## Gate", "", "PASSED" if not failures else "FAILED", ""]
        lines += [f"- {f}" for f in failures]
        if changes:
            lines += ["", "Questions that changed:", ""] + [f"- {c}" for c in changes]
    wrong = [r for r in run["items"] if r.get("answerable") and r.get("correct") is False]
    if wrong:
        lines += ["", "## Answerable questions answered incorrectly", ""]
        for r in wrong:
            lines.append(f"- **{r['id']}** ({r['type']}) {r['question']} — facts {r.get('facts_found')}/{r.get('facts_total')}"
                         f"{' (refused)' if r.get('refused') else ''}")
    return "\n".join(lines) + "\n"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(run: dict[str, Any], baseline: dict[str, Any] | None) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    by_type = run["metrics"]["by_type"]
    types = list(by_type)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    xs = range(len(types))
    for j, key in enumerate(["hit@5", "correctness", "refusal_accuracy"]):
        vals = [by_type[t][key] if by_type[t][key] is not None else 0 for t in types]
        ax.bar([x + j * 0.27 for x in xs], vals, width=0.27, label=key)
    ax.set_xticks([x + 0.27 for x in xs], types, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("Metrics by question type")
    out.append(("Metrics by question type", _png(fig)))
    plt.close(fig)
    if baseline is not None:
        keys = [k for k in HEADLINE if not k.startswith("latency") and run["metrics"].get(k) is not None]
        fig, ax = plt.subplots(figsize=(8, 3.2))
        xs = range(len(keys))
        ax.bar([x - 0.2 for x in xs], [baseline["metrics"].get(k) or 0 for k in keys], width=0.4, label="baseline")
        ax.bar([x + 0.2 for x in xs], [run["metrics"].get(k) or 0 for k in keys], width=0.4, label="this run")
        ax.set_xticks(list(xs), keys, rotation=35, ha="right")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8)
        ax.set_title("Before / after")
        out.append(("Before / after against the baseline", _png(fig)))
        plt.close(fig)
    lat = [r["latency_ms"] for r in run["items"] if "latency_ms" in r]
    if lat:
        fig, ax = plt.subplots(figsize=(8, 2.8))
        ax.hist(lat, bins=30)
        ax.set_xlabel("ms per question")
        ax.set_title("Latency distribution")
        out.append(("Latency distribution", _png(fig)))
        plt.close(fig)
    return out


def write(folder: Path, run: dict[str, Any], baseline: dict[str, Any] | None,
          failures: list[str], changes: list[str]) -> list[Path]:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    md = markdown(run, baseline, failures, changes)
    (folder / "report.md").write_text(md, encoding="utf-8")
    (folder / "results.json").write_text(json.dumps(run, indent=2, ensure_ascii=False), encoding="utf-8")
    figures = "".join(f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' src='data:image/png;base64,{b}'>"
                      for t, b in plots(run, baseline))
    body = "<pre style='white-space:pre-wrap'>" + html.escape(md) + "</pre>"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
            f"<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto}}img{{max-width:100%}}</style>"
            f"</head><body><h1>Evaluation report — {html.escape(run['mode'])}</h1>{figures}{body}</body></html>")
    (folder / "report.html").write_text(page, encoding="utf-8")
    return [folder / "report.md", folder / "report.html", folder / "results.json"]

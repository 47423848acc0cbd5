"""Agreement of the LLM-judge tier (``rag.evaluation.judge``) with RAGTruth's human labels, side by
side with the learned scorer on the same responses.

Why: a judge is only worth its cost if it agrees with people better than the millisecond scorer;
this measures both on one sample and reports them the way REPORT.md reports the scorer (precision,
recall and F1 of the hallucinated class, balanced accuracy, AUROC), plus the two combinations.

Sample: fixed and seeded, stratified by split (summary, data-to-text) and label (hallucinated or
not), equal counts per cell, drawn by default from the held-out slice that the learned scorer never
trained on (``train.held_out``), so neither method has seen these responses. RAGTruth's QA split is
a held-out test: it is never read here.

Run (the bundled SmolLM2-135M, one thread, about 5 s a response on 2 cores):
    .venv/bin/python eval/faithfulness/judge_agreement.py --limit 48 --llm local
With a stronger model behind any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server):
    .venv/bin/python eval/faithfulness/judge_agreement.py --limit 96 --llm openai \\
        --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b-instruct
Each run is stored in ``judge_results.json`` under its model's name (other runs are kept) and the
table in REPORT.md's "Judge tier" section is regenerated from all stored runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, precision_recall_fscore_support, roc_auc_score

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import train  # noqa: E402  (the loader and held-out slice the learned scorer was trained with)

from rag.errors import LLMError  # noqa: E402
from rag.evaluation.judge import UNKNOWN, ClaimJudge, combine  # noqa: E402
from rag.faithfulness import FaithfulnessScorer  # noqa: E402
from rag.llm import make_generator  # noqa: E402

RESULTS = HERE / "judge_results.json"
REPORT = HERE / "REPORT.md"
BEGIN, END = "<!-- judge-agreement:begin -->", "<!-- judge-agreement:end -->"
CELLS = [("summary", 0), ("summary", 1), ("data2txt", 0), ("data2txt", 1)]


def stratified_sample(responses: list[train.Response], limit: int, seed: int) -> list[train.Response]:
    """``limit`` responses, as equal as possible across (split, label) cells; the same every run."""
    rng = random.Random(seed)
    out = []
    for k, (split, label) in enumerate(CELLS):
        cell = sorted((r for r in responses if r.split == split and r.label == label),
                      key=lambda r: (r.group, r.model, r.text))
        quota = limit // len(CELLS) + (1 if k < limit % len(CELLS) else 0)
        out += rng.sample(cell, min(quota, len(cell)))
    return out


def metrics(y: np.ndarray, flagged: np.ndarray, p_halluc: np.ndarray) -> dict[str, float]:
    """The figures of REPORT.md, for a method's flags and its continuous P(hallucinated)."""
    prec, rec, f1, _ = precision_recall_fscore_support(y, flagged, average="binary", zero_division=0)
    both = len(set(y.tolist())) == 2
    return {"n": int(len(y)), "positives": int(y.sum()), "flagged": int(flagged.sum()), "precision": 100 * prec,
            "recall": 100 * rec, "f1": 100 * f1, "bacc": 100 * balanced_accuracy_score(y, flagged) if both else None,
            "auroc": 100 * roc_auc_score(y, p_halluc) if both else None}


def bootstrap_ci(y: np.ndarray, flagged: np.ndarray, p_halluc: np.ndarray, rounds: int = 2000,
                 seed: int = 0) -> dict[str, list[float]]:
    """95% percentile intervals for BAcc and AUROC: how much a small sample can say."""
    rng = np.random.default_rng(seed)
    bacc, auroc = [], []
    for _ in range(rounds):
        i = rng.integers(0, len(y), len(y))
        if len(set(y[i].tolist())) < 2:
            continue
        bacc.append(100 * balanced_accuracy_score(y[i], flagged[i]))
        auroc.append(100 * roc_auc_score(y[i], p_halluc[i]))
    pct = lambda v: [round(float(np.percentile(v, 2.5)), 1), round(float(np.percentile(v, 97.5)), 1)]  # noqa: E731
    return {"bacc": pct(bacc), "auroc": pct(auroc)}


def table(items: list[dict[str, Any]]) -> tuple[dict[str, dict[str, dict]], dict[str, dict]]:
    y = np.array([it["label"] for it in items])
    split = np.array([it["split"] for it in items])
    methods = {
        "judge": ("judge_hallucinated", "judge_score"), "learned": ("learned_hallucinated", "learned_score"),
        "and": ("and_hallucinated", "and_score"), "or": ("or_hallucinated", "or_score"),
    }
    out: dict[str, dict[str, dict]] = {}
    ci = {}
    for name, (flag_key, score_key) in methods.items():
        flagged = np.array([int(it[flag_key]) for it in items])
        p = 1.0 - np.array([it[score_key] for it in items])
        out[name] = {}
        for part in ("summary", "data2txt", "overall"):
            m = np.ones(len(y), bool) if part == "overall" else split == part
            out[name][part] = metrics(y[m], flagged[m], p[m])
        ci[name] = bootstrap_ci(y, flagged, p)
    return out, ci


def run(args: argparse.Namespace) -> dict[str, Any]:
    everything = train.load()
    pool = [r for r in everything if r.held_out] if args.pool == "held-out" else everything
    picked = stratified_sample(pool, args.limit, args.seed)
    print(f"{len(picked)} responses from the {args.pool} pool ({sum(r.label for r in picked)} hallucinated)",
          file=sys.stderr, flush=True)

    scorer = FaithfulnessScorer.load()
    scorer.score("Warm up.", "Warm up the model.")
    import torch

    torch.set_num_threads(max(1, args.threads))  # the embedder took every core when it loaded
    learned = [scorer.score(r.text, r.passages).to_json() for r in picked]

    gen = make_generator(args.llm, args.model or "", args.base_url or "", timeout=args.timeout,
                         retries=args.retries, n_threads=args.threads)
    judge = ClaimJudge(gen, threshold=args.threshold, per_claim=args.per_claim)
    t_start = time.time()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 4 == 0:
            print(f"{stage}: {done}/{total} ({time.time() - t_start:.0f}s)", file=sys.stderr, flush=True)

    results = judge.judge_many([(r.passages, r.text, None) for r in picked], progress)
    items, errors = [], []
    for r, fast, result in zip(picked, learned, results):
        if isinstance(result, LLMError):
            errors.append({"group": r.group, "generator": r.model, "error": str(result)})
            continue
        judged = result.to_json()
        both = {rule: combine(fast, judged, rule) for rule in ("and", "or")}
        items.append({
            "group": r.group, "split": r.split, "generator": r.model, "label": r.label,
            "judge_score": result.score, "judge_hallucinated": result.hallucinated,
            "learned_score": fast["score"], "learned_hallucinated": fast["hallucinated"],
            **{f"{rule}_score": c["score"] for rule, c in both.items()},
            **{f"{rule}_hallucinated": c["hallucinated"] for rule, c in both.items()},
            "claims": len(result.verdicts), "supported": sum(v.supported for v in result.verdicts),
            "unknown": sum(v.verdict == UNKNOWN for v in result.verdicts), "decomposition": result.decomposition,
            "context_truncated": result.context_truncated, "seconds": round(result.seconds, 2),
        })
    for e in errors:
        print(f"not judged: {e['group']} {e['generator']}: {e['error']}", file=sys.stderr)
    if len({it["label"] for it in items}) < 2:
        raise SystemExit("too few responses were judged to measure agreement (see the errors above)")
    figures, ci = table(items)
    claims = sum(it["claims"] for it in items)
    return {
        "date": dt.date.today().isoformat(),
        "command": " ".join(["python", "eval/faithfulness/judge_agreement.py", *map(shlex.quote, sys.argv[1:])]),
        "judge_model": judge.model, "per_claim": judge.per_claim, "threshold": args.threshold,
        "pool": args.pool, "seed": args.seed, "limit": args.limit, "n": len(items),
        "positives": int(sum(it["label"] for it in items)),
        "seconds_total": round(time.time() - t_start), "seconds_median": float(np.median([it["seconds"] for it in items])),
        "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1), "threads": args.threads,
        "metrics": figures, "ci95": ci,
        "diagnostics": {
            "claims_per_response": round(claims / len(items), 2),
            "decomposition_fell_back_to_sentences": round(
                100 * sum(it["decomposition"] != "llm" for it in items) / len(items), 1),
            "unknown_verdicts": round(100 * sum(it["unknown"] for it in items) / max(claims, 1), 1),
            "supported_verdicts": round(100 * sum(it["supported"] for it in items) / max(claims, 1), 1),
            "contexts_truncated": sum(it["context_truncated"] for it in items),
            "distinct_judge_scores": len({round(it["judge_score"], 4) for it in items}),
        },
        "errors": errors, "items": items,
    }


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def section(runs: dict[str, dict[str, Any]]) -> str:
    """The generated part of REPORT.md's "Judge tier" section: one block per stored run."""
    lines = [BEGIN, ""]
    for name, r in runs.items():
        d = r["diagnostics"]
        lines += [
            f"### {name}", "",
            f"{r['date']}; {r['n']} responses ({r['positives']} hallucinated) from the {r['pool']} pool, seed "
            f"{r['seed']}; {'one request per claim' if r['per_claim'] else 'one request for all claims'}; "
            f"hallucinated = judge score < {r['threshold']:g}. Reproduce: `{r['command']}`", "",
            "| method | split | n | hallucinated | flagged | precision | recall | F1 | BAcc | AUROC |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        labels = {"judge": "LLM judge", "learned": "learned scorer", "and": "learned AND judge",
                  "or": "learned OR judge"}
        for method, label in labels.items():
            parts = ("summary", "data2txt", "overall") if method in ("judge", "learned") else ("overall",)
            for part in parts:
                m = r["metrics"][method][part]
                lines.append(f"| {label} | {part} | {m['n']} | {m['positives']} | {m['flagged']} | "
                             f"{m['precision']:.1f} | {m['recall']:.1f} | {m['f1']:.1f} | {fmt(m['bacc'])} | "
                             f"{fmt(m['auroc'])} |")
        cj, cl = r["ci95"]["judge"], r["ci95"]["learned"]
        lines += [
            "",
            f"- 95% bootstrap intervals, overall: judge BAcc {cj['bacc'][0]}–{cj['bacc'][1]}, AUROC "
            f"{cj['auroc'][0]}–{cj['auroc'][1]}; learned scorer BAcc {cl['bacc'][0]}–{cl['bacc'][1]}, AUROC "
            f"{cl['auroc'][0]}–{cl['auroc'][1]}",
            f"- {d['claims_per_response']} claims per response; the model's claim list was unusable and the "
            f"answer's sentences were judged instead for {d['decomposition_fell_back_to_sentences']}% of responses",
            f"- verdicts: {d['supported_verdicts']}% SUPPORTED, {d['unknown_verdicts']}% unreadable (counted as "
            f"unsupported); {d['distinct_judge_scores']} distinct judge scores; {d['contexts_truncated']} contexts "
            "cut to fit the model",
            f"- {r['seconds_median']:.1f} s per response (median, a context shared by several responses counted "
            f"in each), {r['seconds_total']} s in all, {r['threads']} "
            f"thread(s) on {r['cpus']} cores, load average {r['load_average']}"
            + (f"; {len(r['errors'])} responses not judged (endpoint errors)" if r["errors"] else ""),
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def update_report(runs: dict[str, dict[str, Any]], path: Path = REPORT) -> None:
    text = path.read_text(encoding="utf-8")
    block = section(runs)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Judge tier\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--limit", type=int, default=48, help="responses to judge (stratified; default 48)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pool", choices=("held-out", "all"), default="held-out",
                    help="held-out: the 96 responses the learned scorer never trained on (default); all: every "
                         "summary/data2txt response (the learned scorer's figures are then in-sample)")
    ap.add_argument("--llm", choices=("local", "openai"), default="local")
    ap.add_argument("--model", help="GGUF path (local) or model name (openai)")
    ap.add_argument("--base-url", help="OpenAI-compatible endpoint (…/v1)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for a local model and the embedder")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=1.0, help="hallucinated = judge score below this")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--per-claim", dest="per_claim", action="store_true", default=None,
                      help="one request per claim (default for small local models)")
    mode.add_argument("--batch", dest="per_claim", action="store_false", help="one request for all claims")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-report", action="store_true", help="do not rewrite REPORT.md's Judge tier table")
    args = ap.parse_args(argv)
    if args.llm == "openai" and not (args.base_url or os.environ.get("OPENAI_BASE_URL")):
        ap.error("--llm openai needs --base-url")

    result = run(args)
    stored = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {"runs": {}}
    stored["runs"][result["judge_model"]] = result
    args.out.write_text(json.dumps(stored, indent=1) + "\n", encoding="utf-8")
    if not args.no_report:
        update_report(stored["runs"])
    summary = {k: v for k, v in result.items() if k not in ("items", "errors")}
    print(json.dumps(summary, indent=1))
    print(section({result["judge_model"]: result}))


if __name__ == "__main__":
    main()

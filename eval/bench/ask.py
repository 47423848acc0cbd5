"""`ask` latency per answer mode, warm and cold, on the real index and golden questions.

    .venv/bin/python eval/bench/ask.py                       # extractive + local, 20 questions each
    .venv/bin/python eval/bench/ask.py --modes extractive,local,openai --questions 40
    .venv/bin/python eval/bench/ask.py --modes openai --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b

* warm: one `Assistant` per mode in this process, the same N golden questions (answerable and
  not, in file order) asked one after another after one unmeasured warm-up question; p50/p95/max.
* cold: `rag ask "…" --llm MODE --json` as a new process (imports, index open, model load,
  answer), median of 3 after one unmeasured run that warms the page cache.
* `openai` without --base-url starts llama-cpp-python's own OpenAI-compatible server on a loopback
  port with the bundled SmolLM2 GGUF, so the HTTP path is measured with the same model as `local`.

Prints a table and writes JSON (default eval/bench/ask.json). Figures depend on the machine and
its load; compare modes within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def llama_server(threads: int):
    """llama-cpp-python's OpenAI-compatible server with the bundled model, on loopback."""
    from rag.llm import default_gguf

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", default_gguf(),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
                             "--n_threads", str(threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError("llama_cpp.server did not start within 120 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / "eval" / "golden.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [r["question"] for r in rows if not r.get("history")][:n]


def warm(mode: str, index: str, qs: list[str], base_url: str | None, model: str | None) -> dict:
    from rag.answer import Assistant

    overrides = {k: v for k, v in {"model": model, "base_url": base_url}.items() if v}
    t0 = time.perf_counter()
    assistant = Assistant.open(index, llm=mode, **overrides)
    assistant.ask(qs[0])  # loads the embedding model (and the GGUF), unmeasured
    load = time.perf_counter() - t0
    times, refused = [], 0
    for q in qs:
        t = time.perf_counter()
        answer = assistant.ask(q)
        times.append(time.perf_counter() - t)
        refused += answer.refused
    return {"questions": len(qs), "open_and_first_s": round(load, 2), "p50_s": round(percentile(times, 0.5), 3),
            "p95_s": round(percentile(times, 0.95), 3), "max_s": round(max(times), 3), "refused": refused}


def cold(mode: str, index: str, question: str, base_url: str | None, model: str | None, runs: int = 3) -> dict:
    rag = str(Path(sys.executable).with_name("rag"))
    cmd = [rag, "ask", question, "--llm", mode, "--json", "--index", index]
    if base_url:
        cmd += ["--base-url", base_url]
    if model:
        cmd += ["--model", model]
    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
        if i:
            times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 2), "min_s": round(min(times), 2), "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="extractive,local")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--index", default=str(ROOT / ".cache" / "eval-index"))
    ap.add_argument("--base-url", default=None, help="openai mode: an endpoint (default: a local llama_cpp.server)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="threads of the local server")
    ap.add_argument("--json", default=str(ROOT / "eval" / "bench" / "ask.json"))
    args = ap.parse_args()
    if not (Path(args.index) / "CURRENT").exists():
        print(f"no index at {args.index}: run `rag eval run --limit 1` (builds .cache/eval-index) or pass --index")
        return 2
    qs = questions(args.questions)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit, "nproc": os.cpu_count(),
           "index": args.index, "modes": {}}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        print(f"{mode}: warm ({len(qs)} questions) ...", flush=True)
        if mode == "openai" and not args.base_url:
            with llama_server(args.threads) as url:
                res = {"endpoint": "llama_cpp.server + bundled SmolLM2 (loopback)",
                       "warm": warm(mode, args.index, qs, url, args.model or "smollm2"),
                       "cold": cold(mode, args.index, qs[0], url, args.model or "smollm2")}
        else:
            res = {"warm": warm(mode, args.index, qs, args.base_url, args.model),
                   "cold": cold(mode, args.index, qs[0], args.base_url, args.model)}
        out["modes"][mode] = res
    print(f"\n`ask` latency, {out['date']}, commit {commit}, {out['nproc']} cores, {len(qs)} golden questions\n")
    print("| mode | warm p50 (s) | warm p95 (s) | warm max (s) | cold `rag ask` median (s) | refused |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, r in out["modes"].items():
        w, c = r["warm"], r["cold"]
        print(f"| {mode} | {w['p50_s']} | {w['p95_s']} | {w['max_s']} | {c.get('median_s', c.get('error'))} | "
              f"{w['refused']}/{w['questions']} |")
    Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

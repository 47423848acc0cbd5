"""Bounded load test of the chat web UI: N simulated users for S seconds, loopback only.

    python eval/load/run.py                         # starts app.py on a free port, 20 users, 60 s
    python eval/load/run.py --users 5 --seconds 20  # smaller
    python eval/load/run.py --url http://127.0.0.1:7860 [--pid PID]   # an already running UI

Each user speaks the browser's own protocol to the gradio queue (POST /gradio_api/queue/join, then
the SSE stream of /gradio_api/queue/data) with a new session per question, asks questions from
eval/golden.jsonl one after another, and stops asking when the time is up (questions in flight
finish, each bounded by --timeout). A sampler reads the server's resident memory (VmRSS, the
process and its children) once a second. Reported: requests, errors (HTTP failures, timeouts,
gradio errors, and answers rendered as "Could not answer"), p50/p95/max latency, throughput, and
RSS over time. The same load runs first for --warmup seconds (default 90: models load, buffers and
malloc arenas fill), not counted; memory is then called stable when the mean RSS of the last
quarter of the measured run is within 10% of the second quarter's and the second half grows by at
most 2% a minute. A table is printed; --out gets the same as JSON.

Not a pytest: it takes a minute, its figures depend on the machine, and it asserts nothing; it
exits 1 only when a request fails, so it can gate a release by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ------------------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_UI_AUTH", None)
    fh = open(log, "w")
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--index", str(index), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, cwd=ROOT)


def wait_ready(url: str, proc: subprocess.Popen | None, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"error: the UI exited with code {proc.returncode} before answering")
        try:
            if httpx.get(f"{url}/config", timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: {url} did not answer /config within {seconds:.0f}s")


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:port, from /proc (no psutil needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(parts[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            todo.extend(int(c) for c in children)
        except OSError:
            continue
    return total / 1024


# ------------------------------------------------------------------------------ one user
def find_chat_endpoint(url: str) -> tuple[int, int | None, list]:
    """fn_index, trigger id and default input values of the UI's chat function (``respond``)."""
    config = httpx.get(f"{url}/config", timeout=10).json()
    comps = {c["id"]: c for c in config["components"]}
    for i, dep in enumerate(config["dependencies"]):
        if str(dep.get("api_name", "")).startswith("respond") and dep.get("targets"):
            fn = dep.get("id", i)
            trigger = dep["targets"][0][0]
            values = []
            for cid in dep["inputs"]:
                c = comps[cid]
                v = c.get("props", {}).get("value")
                values.append([] if c["type"] in ("state", "chatbot") and v is None else v)
            return fn, trigger, values
    raise SystemExit("error: the UI has no chat endpoint named respond*: is this the assistant's UI?")


def ask(url: str, fn: int, trigger: int | None, defaults: list, question: str, timeout: float,
        session: str | None = None) -> tuple[bool, str]:
    """One question, as the browser asks it (a new browser session unless ``session``). (ok, why-not)."""
    session = session or uuid.uuid4().hex[:11]
    data = [question] + defaults[1:]
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=10)) as client:
        r = client.post(f"{url}/gradio_api/queue/join",
                        json={"data": data, "fn_index": fn, "session_hash": session, "event_data": None,
                              "trigger_id": trigger})
        if r.status_code != 200:
            return False, f"join HTTP {r.status_code}: {r.text[:100]}"
        with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as resp:
            if resp.status_code != 200:
                return False, f"data HTTP {resp.status_code}"
            for line in resp.iter_lines():
                if time.monotonic() > deadline:
                    return False, f"no answer within {timeout:.0f}s"
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                kind = msg.get("msg")
                if kind == "queue_full":
                    return False, "queue full"
                if kind == "process_completed":
                    if not msg.get("success", True):
                        return False, f"gradio error: {str(msg.get('output'))[:120]}"
                    chat = (msg.get("output") or {}).get("data", [None, None])[1] or []
                    last = json.dumps(chat[-1:]) if chat else ""
                    if "rag-error" in last:
                        return False, "answer rendered as an error: " + last[:160]
                    if "rag-answer" not in last and "rag-refusal" not in last:
                        return False, "no answer in the final chat: " + last[:160]
                    return True, ""
    return False, "stream ended without process_completed"


def load_questions() -> list[str]:
    path = ROOT / "eval" / "golden.jsonl"
    qs = [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.exists() else []
    return qs or ["What did Kyle Chan say about state support?", "What does Article 5 of the EU AI Act prohibit?",
                  "How much has China invested in the semiconductor industry since 2014?"]


# ------------------------------------------------------------------------------ the run
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def library_asker(index: Path):
    """``ask`` for --library: the same questions straight to ``Assistant.ask``, no UI, no HTTP."""
    sys.path.insert(0, str(ROOT))
    from rag.answer import Assistant
    from rag.errors import RagError

    assistant = Assistant.open(index, llm="extractive")

    def ask_library(question: str) -> tuple[bool, str]:
        try:
            answer = assistant.ask(question)
        except RagError as e:
            return False, f"RagError: {e}"
        return (True, "") if answer.text else (False, "empty answer")
    return ask_library


def run(url: str, pid: int | None, users: int, seconds: float, timeout: float, seed: int,
        library: Path | None = None, sessions: str = "question", warmup: float = 0.0) -> dict:
    questions = load_questions()
    if library is not None:
        asker = library_asker(library)
    else:
        fn, trigger, defaults = find_chat_endpoint(url)
        asker = lambda q, session=None: ask(url, fn, trigger, defaults, q, timeout, session)  # noqa: E731
    ok, why = asker(questions[0])  # warm-up: models load, caches fill
    if not ok:
        raise SystemExit(f"error: the warm-up question failed: {why}")
    results: list[dict] = []
    lock = threading.Lock()
    rss: list[tuple[float, float]] = []
    start = time.monotonic()
    measure_from = start + warmup  # the same load runs first for `warmup` seconds, not counted
    stop_at = measure_from + seconds
    done = threading.Event()

    def user(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        session = uuid.uuid4().hex[:11] if sessions == "user" else None
        while time.monotonic() < stop_at:
            q = rng.choice(questions)
            t0 = time.monotonic()
            try:
                good, why = asker(q, session) if session else asker(q)
            except (httpx.HTTPError, ValueError) as e:
                good, why = False, f"{type(e).__name__}: {str(e)[:100]}"
            with lock:
                results.append({"user": n, "t": round(t0 - start, 3), "seconds": round(time.monotonic() - t0, 3),
                                "ok": good, "error": why, "question": q, "warmup": t0 < measure_from})

    def sampler() -> None:
        while not done.is_set():
            if pid:
                rss.append((round(time.monotonic() - start, 1), round(rss_mb(pid), 1)))
            done.wait(1.0)

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    sampling = threading.Thread(target=sampler, daemon=True)
    sampling.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=warmup + seconds + timeout + 30)
    elapsed = time.monotonic() - measure_from
    done.set()
    sampling.join(timeout=5)

    timeline = list(rss)
    warm_errors = [r for r in results if r["warmup"] and not r["ok"]]
    results = [r for r in results if not r["warmup"]] + warm_errors  # a failure is a failure, warm-up or not
    rss = [(t, v) for t, v in rss if t >= warmup]
    lat = [r["seconds"] for r in results if r["ok"]]
    errors = [r for r in results if not r["ok"]]
    quarter = max(1, len(rss) // 4)
    first = statistics.fmean(v for _, v in rss[:quarter]) if rss else float("nan")
    last = statistics.fmean(v for _, v in rss[-quarter:]) if rss else float("nan")
    # The first quarter is warm-up (models load, the first answers allocate their buffers): compare
    # the last quarter with the second, and require the second half's growth to be flat.
    second = statistics.fmean(v for _, v in rss[quarter:2 * quarter]) if len(rss) >= 2 * quarter else first
    half = rss[len(rss) // 2:]  # growth once warmed up: least-squares slope over the second half
    slope = None
    if len(half) >= 3:
        mt, mv = statistics.fmean(t for t, _ in half), statistics.fmean(v for _, v in half)
        den = sum((t - mt) ** 2 for t, _ in half)
        slope = round(60 * sum((t - mt) * (v - mv) for t, v in half) / den, 1) if den else None
    return {
        "url": url, "users": users, "seconds": seconds, "sessions": sessions, "elapsed": round(elapsed, 1), "seed": seed,
        "requests": len(results), "ok": len(lat), "errors": len(errors),
        "error_kinds": sorted({e["error"].split(":")[0] for e in errors}),
        "p50_s": round(percentile(lat, 0.5), 2), "p95_s": round(percentile(lat, 0.95), 2),
        "max_s": round(max(lat), 2) if lat else None, "throughput_per_s": round(len(lat) / elapsed, 2),
        "rss_mb": {"first_quarter": round(first, 1), "second_quarter": round(second, 1), "last_quarter": round(last, 1),
                   "peak": max((v for _, v in rss), default=None),
                   "stable": bool(rss) and abs(last - second) <= 0.10 * second
                   and slope is not None and slope <= 0.02 * last,
                   "second_half_growth_mb_per_min": slope,
                   "timeline": timeline},
        "warmup_s": warmup,
        "requests_log": results,
    }


def print_table(r: dict) -> None:
    m = r["rss_mb"]
    rows = [
        ("users x seconds", f"{r['users']} x {r['seconds']:.0f} s after {r['warmup_s']:.0f} s of warm-up load (ran {r['elapsed']} s)"),
        ("requests (ok / errors)", f"{r['requests']} ({r['ok']} / {r['errors']})"),
        ("error kinds", ", ".join(r["error_kinds"]) or "none"),
        ("latency p50 / p95 / max", f"{r['p50_s']} s / {r['p95_s']} s / {r['max_s']} s"),
        ("throughput", f"{r['throughput_per_s']} answers/s"),
        ("server RSS 1st / 2nd / last quarter",
         f"{m['first_quarter']} / {m['second_quarter']} / {m['last_quarter']} MB (peak {m['peak']} MB)"),
        ("memory stable", "yes" if m["stable"] else "NO"),
        ("RSS growth, second half", f"{m['second_half_growth_mb_per_min']} MB/min"),
        ("sessions", "one per question" if r["sessions"] == "question" else "one per user"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nLoad test of {r['url']}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    if m["timeline"]:
        step = max(1, len(m["timeline"]) // 12)
        print("  RSS over time: " + "  ".join(f"{t:.0f}s:{v:.0f}MB" for t, v in m["timeline"][::step]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running UI on loopback (default: start app.py on a free port)")
    ap.add_argument("--pid", type=int, help="server pid for RSS (default: found from the port)")
    ap.add_argument("--index", type=Path, default=None,
                    help="index for the UI this script starts (default ./index, else .cache/eval-index)")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=90.0,
                    help="seconds of the same load before measuring (answers and memory of this phase not counted)")
    ap.add_argument("--timeout", type=float, default=180.0, help="per-question limit (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sessions", choices=["question", "user"], default="question",
                    help="a new browser session per question (default), or one per user kept for the run")
    ap.add_argument("--library", action="store_true",
                    help="no UI: N threads call Assistant.ask in this process (RSS is this process's)")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "reports" / "load.json",
                    help="JSON report (default eval/reports/load.json; the server log goes beside it)")
    args = ap.parse_args(argv)
    if not (1 <= args.users <= 200 and 1 <= args.seconds <= 3600):
        ap.error("--users must be 1..200 and --seconds 1..3600 (this test stops by itself)")

    proc = None
    if args.library:
        index = args.index or next((p for p in (ROOT / "index", ROOT / ".cache" / "eval-index")
                                    if (p / "CURRENT").exists()), None)
        if index is None:
            ap.error("no index: build one (`rag index build corpus/ --index index`) or pass --index")
        url, pid = f"library:{index}", os.getpid()
    elif args.url:
        url = args.url.rstrip("/")
        host = urlparse(url).hostname or ""
        if host not in LOOPBACK:
            ap.error(f"--url must be on loopback ({', '.join(sorted(LOOPBACK))}), not {host!r}")
        pid = args.pid or listening_pid(urlparse(url).port or 80)
        wait_ready(url, None, 30)
    else:
        index = args.index or next((p for p in (ROOT / "index", ROOT / ".cache" / "eval-index")
                                    if (p / "CURRENT").exists()), None)
        if index is None:
            ap.error("no index: build one (`rag index build corpus/ --index index`) or pass --index")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = args.out.with_suffix(".server.log")  # beside the report, not in the source tree
        args.out.parent.mkdir(parents=True, exist_ok=True)
        proc = start_server(index, port, log)
        pid = proc.pid
        wait_ready(url, proc)
    try:
        result = run(url, pid, args.users, args.seconds, args.timeout, args.seed,
                     index if args.library else None, args.sessions, args.warmup)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    if not pid:
        print("note: no server pid found: RSS not measured (pass --pid)", file=sys.stderr)
    result["started_server"] = proc is not None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print_table(result)
    print(f"  JSON: {args.out}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

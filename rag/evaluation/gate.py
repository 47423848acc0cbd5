"""The regression gate: compare a run with the committed baseline and name what got worse."""

from __future__ import annotations

from typing import Any

# Absolute drop allowed before a metric fails the gate (higher is better for all of these).
TOLERANCE = {
    "hit@5": 0.03, "mrr": 0.03, "correctness": 0.03, "cites_gold": 0.05, "faithfulness": 0.02,
    "citation_recall": 0.02, "citation_precision": 0.05, "refusal_accuracy": 0.0, "quotes_exact": 0.0,
    "speaker_accuracy": 0.0, "pinpoint_accuracy": 0.1, "status_mention": 0.0,
}
# Lower is better: allowed rise.
RISE = {"false_refusal_rate": 0.05}
LATENCY_FACTOR = 3.0  # p95 may grow this much (machines differ) before the gate fails
TRACKED = ("correct", "hit@5", "refused", "refusal_ok", "cites_gold")


def compare(run: dict[str, Any], baseline: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(failures, per-question changes) — failures empty means the gate passes."""
    failures: list[str] = []
    now, then = run["metrics"], baseline["metrics"]
    for key, tol in TOLERANCE.items():
        a, b = now.get(key), then.get(key)
        if a is not None and b is not None and a < b - tol - 1e-9:
            failures.append(f"{key} fell from {b:.3f} to {a:.3f} (tolerance {tol:.2f})")
    for key, tol in RISE.items():
        a, b = now.get(key), then.get(key)
        if a is not None and b is not None and a > b + tol + 1e-9:
            failures.append(f"{key} rose from {b:.3f} to {a:.3f} (tolerance {tol:.2f})")
    a, b = now.get("latency_p95_ms"), then.get("latency_p95_ms")
    if a and b and a > b * LATENCY_FACTOR:
        failures.append(f"latency p95 rose from {b:.0f} ms to {a:.0f} ms (more than {LATENCY_FACTOR:g}x)")
    before = {r["id"]: r for r in baseline.get("items", [])}
    changes = []
    for r in run["items"]:
        old = before.get(r["id"])
        if old is None or "skipped" in r or "skipped" in old:
            continue
        diffs = [f"{k} {old[k]} -> {r[k]}" for k in TRACKED if k in r and k in old and r[k] != old[k]]
        if diffs:
            worse = any(_worse(k, old[k], r[k]) for k in TRACKED if k in r and k in old and r[k] != old[k])
            changes.append(f"{'WORSE' if worse else 'better'} {r['id']} ({r['type']}): {'; '.join(diffs)} — {r['question'][:70]}")
    return failures, changes


def _worse(key: str, old: Any, new: Any) -> bool:
    if key == "refused":
        return bool(new) and not old  # refusing more is worse unless it is an unanswerable item (refusal_ok)
    return bool(old) and not new


def baseline_from(run: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "type", "question") + TRACKED
    return {"mode": run["mode"], "created": run["created"], "metrics": run["metrics"],
            "tolerance": TOLERANCE, "items": [{k: r[k] for k in keep if k in r} | ({"skipped": r["skipped"]} if "skipped" in r else {})
                                              for r in run["items"]]}

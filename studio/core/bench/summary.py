"""Turning repeated, alternating runs into figures: medians, spreads, paired ratios, loss agreement.

Medians rather than means because a shared machine produces outliers (another job starts) in one
direction only. Each ratio is given twice: the ratio of the medians, and the median (min-max) of
the ratios of runs that ran back to back, which cancels slow drifts in the machine's load.
"""

from __future__ import annotations

import statistics
from typing import Any

LOSS_TOLERANCE = 0.02  # relative difference of eval / late train loss still called "the same learning"


def spread(values: list[float]) -> dict[str, float] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def paired_ratios(runs: list[dict[str, Any]], key: str, a: str = "baseline", b: str = "studio") -> list[float]:
    """b/a of `key` for each repeat, pairing the runs of the same repeat index."""
    by_repeat: dict[int, dict[str, Any]] = {}
    for run in runs:
        by_repeat.setdefault(run["repeat"], {})[run["trainer"]] = run
    ratios = []
    for pair in by_repeat.values():
        if a in pair and b in pair and pair[a].get(key) and pair[b].get(key) is not None:
            ratios.append(pair[b][key] / pair[a][key])
    return ratios


def stage_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    names: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in run.get("stages", {}).items():
            names.setdefault(name, []).append(seconds)
    return {name: round(statistics.median(values), 3) for name, values in names.items()}


def loss_agreement(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """How closely two runs' loss curves agree: per step, late in training, and on held-out data."""
    la, lb = dict(map(tuple, a["losses"])), dict(map(tuple, b["losses"]))
    common = sorted(set(la) & set(lb))
    diffs = [abs(la[s] - lb[s]) for s in common]
    late = common[-max(1, len(common) // 4):] if common else []
    late_a = statistics.fmean(la[s] for s in late) if late else None
    late_b = statistics.fmean(lb[s] for s in late) if late else None
    out: dict[str, Any] = {
        "steps_compared": len(common),
        "max_step_difference": max(diffs) if diffs else None,
        "mean_step_difference": statistics.fmean(diffs) if diffs else None,
        "late_train_loss": {"baseline": late_a, "studio": late_b},
        "eval_loss": {"baseline": a.get("eval_loss"), "studio": b.get("eval_loss")},
    }
    checks = []
    for pa, pb in ((late_a, late_b), (a.get("eval_loss"), b.get("eval_loss"))):
        if pa is not None and pb is not None:
            checks.append(abs(pb - pa) / max(abs(pa), 1e-9))
    out["max_relative_difference"] = max(checks) if checks else None
    out["same_learning"] = bool(checks) and max(checks) <= LOSS_TOLERANCE and len(common) == len(la) == len(lb)
    return out


def repeat_determinism(runs: list[dict[str, Any]]) -> float | None:
    """Largest per-step loss difference between repeats of the same trainer (seeded: ~0)."""
    worst = None
    for trainer in {r["trainer"] for r in runs}:
        curves = [dict(map(tuple, r["losses"])) for r in runs if r["trainer"] == trainer]
        for other in curves[1:]:
            for step, loss in curves[0].items():
                if step in other:
                    d = abs(loss - other[step])
                    worst = d if worst is None else max(worst, d)
    return worst


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    per_trainer: dict[str, Any] = {}
    for trainer in ("baseline", "studio"):
        mine = [r for r in runs if r["trainer"] == trainer]
        if not mine:
            continue
        per_trainer[trainer] = {
            "runs": len(mine),
            "train_tokens": mine[0]["train_tokens"],
            "train_examples": mine[0].get("train_examples"),
            "steps": mine[0].get("steps"),
            "tokens_per_s": spread([r["tokens_per_s"] for r in mine]),
            "seconds": spread([r["seconds"] for r in mine]),
            "tokens_per_cpu_s": spread([r["tokens_per_cpu_s"] for r in mine]),
            "peak_mem_bytes": spread([r["peak_mem_bytes"] for r in mine]),
            "to_first_step_s": spread([r["to_first_step_s"] for r in mine]),
            "stages": stage_medians(mine),
        }
    summary: dict[str, Any] = {"trainers": per_trainer}
    if "baseline" in per_trainer and "studio" in per_trainer:
        a, b = per_trainer["baseline"], per_trainer["studio"]
        ratios = {}
        for key in ("tokens_per_s", "seconds", "tokens_per_cpu_s", "peak_mem_bytes", "to_first_step_s"):
            med_a, med_b = (a[key] or {}).get("median"), (b[key] or {}).get("median")
            ratios[key] = {"of_medians": med_b / med_a if med_a and med_b is not None else None,
                           "paired": spread(paired_ratios(runs, key))}
        summary["ratios"] = ratios
        first = {t: next(r for r in runs if r["trainer"] == t) for t in ("baseline", "studio")}
        summary["loss"] = loss_agreement(first["baseline"], first["studio"])
        summary["same_examples"] = a["train_tokens"] == b["train_tokens"] and a["train_examples"] == b["train_examples"]
    summary["repeat_loss_difference"] = repeat_determinism(runs)
    return summary

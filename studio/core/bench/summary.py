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


def trainer_figures(mine: list[dict[str, Any]]) -> dict[str, Any]:
    """One trainer's figures over its repeats."""
    return {
        "runs": len(mine),
        "train_tokens": mine[0]["train_tokens"],
        "train_labels": mine[0].get("train_labels"),
        "train_examples": mine[0].get("train_examples"),
        "train_rows": mine[0].get("train_rows"),
        "steps": mine[0].get("steps"),
        "tokens_per_s": spread([r["tokens_per_s"] for r in mine]),
        "seconds": spread([r["seconds"] for r in mine]),
        "tokens_per_cpu_s": spread([r["tokens_per_cpu_s"] for r in mine]),
        "peak_mem_bytes": spread([r["peak_mem_bytes"] for r in mine]),
        "to_first_step_s": spread([r["to_first_step_s"] for r in mine]),
        "stages": stage_medians(mine),
    }


def summarise(runs: list[dict[str, Any]], baselines: list[str] | None = None) -> dict[str, Any]:
    """Figures per trainer, and for each baseline: studio / baseline ratios, loss agreement and
    whether both trained the same examples, tokens and loss tokens (`same_examples`) in the same
    number of steps (`same_batches`; TRL's packing takes fewer, fuller steps).

    `baselines` keeps the order asked for; by default every trainer of `runs` except studio."""
    names = list(dict.fromkeys(r["trainer"] for r in runs))
    baselines = [b for b in (baselines or [n for n in names if n != "studio"]) if b in names]
    per_trainer = {t: trainer_figures([r for r in runs if r["trainer"] == t])
                   for t in [*baselines, "studio"] if t in names}
    summary: dict[str, Any] = {"trainers": per_trainer, "baselines": baselines, "ratios": {}, "loss": {},
                               "same_examples": {}, "same_batches": {}}
    if "studio" in per_trainer:
        b = per_trainer["studio"]
        first_studio = next(r for r in runs if r["trainer"] == "studio")
        for name in baselines:
            a = per_trainer[name]
            ratios = {}
            for key in ("tokens_per_s", "seconds", "tokens_per_cpu_s", "peak_mem_bytes", "to_first_step_s"):
                med_a, med_b = (a[key] or {}).get("median"), (b[key] or {}).get("median")
                ratios[key] = {"of_medians": med_b / med_a if med_a and med_b is not None else None,
                               "paired": spread(paired_ratios(runs, key, a=name))}
            summary["ratios"][name] = ratios
            summary["loss"][name] = loss_agreement(next(r for r in runs if r["trainer"] == name), first_studio)
            summary["same_examples"][name] = all(a[k] == b[k] for k in ("train_tokens", "train_labels",
                                                                         "train_examples"))
            summary["same_batches"][name] = summary["same_examples"][name] and a["steps"] == b["steps"]
    summary["repeat_loss_difference"] = repeat_determinism(runs)
    return summary

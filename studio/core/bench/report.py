"""What a benchmark report holds besides the figures: the machine, the versions, the plot.

Versions come from the installed packages' metadata and the machine from the OS, so the report
is written without importing torch. The load average is recorded at the start and the end: on a
shared machine it says how much to trust the wall-clock figures.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
import sys
from importlib import metadata
from typing import Any

from studio.core.bench.svg import COLORS, Panel, Series, chart

PACKAGES = ("lora-studio", "torch", "transformers", "peft", "bitsandbytes", "accelerate", "datasets",
            "liger-kernel", "flash-attn")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "cpu": _cpu_name(), "cores": os.cpu_count()}
    try:
        import psutil

        info["memory_bytes"] = psutil.virtual_memory().total
    except ImportError:  # pragma: no cover - psutil is a dependency
        pass
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # Windows
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def training_plot(section: dict[str, Any]) -> str:
    """Loss per step and loss over wall-clock time for both trainers, and tokens/s of every run."""
    runs = section["runs"]
    first = {t: next((r for r in runs if r["trainer"] == t), None) for t in ("baseline", "studio")}
    by_step, by_time, rates = [], [], []
    style = {"baseline": {"width": 3.0}, "studio": {"width": 1.5, "dash": "5,3"}}
    for trainer, run in first.items():
        if run is None:
            continue
        losses = [(float(s), float(v)) for s, v in run["losses"]]
        by_step.append(Series(trainer, losses, COLORS[trainer], **style[trainer]))
        timed = [(float(t), v) for t, (_, v) in zip(run.get("step_seconds", []), losses)]
        by_time.append(Series(trainer, timed, COLORS[trainer], **style[trainer]))
        rates.append(Series(trainer, [(float(r["repeat"] + 1), r["tokens_per_s"]) for r in runs
                                      if r["trainer"] == trainer], COLORS[trainer], dots=True))
    summary = section["summary"]
    ratio = ((summary.get("ratios") or {}).get("tokens_per_s") or {}).get("of_medians")
    caption = (f"{Path(section['config']['model']).name} · {summary['trainers'].get('studio', {}).get('train_tokens', 0):,} "
               f"tokens per run · studio / baseline tokens/s = {ratio:.2f}x (medians)" if ratio else "")
    return chart([Panel("Train loss per step", "step", "loss", by_step),
                  Panel("Train loss over training time", "seconds since train begin", "loss", by_time),
                  Panel("Throughput of each run", "repeat", "real tokens / s", rates, y_from_zero=True,
                        integer_x=True)],
                 caption=caption)

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

PACKAGES = ("lora-studio", "torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets",
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
    """Loss per step and loss over wall-clock time for every trainer, and tokens/s of every run.

    Each trainer's first run is drawn; the baselines with wider lines under studio's dashed one,
    so curves that agree are still told apart."""
    runs, summary = section["runs"], section["summary"]
    trainers = [*summary.get("baselines", []), "studio"]
    by_step, by_time, rates = [], [], []
    for i, trainer in enumerate(trainers):
        run = next((r for r in runs if r["trainer"] == trainer), None)
        if run is None:
            continue
        color = COLORS.get(trainer, "#333333")
        style = ({"width": 1.5, "dash": "5,3"} if trainer == "studio"
                 else {"width": max(2.0, 4.5 - 1.0 * i)})
        losses = [(float(s), float(v)) for s, v in run["losses"]]
        by_step.append(Series(trainer, losses, color, **style))
        timed = [(float(t), v) for t, (_, v) in zip(run.get("step_seconds", []), losses)]
        by_time.append(Series(trainer, timed, color, **style))
        offset = 0.08 * (i - (len(trainers) - 1) / 2)  # side by side within a repeat
        rates.append(Series(trainer, [(r["repeat"] + 1 + offset, r["tokens_per_s"]) for r in runs
                                      if r["trainer"] == trainer], color, dots=True))
    ratios = [f"{name} {figures['tokens_per_s']['of_medians']:.2f}x" for name, figures in summary.get("ratios", {}).items()
              if (figures.get("tokens_per_s") or {}).get("of_medians")]
    tokens = summary["trainers"].get("studio", {}).get("train_tokens", 0)
    caption = (f"{Path(section['config']['model']).name} · {tokens:,} tokens per run · studio tokens/s over "
               + ", ".join(ratios) + " (medians)") if ratios else ""
    return chart([Panel("Train loss per step", "step", "loss", by_step),
                  Panel("Train loss over training time", "seconds since train begin", "loss", by_time),
                  Panel("Throughput of each run", "repeat", "real tokens / s", rates, y_from_zero=True,
                        integer_x=True)],
                 caption=caption)


def training_markdown(report: dict[str, Any]) -> str:
    """The training section as a markdown table (a row per trainer), with the command, date,
    machine, versions and load: ready to paste into docs/benchmarks.md."""
    section = report["sections"]["training"]
    summary = section["summary"]
    figures, ratios, loss = summary["trainers"], summary.get("ratios", {}), summary.get("loss", {})

    def cell(f: dict[str, Any] | None, fmt: str, unit: str = "") -> str:
        if not f:
            return "-"
        text = format(f["median"], fmt) + unit
        return text if f["n"] < 2 else f"{text} ({format(f['min'], fmt)}–{format(f['max'], fmt)}{unit})"

    def ratio(name: str, key: str) -> str:
        r = (ratios.get(name) or {}).get(key) or {}
        if r.get("of_medians") is None:
            return "-"
        paired = r.get("paired")
        return f"**{r['of_medians']:.2f}x**" + (f" ({paired['min']:.2f}–{paired['max']:.2f})"
                                                if paired and paired["n"] > 1 else "")

    def mib(f: dict[str, Any] | None) -> str:
        return f"{f['median'] / 2**20:,.0f} MiB" if f else "-"

    lines = ["| trainer | real tokens/s | studio / this, tokens/s (paired range) | wall time | peak memory "
             "| studio / this, memory | first step | steps | eval loss | max loss diff per step |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in [*summary.get("baselines", []), "studio"]:
        if name not in figures:
            continue
        f = figures[name]
        agreement = loss.get(name) or {}
        diff = agreement.get("max_step_difference")
        eval_loss = next((r.get("eval_loss") for r in section["runs"] if r["trainer"] == name), None)
        lines.append(" | ".join([
            f"| {name}", cell(f["tokens_per_s"], ",.0f"), ratio(name, "tokens_per_s"),
            cell(f["seconds"], ".1f", " s"),
            mib(f["peak_mem_bytes"]), ratio(name, "peak_mem_bytes").replace("*", ""),
            f"{f['to_first_step_s']['median']:.1f} s", str(f["steps"]),
            "-" if eval_loss is None else f"{eval_loss:.4f}",
            "-" if diff is None or name == "studio" else
            (f"{diff:.1g}" if summary["same_batches"].get(name) else f"{diff:.2g} (other batches)")]) + " |")
    load, versions = report["load_average"], report["versions"]
    shown = ", ".join(f"{k} {v}" for k, v in versions.items() if v and k != "lora-studio")
    cfg = section["config"]
    return "\n".join([
        f"`{report['command']}` ({report['date']}): {figures.get('studio', {}).get('train_tokens', 0):,} real "
        f"tokens per run, {cfg['steps']} steps of {cfg['batch_size']}, {cfg['repeats']} repeats, threads "
        f"{cfg['threads'] or 'default'}; median (min–max); load average {load['start']} → {load['end']} on "
        f"{report['machine']['cores']} cores ({report['machine']['cpu']}); {shown}.", "", *lines, ""])

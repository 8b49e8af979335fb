"""`studio bench`: studio's trainer against the scripts a user would write instead, side by side.

Runs the same fine-tune in fresh processes, alternating and repeated: studio's trainer and the
baselines of `--baseline` (a plain Transformers Trainer + peft script by default; TRL's SFTTrainer
padded, padding-free or packed on request), and reports real tokens/s, wall time for the same
examples, peak memory, time to the first step with each stage's time, the ratio of each
(studio / baseline) and the loss curves of all. Everything lands in one folder: report.json
(every run, the machine, the versions, the load average), training.md (the table) and
training-loss.svg. See docs/benchmarks.md for recorded figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from studio.cli.bench_tables import print_gui_table, print_memory_table, print_scale_table
from studio.cli.common import common_options, human_bytes, print_json, workspace
from studio.core.atomic import atomic_write_json, atomic_write_text
from studio.core.bench import report as bench_report
from studio.core.bench.gui import run_gui_section
from studio.core.bench.memory_check import run_memory_section
from studio.core.bench.scale import ScaleOptions, parse_sizes
from studio.core.bench.scale import run_section as run_scale_section
from studio.core.bench.training_speed import (DEFAULT_BASELINES, STUDIO_ONLY_KEYS, TrainingBench,
                                              parse_baselines, run_section)
from studio.core.config import QUANT_CHOICES
from studio.core.errors import ConfigError

SECTIONS = ("training", "memory", "gui", "scale")
STAGE_ORDER = ("import", "load_data", "load_model", "tokenize", "setup", "train", "evaluate", "save")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", parents=[common_options()], help="measure studio's trainer against a plain Trainer + peft run and TRL",
        description="Train the same examples with studio's trainer and with baseline scripts a user would write "
                    "(a plain transformers Trainer + peft; TRL's SFTTrainer), each in a fresh process, alternating "
                    "and repeated; report tokens/s, time, peak memory, their ratios and the loss curves.")
    parser.add_argument("--model", default="", metavar="M",
                        help="base model folder or hub id (default: the demo's tiny Llama, built once)")
    parser.add_argument("--data", default="", metavar="FILE",
                        help="dataset to take the examples from (default: generated tickets of mixed lengths)")
    parser.add_argument("--baseline", default=",".join(DEFAULT_BASELINES), metavar="LIST",
                        help="what to compare studio with, comma-separated, or all (default: trainer): trainer "
                             "(transformers Trainer + peft, padded batches), trl (TRL SFTTrainer, padded), "
                             "trl-padding-free (SFTConfig(padding_free=True)), trl-packing (SFTConfig(packing=True): "
                             "fewer, fuller steps, so its loss curve differs). Each adds one run per repeat")
    parser.add_argument("--quant", default="none", choices=QUANT_CHOICES, help="quantize the base model (both runs)")
    parser.add_argument("--steps", type=int, default=30, metavar="N",
                        help="optimizer steps: each run trains one epoch over N x batch-size examples")
    parser.add_argument("--repeats", type=int, default=3, metavar="R", help="runs of each trainer (alternating)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="B", help="examples per step (both runs)")
    parser.add_argument("--max-len", type=int, default=1024, metavar="L", help="maximum tokens per example")
    parser.add_argument("--lr", type=float, default=2e-3, metavar="X", help="peak learning rate (both runs)")
    parser.add_argument("--threads", type=int, default=0, metavar="T",
                        help="CPU threads per training process, the same for both (default: the libraries' "
                             "default, all cores); 1 gives steadier figures on a machine shared with other jobs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one of studio's own speed settings for an ablation: " + ", ".join(STUDIO_ONLY_KEYS))
    parser.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: <home>/bench/<time>)")
    parser.add_argument("--sections", default="training,gui", metavar="LIST",
                        help="what to measure, comma-separated (default: training,gui): training (speed against the "
                             "baseline), gui (event-loop stalls and plot frame times while training), scale (listings, "
                             "the app and quitting with 0-1,000 runs, tokenizing 1k-100k rows, a 50k-step history: "
                             "10-20 minutes on 2 cores), memory (the "
                             "Train page's estimate against measured peaks: trains an 85M model, 5-15 minutes on a "
                             "small CPU)")
    parser.add_argument("--gui-points", type=int, default=100_000, metavar="N",
                        help="steps of the long run whose plots are timed (gui section)")
    parser.add_argument("--gui-flood-rate", type=float, default=1000.0, metavar="R",
                        help="steps per second the stand-in worker sends (gui section; 0 skips it)")
    parser.add_argument("--gui-flood-seconds", type=float, default=10.0, metavar="S", help="length of the flood")
    parser.add_argument("--gui-train-steps", type=int, default=150, metavar="N",
                        help="steps of the demo training run followed live (gui section; 0 skips it)")
    parser.add_argument("--scale-sizes", default="0,100,1000", metavar="LIST",
                        help="scale section: workspaces of N runs (and N/2 adapters) to list and open the app on")
    parser.add_argument("--scale-rows", default="1000,10000,100000", metavar="LIST",
                        help="scale section: dataset sizes to tokenize (empty: none)")
    parser.add_argument("--scale-steps", type=int, default=50_000, metavar="N",
                        help="scale section: steps of the long run whose history `runs show` reads (0 skips it)")
    parser.add_argument("--scale-no-gui", action="store_true", help="scale section: skip the app figures")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    folder = (args.out or ws.bench_dir / time.strftime("%Y%m%d-%H%M%S")).expanduser().resolve()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        raise ConfigError(f"--sections {args.sections!r}: unknown section {', '.join(unknown) or '(none given)'}",
                          hint="use any of: " + ", ".join(SECTIONS))
    bench = TrainingBench(folder=folder, model=args.model, data=args.data, quant=args.quant, steps=args.steps,
                          repeats=args.repeats, batch_size=args.batch_size, max_len=args.max_len, lr=args.lr,
                          threads=args.threads, studio_set=list(args.set),
                          baselines=parse_baselines(args.baseline)).check()

    def say(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    say(f"Benchmark folder: {folder}")
    load_start = bench_report.load_average()
    cores = os.cpu_count() or 1
    if load_start and load_start[0] > cores:
        say(f"warning: the machine is busy (load average {load_start[0]} on {cores} cores): wall-clock figures "
            "will be noisy" + ("; --threads 1 keeps them steadier" if not args.threads else ""))
    started = time.monotonic()
    measured: dict[str, Any] = {}
    if "training" in sections:
        measured["training"] = run_section(bench, ws, say)
    if "memory" in sections:
        measured["memory"] = run_memory_section(folder, ws, say)
    if "scale" in sections:
        measured["scale"] = run_scale_section(_scale_options(args, folder), ws, say)
    if "gui" in sections:
        measured["gui"] = run_gui_section(folder / "gui", folder / "gui-home", say, points=args.gui_points,
                                          flood_rate=args.gui_flood_rate, flood_seconds=args.gui_flood_seconds,
                                          train_steps=args.gui_train_steps)
    report = {
        "status": "completed", "folder": str(folder), "command": "studio " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "seconds": round(time.monotonic() - started, 1),
        "machine": bench_report.machine(), "versions": bench_report.versions(),
        "load_average": {"start": load_start, "end": bench_report.load_average()},
        "sections": measured,
    }
    atomic_write_json(folder / "report.json", report)
    report["files"] = {"report": str(folder / "report.json")}
    if "training" in measured:
        plot, table = folder / "training-loss.svg", folder / "training.md"
        atomic_write_text(plot, bench_report.training_plot(measured["training"]))
        atomic_write_text(table, bench_report.training_markdown(report))
        report["files"].update(plot=str(plot), table=str(table))
    if args.json:
        print_json(_without_series(report))
        return 0
    if "training" in measured:
        print_table(report)
    if "memory" in measured:
        print_memory_table(measured["memory"])
    if "gui" in measured:
        print_gui_table(measured["gui"])
    if "scale" in measured:
        print_scale_table(measured["scale"])
    files = report["files"]
    print(f"Report: {files['report']}" + (f"\nTable: {files['table']}\nPlot: {files['plot']}" if "plot" in files
                                          else ""))
    return 0


def _scale_options(args: argparse.Namespace, folder: Path) -> ScaleOptions:
    rows = parse_sizes(args.scale_rows, "--scale-rows") if args.scale_rows.strip() else []
    return ScaleOptions(folder=folder / "scale", sizes=parse_sizes(args.scale_sizes, "--scale-sizes"), rows=rows,
                        history_steps=max(0, args.scale_steps), repeats=max(1, args.repeats),
                        gui=not args.scale_no_gui)


def _without_series(report: dict[str, Any]) -> dict[str, Any]:
    """The report without per-step series (those are in report.json), for one readable JSON line."""
    if "training" not in report["sections"]:
        return report
    section = report["sections"]["training"]
    runs = [{k: v for k, v in r.items() if k not in ("losses", "step_seconds")} for r in section["runs"]]
    return {**report, "sections": {**report["sections"], "training": {**section, "runs": runs}}}


def _cell(figure: dict[str, Any] | None, fmt: Any) -> str:
    if not figure:
        return "-"
    text = fmt(figure["median"])
    return text if figure["n"] < 2 else f"{text}  ({fmt(figure['min'])}-{fmt(figure['max'])})"


def print_table(report: dict[str, Any]) -> None:
    """A row per trainer, then studio / each baseline, then each trainer's stages."""
    from rich.console import Console
    from rich.table import Table

    section = report["sections"]["training"]
    summary, config = section["summary"], section["config"]
    trainers = [t for t in [*summary["baselines"], "studio"] if t in summary["trainers"]]
    figures = summary["trainers"]
    first = figures[trainers[-1]]
    console = Console()
    table = Table(title=f"Training speed: {first['train_examples']} examples, {first['train_tokens']:,} real tokens, "
                        f"{first['steps']} steps; median (min-max) of {config['repeats']} runs each",
                  title_justify="left")
    columns = [("real tokens/s", "tokens_per_s", lambda v: f"{v:,.0f}"),
               ("wall time", "seconds", lambda v: f"{v:.1f} s"),
               ("tokens per CPU-s", "tokens_per_cpu_s", lambda v: f"{v:,.0f}"),
               (f"peak {'CUDA max allocated' if _on_cuda(section) else 'RSS'}", "peak_mem_bytes", human_bytes),
               ("first step", "to_first_step_s", lambda v: f"{v:.1f} s")]
    table.add_column("trainer")
    for label, _, _ in columns:
        table.add_column(label, justify="right")
    table.add_column("steps", justify="right")
    table.add_column("eval loss", justify="right")
    for name in trainers:
        eval_loss = next((r.get("eval_loss") for r in section["runs"] if r["trainer"] == name), None)
        table.add_row(name, *[_cell(figures[name][key], fmt) for _, key, fmt in columns], str(figures[name]["steps"]),
                      "-" if eval_loss is None else f"{eval_loss:.4f}")
    console.print(table)

    ratios = Table(title="studio / baseline: ratio of the medians (paired min-max)", title_justify="left")
    for column in ("baseline", "tokens/s", "wall time", "peak memory", "same examples", "loss per step differs by",
                   "same learning"):
        ratios.add_column(column, justify="left" if column == "baseline" else "right")
    for name in summary["baselines"]:
        loss = summary["loss"].get(name, {})
        diff = loss.get("max_step_difference")
        ratios.add_row(name, *[_ratio(summary["ratios"][name][key]) for key in ("tokens_per_s", "seconds",
                                                                               "peak_mem_bytes")],
                       "yes" if summary["same_examples"][name] else "NO",
                       "-" if diff is None else f"{diff:.2g}" + ("" if summary["same_batches"][name]
                                                                 else " (other batches)"),
                       "yes" if loss.get("same_learning") else "no")
    console.print(ratios)

    stages_table = Table(title="time to the first step, by stage (median)", title_justify="left")
    stages_table.add_column("stage")
    for name in trainers:
        stages_table.add_column(name, justify="right")
    stages = set().union(*(figures[t]["stages"] for t in trainers))
    for stage in [s for s in STAGE_ORDER if s in stages] + sorted(stages - set(STAGE_ORDER)):
        stages_table.add_row(stage, *[_seconds(figures[t]["stages"].get(stage)) for t in trainers])
    console.print(stages_table)
    speedups = next((r.get("speedups") for r in section["runs"] if r["trainer"] == "studio"), None) or {}
    console.print("studio's speed-ups: " + ", ".join(f"{k} {v}" for k, v in speedups.items()))
    cached = [r.get("from_cache") for r in section["runs"] if r["trainer"] == "studio"]
    console.print(f"studio's tokenized data from the cache: {cached} (the first run fills it)")
    load = report["load_average"]
    console.print(f"load average at start {load['start']}, at end {load['end']} on {report['machine']['cores']} cores")


def _ratio(ratio: dict[str, Any]) -> str:
    paired = ratio.get("paired")
    if ratio.get("of_medians") is None:
        return "-"
    return f"{ratio['of_medians']:.2f}x" + (f"  ({paired['min']:.2f}-{paired['max']:.2f})"
                                             if paired and paired["n"] > 1 else "")


def _on_cuda(section: dict[str, Any]) -> bool:
    return any((r.get("environment") or {}).get("cuda") for r in section["runs"])


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"

"""`studio demo`: a whole fine-tune on the CPU in a few minutes, no download, no display.

Builds a tiny base model and a support-ticket dataset, trains a LoRA adapter through the same
path as `studio train`, then answers the held-out tickets with the base and with the adapter and
prints both accuracies. Everything it makes stays under --out for anyone to check with plain
transformers + peft; the adapter is also in the workspace library.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from studio.cli.common import common_options, exit_code, print_json, workspace
from studio.cli.run_display import print_outcome, run_worker
from studio.core.atomic import atomic_dir
from studio.core.demo_data import demo_config, write_demo_data
from studio.core.run_setup import create_run, precheck
from studio.core.worker_process import run_to_done



def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", parents=[common_options()], help="train the demo adapter on the CPU")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="where to leave the base model, data and adapter (default: <home>/demo)")
    parser.add_argument("--objective", choices=("sft", "dpo"), default="sft",
                        help="sft: fine-tune the demo adapter; dpo: then prefer the right label over a wrong one "
                             "with DPO, starting from the SFT adapter, and compare held-out preference accuracy")
    parser.set_defaults(run=run)


def ensure_demo_assets(out: Path, quiet: bool = False) -> tuple[Path, Path, Path]:
    """The base model folder and the two data files (built once, deterministic)."""
    train, held_out = write_demo_data(out / "data")
    base = out / "base-model"
    if not (base / "model.safetensors").is_file():
        _say(quiet, f"Building the demo base model in {base} ...")
        run_to_done(["demo-model", "--out", str(base)])
    return base, train, held_out


def run(args: argparse.Namespace) -> int:
    if args.objective == "dpo":
        from studio.cli.demo_dpo import run_dpo_demo

        return run_dpo_demo(args)
    started = time.monotonic()
    ws = workspace(args)
    out = (args.out or ws.demo_dir).expanduser().resolve()
    base, train, held_out = ensure_demo_assets(out, args.json)
    config = demo_config(out)
    history, run_dir, failed = train_demo_run(args, ws, config,
                                              f"Training {config.name} on {train.name}")
    if failed is not None:
        return failed
    library_adapter = Path(history.done["adapter"])
    with atomic_dir(out / "adapter", replace=True) as tmp:
        shutil.copytree(library_adapter, tmp, dirs_exist_ok=True)
    _say(args.json, "Answering the held-out tickets with the base model and with the adapter ...")
    results = run_to_done(["evaluate", "--model", str(base), "--adapter", str(out / "adapter"),
                            "--data", str(held_out), "--max-new-tokens", "12"])
    by_slot = {r["slot"]: r for r in results}
    base_r, adapter_r = by_slot["base"], by_slot[str(out / "adapter")]
    seconds = round(time.monotonic() - started, 1)
    summary = {
        "status": "completed", "out": str(out), "base_model": str(base), "train_data": str(train),
        "eval_data": str(held_out), "adapter": str(out / "adapter"), "library_adapter": str(library_adapter),
        "adapter_name": library_adapter.name, "run_id": run_dir.name,
        "accuracy": {"base": base_r["accuracy"], "adapter": adapter_r["accuracy"]},
        "held_out": adapter_r["total"], "seconds": seconds,
    }
    if args.json:
        print_json(summary)
    else:
        _print_comparison(base_r, adapter_r, summary)
    return 0


def train_demo_run(args: argparse.Namespace, ws: Any, config: Any, what: str) -> tuple[Any, Path, int | None]:
    """Check, create and train one demo run; (history, run folder, exit code when it did not complete)."""
    precheck(config, ws)
    run_dir = create_run(ws, config)
    _say(args.json, f"{what} (run {run_dir.name})")
    history = run_worker(run_dir, quiet=args.json)
    if history.status == "completed":
        return history, run_dir, None
    if args.json:
        print_json({"status": history.status, "run_id": run_dir.name, "error": history.error})
    else:
        print_outcome(history, run_dir)
    return history, run_dir, exit_code(history.status, history.error)


def _print_comparison(base: dict[str, Any], adapter: dict[str, Any], summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Held-out tickets: base model vs. LoRA adapter", title_justify="left")
    for column in ("ticket", "expected", "base", "adapter"):
        table.add_column(column, overflow="fold")
    for b, a in list(zip(base["samples"], adapter["samples"]))[:8]:
        mark = "[green]" if a["answer"] == a["expected"] else "[red]"
        table.add_row(a["prompt"], a["expected"], b["answer"][:20] or "(nothing)", f"{mark}{a['answer']}")
    console.print(table)
    console.print(f"Exact match on {adapter['total']} held-out tickets: base [bold]{base['accuracy']:.0%}[/], "
                  f"adapter [bold green]{adapter['accuracy']:.0%}[/]")
    console.print(f"Base model: {summary['base_model']}\nData: {summary['train_data']}, {summary['eval_data']}\n"
                  f"Adapter: {summary['adapter']} (also in the library as {summary['adapter_name']})\n"
                  f"Done in {summary['seconds']:.0f} s.")


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr)




"""`studio runs list|show`: runs in the workspace and how each ended."""

from __future__ import annotations

import argparse

from studio.cli.common import common_options, print_json, workspace
from studio.core.runs import latest_checkpoint, list_runs, load_run


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("runs", help="training runs (list, show)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common_options()], help="list runs and their status")
    listing.set_defaults(run=run_list)
    show = actions.add_parser("show", parents=[common_options()], help="one run: status, metrics, checkpoints")
    show.add_argument("run_ref", metavar="RUN", help="run id, unique prefix, 'last' or run folder")
    show.set_defaults(run=run_show)


def _summary(info) -> dict:
    h = info.history
    ckpt = latest_checkpoint(info.path)
    return {"run_id": info.run_id, "name": info.name, "status": info.status, "step": h.step,
            "max_steps": h.max_steps, "final_loss": h.final_loss, "best_eval_loss": h.best_eval_loss,
            "adapter": (h.done or {}).get("adapter"), "checkpoint": str(ckpt) if ckpt else None,
            "error": h.error and {k: h.error.get(k) for k in ("kind", "message", "hint")},
            "path": str(info.path)}


def run_list(args: argparse.Namespace) -> int:
    runs = list_runs(workspace(args).runs_dir)
    if args.json:
        print_json({"status": "ok", "runs": [_summary(r) for r in runs]})
        return 0
    if not runs:
        print("No runs yet.")
    for info in runs:
        s = _summary(info)
        loss = f"loss {s['final_loss']:.4f}" if s["final_loss"] is not None else ""
        print(f"{info.run_id:48s} {info.status:10s} step {s['step']}/{s['max_steps']} {loss}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    info = load_run(workspace(args).resolve_run(args.run_ref))
    summary = _summary(info)
    summary["stage_times"] = info.history.stage_times
    summary["data_stats"] = info.history.data_stats
    if args.json:
        print_json({"status": "ok", "run": summary})
        return 0
    for key, value in summary.items():
        if value not in (None, {}, ""):
            print(f"{key:14s} {value}")
    return 0

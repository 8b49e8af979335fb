"""`studio runs list|show|cancel`: runs in the workspace, how each ended, and stopping one.

`runs cancel` stops any running run of the workspace, whoever started it (a detached run, one
left by a closed terminal or a crashed app): it leaves a request in the run folder that the worker
reads at its next step (core/run_control.py), or with --force kills the worker holding the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.cli.common import EXIT_FAILED, EXIT_OK, common_options, print_json, workspace
from studio.core.run_control import force_stop, request_cancel, wait_stopped
from studio.core.runs import latest_checkpoint, list_runs, load_run


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("runs", help="training runs (list, show, cancel)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common_options()], help="list runs and their status")
    listing.set_defaults(run=run_list)
    show = actions.add_parser("show", parents=[common_options()], help="one run: status, metrics, checkpoints")
    show.add_argument("run_ref", metavar="RUN", help="run id, unique prefix, 'last' or run folder")
    show.set_defaults(run=run_show)
    cancel = actions.add_parser(
        "cancel", parents=[common_options()], help="stop a running run (a checkpoint is saved)",
        description="Ask a running run's worker, wherever it was started, to save a checkpoint at its next "
                    "step and stop; continue it later with `studio train --resume RUN`.")
    cancel.add_argument("run_ref", metavar="RUN", help="run id, unique prefix, 'last' or run folder")
    cancel.add_argument("--force", action="store_true",
                        help="kill the worker now instead (no checkpoint is saved; the last complete one stays)")
    cancel.add_argument("--wait", action="store_true", help="wait until the worker has stopped, then report")
    cancel.set_defaults(run=run_cancel)


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


def run_cancel(args: argparse.Namespace) -> int:
    """Exit 0 once the stop is requested (with --wait or --force: once the worker is gone and the
    run ended cancelled or completed), 1 if it did not end so, 2 if the run is not running."""
    run_dir = workspace(args).resolve_run(args.run_ref)
    if args.force:
        return _cancel_report(args, run_dir, "force-stopped", stopped=force_stop(run_dir))
    request_cancel(run_dir)
    if not args.wait:
        if args.json:
            print_json({"status": "requested", "run_id": run_dir.name})
        else:
            print(f"Cancel requested for run {run_dir.name}: its worker saves a checkpoint at the next step, "
                  f"then stops.\n  see it end with: studio runs show {run_dir.name}   (or add --wait)")
        return EXIT_OK
    if not args.json:
        print(f"Cancel requested for run {run_dir.name}; waiting for its worker to save a checkpoint and stop "
              f"(Ctrl-C stops waiting; `studio runs cancel {run_dir.name} --force` kills it)...", flush=True)
    return _cancel_report(args, run_dir, "stopped", stopped=wait_stopped(run_dir))


def _cancel_report(args: argparse.Namespace, run_dir: Path, action: str, *, stopped: bool) -> int:
    """How the run stands after the stop: its status and the checkpoint to resume from."""
    info = load_run(run_dir)
    summary = _summary(info)
    ok = stopped and info.status in ("cancelled", "completed")
    if args.json:
        print_json({"status": "ok" if ok else "error", "action": action if stopped else "still running",
                    "run": summary})
        return EXIT_OK if ok else EXIT_FAILED
    if not stopped:
        print(f"Run {info.run_id} is still running: its worker did not end in time", file=sys.stderr)
        return EXIT_FAILED
    print(f"Run {info.run_id} {action}: {info.status} at step {summary['step']}/{summary['max_steps']}")
    if summary["checkpoint"]:
        print(f"  checkpoint {summary['checkpoint']}\n  continue with: studio train --resume {info.run_id}")
    elif info.status == "completed":
        print(f"  it had finished: adapter {summary['adapter']}")
    return EXIT_OK if ok else EXIT_FAILED

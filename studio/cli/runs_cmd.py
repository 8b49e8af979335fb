"""`studio runs list|show|cancel`: runs in the workspace, how each ended, and stopping one.

`runs cancel` stops any running run of the workspace, whoever started it (a detached run, one
left by a closed terminal or a crashed app): it leaves a request in the run folder that the worker
reads at its next step (core/run_control.py), or with --force kills the worker holding the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli.common import EXIT_FAILED, EXIT_OK, common_options, print_json, workspace
from studio.core.eta import duration_text
from studio.core.runs import list_run_summaries, load_run, run_summary

if TYPE_CHECKING:
    from studio.core.run_history import RunHistory
# `runs show` and `runs cancel` import what only they need (objective_summary, tracking,
# run_control) when they run: `runs list` is the command a script calls in a loop.


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


def run_list(args: argparse.Namespace) -> int:
    summaries = list_run_summaries(workspace(args).runs_dir)
    if args.json:
        print_json({"status": "ok", "runs": summaries})
        return 0
    if not summaries:
        print("No runs yet.")
    lines = []
    for s in summaries:
        loss = f"loss {s['final_loss']:.4f}" if s["final_loss"] is not None else ""
        took = duration_text(s["seconds"]) if s["seconds"] is not None else ""
        lines.append(f"{s['run_id']:48s} {s['status']:10s} {s['objective'] or '-':5s} "
                     f"step {s['step']}/{s['max_steps']} {took:>7s} {loss}".rstrip() + "\n")
    sys.stdout.write("".join(lines))
    return 0


PREDICTION_KEYS = ("predictions", "exact_match", "prediction_seconds")
SHOWN_PREDICTIONS = 8       # rows of the last evaluation printed by `runs show`
SHOWN_TREND = 12            # evaluations in the exact-match line


def run_show(args: argparse.Namespace) -> int:
    from studio.core.objective_summary import describe_figures, describe_objective, last_figures_of_history, \
        objective_of_config
    from studio.core.tracking import tracking_links

    info = load_run(workspace(args).resolve_run(args.run_ref))
    h = info.history
    summary = run_summary(info)
    summary["stage_times"] = h.stage_times
    summary["data_stats"] = h.data_stats
    # The last evaluation's answers in full; the exact-match share of every evaluation; the
    # seconds spent answering them, which are a part of stage_times["train"], not a stage.
    summary["predictions"] = h.latest_predictions
    summary["exact_match"] = {str(step): value for step, value in sorted(h.exact_match.items())}
    summary["prediction_seconds"] = h.prediction_time if h.prediction_seconds else None
    # The objective's settings, init adapter and reference; the last preference figures logged.
    settings = objective_of_config(info.config) if info.config else None
    summary["objective_settings"] = settings
    summary["preference"] = last_figures_of_history(h) or None
    # Where train.report_to's trackers wrote (TensorBoard folder, MLflow store and run, W&B run).
    links = tracking_links(info.path)
    summary["tracking"] = [link.to_dict() for link in links] or None
    if args.json:
        print_json({"status": "ok", "run": summary})
        return 0
    summary["objective"] = describe_objective(settings) if settings else summary["objective"]
    summary["preference"] = summary["preference"] and describe_figures(summary["preference"])
    # In text, the saved name with its note replaces the bare name; the time says the seconds.
    skipped = {*PREDICTION_KEYS, "seconds", "objective_settings", "tracking",
               *(("adapter_name",) if summary["saved_as"] else ())}
    for key, value in summary.items():
        if key not in skipped and value not in (None, {}, ""):
            print(f"{key:14s} {value}")
    for link in links:
        print(f"{link.tracker:14s} {link.target}\n{'':14s} {link.note}")
    if h.latest_predictions:
        for line in _prediction_lines(h):
            print(line)
    return 0


def _prediction_lines(h: "RunHistory") -> list[str]:
    """The last evaluation's answers as a few truncated lines, with the exact-match trend."""
    last = h.latest_predictions
    rows = last["rows"]
    exact = sum(1 for r in rows if r.get("exact"))
    similarity = last.get("mean_similarity")
    lines = [f"{'predictions':14s} step {last['step']}: exact match {exact}/{len(rows)}"
             + (f", mean similarity {similarity:.2f}" if similarity is not None else "")
             + f"; {len(h.exact_match)} evaluations took {h.prediction_time:.1f} s (part of train)"]
    trend = [f"{100 * h.exact_match[s]:.0f}%" for s in sorted(h.exact_match)[-SHOWN_TREND:]]
    if len(trend) > 1:
        lines.append(f"{'':14s} exact match by evaluation: {' -> '.join(trend)}")
    for row in rows[:SHOWN_PREDICTIONS]:
        mark = "ok" if row.get("exact") else "no"
        score = row.get("similarity")
        lines.append(f"{'':14s} {mark} {score if score is not None else 0:.2f}  {_short(row.get('prompt'), 40)}"
                     f"  expected {_short(row.get('expected'), 24)!r}  answered {_short(row.get('answer'), 24)!r}")
    if len(rows) > SHOWN_PREDICTIONS:
        lines.append(f"{'':14s} ... {len(rows) - SHOWN_PREDICTIONS} more (--json has them all)")
    return lines


def _short(text: object, width: int) -> str:
    """One line of at most `width` characters."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= width else line[:width - 3] + "..."


def run_cancel(args: argparse.Namespace) -> int:
    """Exit 0 once the stop is requested (with --wait or --force: once the worker is gone and the
    run ended cancelled or completed), 1 if it did not end so, 2 if the run is not running."""
    from studio.core.run_control import force_stop, request_cancel, wait_stopped

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
    summary = run_summary(info)
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

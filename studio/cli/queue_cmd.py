"""`studio queue list|add|run|clear`: the run queue the app's Train page uses, from a terminal.

    studio queue add --config run.yaml --sweep lora.rank=4,8,16,32   # one run per rank
    studio queue run                                                 # train them one after another
"""

from __future__ import annotations

import argparse

import yaml

from studio.cli.common import common_options, exit_code, print_json, workspace
from studio.cli.run_display import print_outcome, run_worker
from studio.core.config_io import load_config
from studio.core.errors import ConfigError
from studio.core.run_queue import RunQueue
from studio.core.run_setup import create_run, precheck


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("queue", help="runs waiting their turn (list, add, run, clear)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common_options()], help="list queued runs")
    listing.set_defaults(run=run_list)
    add = actions.add_parser("add", parents=[common_options()], help="queue a run config (or a sweep over one key)")
    add.add_argument("--config", required=True, metavar="RUN.yaml", help="the run config to queue")
    add.add_argument("--sweep", metavar="KEY=V1,V2,...", help="queue one run per value, e.g. lora.rank=4,8,16,32")
    add.set_defaults(run=run_add)
    start = actions.add_parser("run", parents=[common_options()], help="train the queued runs one after another")
    start.set_defaults(run=run_queue)
    clear = actions.add_parser("clear", parents=[common_options()], help="empty the queue")
    clear.set_defaults(run=run_clear)


def run_list(args: argparse.Namespace) -> int:
    entries = RunQueue(workspace(args).home).entries()
    if args.json:
        print_json({"status": "ok", "entries": [{"id": e.id, "label": e.label, "rank": e.config["lora"]["rank"]}
                                                for e in entries]})
    else:
        print("\n".join(f"{e.id}  {e.label}  (rank {e.config['lora']['rank']})" for e in entries) or "The queue is empty.")
    return 0


def run_add(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    ws = workspace(args)
    precheck(config, ws)
    queue = RunQueue(ws.home)
    if args.sweep:
        key, sep, values = args.sweep.partition("=")
        if not sep or not values.strip():
            raise ConfigError(f"--sweep {args.sweep!r} is not of the form KEY=V1,V2", hint="e.g. --sweep lora.rank=4,8,16")
        entries = queue.add_sweep(config, key.strip(), [yaml.safe_load(v) for v in values.split(",") if v.strip()])
    else:
        entries = [queue.add(config)]
    if args.json:
        print_json({"status": "ok", "added": [e.label for e in entries]})
    else:
        print(f"Queued {', '.join(e.label for e in entries)}; start with `studio queue run` (or in the app).")
    return 0


def run_queue(args: argparse.Namespace) -> int:
    ws = workspace(args)
    queue = RunQueue(ws.home)
    results, code = [], 0
    while (entry := queue.pop()) is not None:
        config = entry.run_config()
        run_dir = create_run(ws, config)
        history = run_worker(run_dir, quiet=args.json)
        if not args.json:
            print_outcome(history, run_dir)
        results.append({"label": entry.label, "run_id": run_dir.name, "status": history.status})
        code = code or exit_code(history.status, history.error)
        if history.status == "cancelled":
            break
    if args.json:
        print_json({"status": "ok" if code == 0 else "failed", "runs": results})
    return code


def run_clear(args: argparse.Namespace) -> int:
    RunQueue(workspace(args).home).clear()
    if args.json:
        print_json({"status": "ok"})
    return 0

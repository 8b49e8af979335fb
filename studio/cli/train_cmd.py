"""`studio train`: train a LoRA/QLoRA adapter from flags and/or a YAML config; or resume a run.

`--detach` starts the worker in the background and returns with the run id; without it the
worker is followed here and stops with a checkpoint if this command is killed (see
core/run_control.py and engine/worker_io.Controls).

Every config field with a `flag` in studio/core/config.py becomes an option here, with its help
text, so the CLI, the YAML file and the GUI can never drift apart. Precedence: defaults <
--config file < --set key=value < explicit flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from studio.cli.common import common_options, exit_code, print_json, workspace
from studio.cli.run_display import print_outcome, run_worker
from studio.core.config import RunConfig, sections
from studio.core.config_io import apply_overrides, dump_config, load_config, set_value
from studio.core.errors import ConfigError
from studio.core.run_setup import create_run, precheck


def config_flags() -> list[tuple[str, str, dataclasses.Field, Any]]:
    """(flag, dotted key, field, type) for every config field that has a flag."""
    found = []
    config = RunConfig()
    top = [("", f, config) for f in dataclasses.fields(config) if f.metadata.get("flag")]
    nested = [(name, f, section) for name, section in sections(config) for f in dataclasses.fields(section)]
    for prefix, f, owner in top + nested:
        flag = f.metadata.get("flag")
        if flag:
            key = f"{prefix}.{f.name}" if prefix else f.name
            found.append((flag, key, f, typing.get_type_hints(type(owner))[f.name]))
    return found


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train", parents=[common_options()], help="train a LoRA/QLoRA adapter",
        description="Train a LoRA/QLoRA adapter. Flags override --config; see `studio train --help`.")
    parser.add_argument("--config", metavar="RUN.yaml", help="a run config (e.g. a run's run.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set train.weight_decay=0.01")
    parser.add_argument("--resume", metavar="RUN", help="continue a cancelled or crashed run from its last "
                        "checkpoint (run id, unique prefix, 'last' or run folder)")
    parser.add_argument("--detach", action="store_true",
                        help="start the run in the background and return at once with its id; follow it with "
                             "`studio runs show RUN`, stop it with `studio runs cancel RUN` (it keeps training "
                             "when this terminal closes)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config as YAML and exit without training")
    group = parser.add_argument_group("run settings (also settable in the YAML config)")
    for flag, key, f, kind in config_flags():
        help_text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            help_text += f" Choices: {', '.join(f.metadata['choices'])}."
        help_text = help_text.replace("%", "%%")  # argparse formats help with %: "30%" broke the text
        if kind is bool:
            group.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            metavar = {int: "N", float: "X", list: "A,B", dict: "K=V,..."}.get(kind, "VALUE")
            group.add_argument(flag, dest=key, default=None, metavar=metavar, help=help_text)
    parser.set_defaults(run=run)


def resolve_config(args: argparse.Namespace) -> RunConfig:
    config = load_config(args.config) if args.config else RunConfig()
    apply_overrides(config, args.set)
    for flag, key, _, _ in config_flags():
        value = getattr(args, key, None)
        if value is not None:
            set_value(config, key, value, where=flag)
    return config


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    from studio.engine.distributed import launched_by_torchrun

    if launched_by_torchrun():
        if args.detach:
            raise ConfigError("--detach cannot be used under torchrun or accelerate launch",
                              hint="detach the launcher itself (nohup, tmux), or train on one GPU with --detach")
        return _run_under_launcher(args, ws)
    if args.resume:
        given = [flag for flag, key, _, _ in config_flags() if getattr(args, key, None) is not None]
        if given or args.config or args.set:
            raise ConfigError(
                f"--resume continues a run exactly as it was configured, so it cannot be combined with "
                f"{', '.join(given) or '--config/--set'}",
                hint="to change settings, start a new run: studio train --config runs/<id>/run.yaml --lr ...")
        run_dir = ws.resolve_run(args.resume)
        if args.detach:
            return _detach(args, run_dir, resume=True)
        history = run_worker(run_dir, resume=True, quiet=args.json)
        return _finish(args, history, run_dir)
    config = resolve_config(args)
    if args.print_config:
        config.validate()
        print(dump_config(config), end="")
        return 0
    report, info = precheck(config, ws)
    if not args.json and report.errors:
        print(f"warning: skipping {report.rejected} rejected rows (--skip-bad-rows)\n{report.describe(5)}")
    run_dir = create_run(ws, config)
    if not args.json:
        print(f"Run {run_dir.name}: {config.model.name_or_path} on {config.data.path} "
              f"(rank {config.lora.rank}, {config.model.quant}); folder {run_dir}")
    if args.detach:
        return _detach(args, run_dir, resume=False)
    history = run_worker(run_dir, quiet=args.json)
    return _finish(args, history, run_dir)


def _detach(args: argparse.Namespace, run_dir: Path, resume: bool) -> int:
    """Start the worker so that it outlives this command, and say how to follow and stop it."""
    from studio.core.run_control import launch_detached
    from studio.core.runs import WORKER_LOG

    pid = launch_detached(run_dir, resume=resume)
    if args.json:
        print_json({"status": "started", "run_id": run_dir.name, "run_dir": str(run_dir), "pid": pid,
                    "log": str(run_dir / WORKER_LOG), "resume": resume})
        return 0
    print(f"Run {run_dir.name} {'resumed' if resume else 'started'} in the background (pid {pid}).\n"
          f"  follow it: studio runs show {run_dir.name}   (log: {run_dir / WORKER_LOG})\n"
          f"  stop it:   studio runs cancel {run_dir.name}   (saves a checkpoint; --force kills it)")
    return 0


def _run_under_launcher(args: argparse.Namespace, ws: Any) -> int:
    """torchrun / accelerate launch started this process as one rank: train here, in-process."""
    from studio.engine import distributed

    def prepare() -> tuple[Any, bool]:
        if args.resume:
            return ws.resolve_run(args.resume), True
        config = resolve_config(args)
        precheck(config, ws)
        return create_run(ws, config), False

    return distributed.run(prepare)


def _finish(args: argparse.Namespace, history: Any, run_dir: Any) -> int:
    done = history.done or {}
    if args.json:
        print_json({
            "status": history.status, "run_id": run_dir.name, "run_dir": str(run_dir),
            "adapter": done.get("adapter"), "adapter_name": done.get("adapter_name"),
            "checkpoint": done.get("checkpoint") or history.last_checkpoint,
            "metrics": done.get("metrics", {}), "step": done.get("step", history.step),
            "error": history.error and {k: history.error.get(k) for k in ("kind", "message", "hint")},
        })
    else:
        print_outcome(history, run_dir)
    return exit_code(history.status, history.error)

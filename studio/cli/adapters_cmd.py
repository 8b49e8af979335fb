"""`studio adapters list`: the adapter library from the command line."""

from __future__ import annotations

import argparse

from studio.cli.common import common_options, human_bytes, print_json, workspace
from studio.core.library import list_adapters


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("adapters", help="the adapter library (list)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common_options()], help="list the adapters in the workspace")
    listing.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    ws = workspace(args)
    adapters = list_adapters(ws.adapters_dir)
    if args.json:
        print_json({"status": "ok", "adapters_dir": str(ws.adapters_dir),
                    "adapters": [a.to_dict() for a in adapters]})
        return 0
    if not adapters:
        print(f"No adapters in {ws.adapters_dir} yet. Train one with `studio train` or `studio demo`.")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Adapters in {ws.adapters_dir}", title_justify="left")
    table.add_column("name", no_wrap=True)
    for column in ("base model", "rank", "targets", "final loss", "best eval", "size", "created"):
        table.add_column(column, overflow="fold")
    for a in adapters:
        if a.broken:
            table.add_row(a.name, f"[red]broken: {a.broken}", "", "", "", "", human_bytes(a.size_bytes), "")
            continue
        table.add_row(a.name, _short(a.base_model), str(a.rank or ""), ",".join(a.targets),
                      f"{a.final_loss:.4f}" if a.final_loss is not None else "-",
                      f"{a.best_eval_loss:.4f}" if a.best_eval_loss is not None else "-",
                      human_bytes(a.size_bytes), a.created[5:16].replace("T", " "))
    Console().print(table)
    return 0


def _short(path: str, width: int = 32) -> str:
    """A local path shows as its folder name; hub ids stay whole."""
    if "/" in path and path.startswith(("/", "~", ".")) or "\\" in path:
        path = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return path if len(path) <= width else "..." + path[-(width - 3):]

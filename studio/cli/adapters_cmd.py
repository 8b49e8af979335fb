"""`studio adapters list|show|diff` (reading the library) and, from adapters_edit.py,
`rename|tag|untag|notes|rm|trash|restore|import` (changing it)."""

from __future__ import annotations

import argparse
import math

from studio.cli import adapters_edit
from studio.cli.common import common_options, human_bytes, print_json, workspace
from studio.core.adapter_details import base_model_text, diff_adapters, lineage_card, run_text, short_value
from studio.core.library import SORT_KEYS, find_adapter, list_adapters, search_adapters
from studio.core.objective_summary import (PREFERENCE_OBJECTIVES, describe_figures, describe_objective,
                                           last_figures_of_metrics)

SPARK = "▁▂▃▄▅▆▇█"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("adapters", help="the adapter library (list, show, diff, rename, tag, rm, import, ...)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common_options()], help="list the adapters in the workspace")
    listing.add_argument("--search", default="", metavar="TEXT", help="only adapters whose name, base model, "
                         "dataset, tags or notes contain TEXT")
    listing.add_argument("--tag", action="append", default=[], help="only adapters with this tag (repeatable)")
    listing.add_argument("--base", default="", metavar="MODEL", help="only adapters whose base model contains MODEL")
    listing.add_argument("--sort", default="name", choices=SORT_KEYS, help="sort by this column (default: name)")
    listing.add_argument("--desc", action="store_true", help="sort descending")
    listing.set_defaults(run=run_list)
    show = actions.add_parser("show", parents=[common_options()], help="one adapter's lineage: base, data, "
                              "settings, metrics, loss curve, run, files")
    show.add_argument("name")
    show.set_defaults(run=run_show)
    diff = actions.add_parser("diff", parents=[common_options()], help="two adapters' settings side by side, "
                              "differences highlighted")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--all", action="store_true", help="also show the settings that are the same")
    diff.set_defaults(run=run_diff)
    adapters_edit.register(actions)


def run_list(args: argparse.Namespace) -> int:
    ws = workspace(args)
    adapters = search_adapters(list_adapters(ws.adapters_dir), args.search, args.tag, args.base, args.sort, args.desc)
    if args.json:
        print_json({"status": "ok", "adapters_dir": str(ws.adapters_dir),
                    "adapters": [a.to_dict() for a in adapters]})
        return 0
    if not adapters:
        filtered = args.search or args.tag or args.base
        print("No adapter matches." if filtered else
              f"No adapters in {ws.adapters_dir} yet. Train one with `studio train` or `studio demo`.")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Adapters in {ws.adapters_dir}", title_justify="left")
    table.add_column("name", no_wrap=True)
    for column in ("base model", "rank", "targets", "final loss", "best eval", "size", "created", "tags"):
        table.add_column(column, overflow="fold")
    for a in adapters:
        if a.broken:
            table.add_row(a.name, f"[red]broken: {a.broken}", "", "", "", "", human_bytes(a.size_bytes), "", "")
            continue
        table.add_row(a.name, _short(a.base_model), str(a.rank or ""), ",".join(a.targets),
                      f"{a.final_loss:.4f}" if a.final_loss is not None else "-",
                      f"{a.best_eval_loss:.4f}" if a.best_eval_loss is not None else "-",
                      human_bytes(a.size_bytes), a.created[5:16].replace("T", " "), ", ".join(a.tags))
    Console().print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    card = lineage_card(workspace(args), args.name)
    if args.json:
        print_json({"status": "ok", "adapter": card})
        return 0
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{card['name']}[/]  {card['path']}")
    if card.get("broken"):
        console.print(f"[red]broken: {card['broken']}")
    check = card.get("base_check") or {}
    colour = "green" if check.get("ok") else "yellow"
    base = card["base_model_record"]
    rows = [("base model", base_model_text(card) or "-"), ("base check", f"[{colour}]{check.get('message', '-')}"),
            ("base revision", base.get("revision") or "-"), ("base hash", base.get("hash") or "-"),
            ("dataset", card["dataset"] or "-"), ("data fingerprint", card["dataset_record"].get("fingerprint") or "-"),
            ("rank / alpha", f"{card['rank']} / {card['alpha']}"), ("targets", ", ".join(card["targets"]) or "-"),
            ("created", card["created"] or "-"), ("tags", ", ".join(card["tags"]) or "-"),
            ("notes", card["notes"] or "-"), ("size", human_bytes(card["size_bytes"]))]
    rows.append(("objective", describe_objective(card["objective"])))
    figures = describe_figures(last_figures_of_metrics(card["metrics"]))
    if figures:
        rows.append(("preference", figures))
    metrics = card["metrics"]
    if metrics:
        rows.append(("metrics", ", ".join(f"{k} {short_value(v)}" for k, v in metrics.items() if v is not None)))
    if card["loss_history"]:
        losses = [v for _, v in card["loss_history"]]     # [step, loss] pairs of numbers (adapter_record)
        rows.append(("train loss", f"{sparkline(losses)}  {losses[0]:.4f} -> {losses[-1]:.4f}"))
    run = card.get("run")
    if run:
        rows.append(("run", run_text(run)))
    if card.get("imported"):
        rows.append(("imported from", card["imported"].get("from", "-")))
    for key, value in rows:
        console.print(f"  {key:17s} {value}", highlight=False)
    config = card["config"]
    if config:
        console.print("  settings")
        preference = card["objective"].get("name") in PREFERENCE_OBJECTIVES      # sft ignores the pref section
        for section in ("lora", "train", "pref", "data") if preference else ("lora", "train", "data"):
            values = config.get(section) or {}
            console.print(f"    {section:6s} " + ", ".join(f"{k}={short_value(v)}" for k, v in values.items()),
                          highlight=False)
    return 0


def run_diff(args: argparse.Namespace) -> int:
    ws = workspace(args)
    a, b = find_adapter(ws.adapters_dir, args.a), find_adapter(ws.adapters_dir, args.b)
    rows = diff_adapters(a, b, only_differences=not args.all)
    if args.json:
        print_json({"status": "ok", "a": a.name, "b": b.name, "rows": [r.to_dict() for r in rows],
                    "differences": sum(r.differs for r in rows)})
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{a.name} vs {b.name}" + ("" if args.all else " (differences only; --all for every setting)"),
                  title_justify="left")
    table.add_column("setting", no_wrap=True)
    table.add_column(a.name, overflow="fold")
    table.add_column(b.name, overflow="fold")
    for row in rows:
        style = "bold yellow" if row.differs else "dim"
        table.add_row(row.key, short_value(row.a), short_value(row.b), style=style)
    Console().print(table)
    if not rows:
        print("The two adapters have the same settings.")
    return 0


def sparkline(values: list[float], width: int = 40) -> str:
    """A loss curve in one line of block characters."""
    values = [v for v in values if math.isfinite(v)]      # a diverged run records NaN losses
    if not values:
        return ""
    step = max(1, len(values) // width)
    points = values[::step][:width]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1) + 0.5))] for v in points)


def _short(path: str, width: int = 32) -> str:
    """A local path shows as its folder name; hub ids stay whole."""
    if "/" in path and path.startswith(("/", "~", ".")) or "\\" in path:
        path = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return path if len(path) <= width else "..." + path[-(width - 3):]

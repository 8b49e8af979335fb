"""`studio compare`: run a prompt set through two slots and show the answers side by side.

    studio compare --a base --b my-adapter --prompts prompts.txt --out table.csv
    studio compare --b my-adapter                      # the adapter's own held-out prompts

Prompts come from --prompts FILE, or --eval-of ADAPTER (its held-out data); with neither, the
held-out data of the library adapter in slot B (else A) is used. Rows with an expected answer are
scored (exact match and similarity); --out writes the table as CSV or JSONL (repeatable).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from studio.cli.chat_cmd import add_slot_options, open_client, sampling_from, slot_specs
from studio.cli.common import common_options, print_json, workspace
from studio.core.errors import StudioError
from studio.core.library import find_adapter
from studio.core.prompt_sets import EXPORT_SUFFIXES, CompareRow, eval_prompts, export_rows, load_prompt_file, \
    run_prompt_set, score, summarize
from studio.core.slots import resolve_slot


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("compare", parents=[common_options()], help="run a prompt set through two slots, "
                            "answers side by side with scores", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_slot_options(parser, max_new_tokens=64)
    parser.add_argument("--prompts", type=Path, metavar="FILE", help="prompt file: .txt (one per line), or "
                        "JSONL/CSV/... with a prompt column (and expected), or any training data format")
    parser.add_argument("--eval-of", default="", metavar="ADAPTER", help="use this library adapter's held-out data")
    parser.add_argument("--limit", type=int, default=0, help="only the first N prompts")
    parser.add_argument("--out", type=Path, action="append", default=[], metavar="FILE",
                        help="write the table to FILE.csv or FILE.jsonl (repeatable)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for out in args.out:
        if out.suffix.lower() not in EXPORT_SUFFIXES:
            raise StudioError(f"--out {out}: unknown file type", hint="use a .csv or .jsonl file name")
    sampling = sampling_from(args)
    specs = slot_specs(args)
    items, origin, notes = load_items(args, specs)
    client, loaded = open_client(args, specs, quiet=args.json)
    labels = {slot: info.get("label", specs[slot]) for slot, info in loaded.get("slots", {}).items()}
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True, quiet=args.json)
    for note in notes:
        console.print(f"[yellow]warning: {note}")
    try:
        with Progress(TextColumn("Answering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            task = progress.add_task("prompts", total=len(items))
            rows = run_prompt_set(items, lambda turns: client.generate(turns, sampling, args.system), list(specs),
                                  on_row=lambda _: progress.advance(task))
    finally:
        client.close()
    summary = summarize(rows, labels)
    written = [str(export_rows(rows, labels, out)) for out in args.out]
    if args.json:
        print_json({"status": "ok", "prompts": origin, "count": len(rows), "summary": summary,
                    "exports": written, "warnings": notes, "rows": [r.to_dict(labels) for r in rows]})
        return 0
    print_table(rows, labels, summary, origin)
    for path in written:
        print(f"Wrote {path}")
    return 0


def load_items(args: argparse.Namespace, specs: dict[str, str]) -> tuple[list[Any], str, list[str]]:
    if args.prompts:
        return load_prompt_file(args.prompts, args.limit), str(args.prompts), []
    ws = workspace(args)
    name = args.eval_of
    if not name:
        for slot in ("b", "a"):
            spec = specs.get(slot)
            if spec and resolve_slot(spec, ws).kind == "library":
                name = resolve_slot(spec, ws).label
                break
    if not name:
        raise StudioError("no prompts: pass --prompts FILE or --eval-of ADAPTER",
                          hint="or put a library adapter in slot B to use its held-out data")
    find_adapter(ws.adapters_dir, name)
    return eval_prompts(ws, name, args.limit)


def print_table(rows: list[CompareRow], labels: dict[str, str], summary: dict[str, Any], origin: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Prompts from {origin}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("prompt", overflow="fold", ratio=3)
    has_expected = any(r.item.expected is not None for r in rows)
    if has_expected:
        table.add_column("expected", overflow="fold", ratio=1)
    for slot, label in labels.items():
        table.add_column(f"{slot.upper()}: {label}", overflow="fold", ratio=2)
    for row in rows:
        cells = [str(row.index), row.item.text]
        if has_expected:
            cells.append(row.item.expected or "")
        for slot in labels:
            answer = row.answers.get(slot, "")
            exact, similarity = score(answer, row.item.expected)
            mark = "" if exact is None else ("[green]" if exact else f"[red]({similarity:.2f}) ")
            cells.append(mark + answer.replace("[", "\\["))
        table.add_row(*cells)
    console = Console()
    console.print(table)
    for slot, result in summary.items():
        if result["scored"]:
            console.print(f"{slot.upper()} ({result['spec']}): exact match {result['exact']}/{result['scored']} "
                          f"({result['accuracy']:.0%}), mean similarity {result['mean_similarity']:.2f}")

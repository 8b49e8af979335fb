"""`studio data check FILE`: validate a dataset, list every rejected row and what the file holds
that training does not use.
`studio data show FILE`: each record as training sees it, rendered with the model's chat template,
with the tokens that count toward the loss marked (the Data page's label mask, in a terminal).

Both take the data settings of `studio train` (and --config RUN.yaml), and its --objective: preference
data (dpo, orpo, kto) is checked against the objective, `check` names the layout it was read in and
counts the pairs (or desirable and undesirable answers), and `show` prints each pair's prompt and
answers as TRL renders them, with their token lengths.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from studio.cli.common import EXIT_USER, common_options, print_json, workspace
from studio.core.config import RunConfig
from studio.core.datasets import ImportReport, describe_turns, eval_overlap, import_options
from studio.core.datasets.records import describe_layouts
from studio.core.errors import DataError, ModelError

CHECK_KEYS = ("data.format", "data.columns", "data.system_prompt", "data.text_unit", "data.reasoning",
              "data.loss_on", "data.eval_path", "train.objective")
SHOW_KEYS = CHECK_KEYS + ("data.max_len", "model.name_or_path", "model.revision", "model.chat_template",
                          "model.trust_remote_code")
DEFAULT_ROWS = 3


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="datasets: check a file, show records as training sees them")
    actions = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", parents=[common_options()], help="validate a dataset file",
                               description="Validate a dataset: its format, every rejected row with its line "
                                           "and reason, and the columns and fields training will not use.")
    _data_arguments(check, CHECK_KEYS)
    check.add_argument("--show", type=int, default=50, help="rejected rows to list")
    check.set_defaults(run=run_check)
    show = actions.add_parser("show", parents=[common_options()], help="records as training sees them",
                              description="Render records with the model's chat template and mark the tokens "
                                          "that count toward the loss. --json prints one object per record: "
                                          "text, trained_text, tokens, trained_tokens, pieces, input_ids, labels.")
    _data_arguments(show, SHOW_KEYS)
    show.add_argument("--row", type=int, action="append", default=[], metavar="N",
                      help=f"record number to show (1 = the first kept record; repeatable; default the first "
                           f"{DEFAULT_ROWS})")
    show.add_argument("--all", action="store_true", help="show every record")
    show.set_defaults(run=run_show)


def _data_arguments(parser: argparse.ArgumentParser, keys: tuple[str, ...]) -> None:
    from studio.cli.train_cmd import config_flags

    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--config", metavar="RUN.yaml", help="take the data and model settings from a run config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    for flag, key, f, kind in config_flags():
        if key not in keys:
            continue
        help_text = f.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            choices = f.metadata.get("choices")
            parser.add_argument(flag, dest=key, default=None, choices=choices, help=help_text,
                                metavar=None if choices else "VALUE")


def _config(args: argparse.Namespace) -> RunConfig:
    from studio.cli.train_cmd import resolve_config

    config = resolve_config(args)
    config.data.path = args.file
    return config


def run_check(args: argparse.Namespace) -> int:
    config = _config(args)
    data, objective = config.data, config.train.objective
    report = import_options(data, objective=objective)
    if data.eval_path and report.records:   # the eval file is checked as training would read it
        evals = import_options(data, data.eval_path, objective=objective).records
        overlap = eval_overlap(report.records, evals, data.path, data.eval_path)
        if overlap:
            report.warnings.append(overlap)
    if args.json:
        print_json({"status": "ok" if not report.errors else "rejected_rows", "objective": objective,
                    **report.summary(), "errors": [e.to_dict() for e in report.errors]})
    else:
        print(report.describe(max_errors=args.show))
    return EXIT_USER if report.errors or not report.records else 0


def run_show(args: argparse.Namespace) -> int:
    config = _config(args)
    report = import_options(config.data, objective=config.train.objective)
    if not config.model.name_or_path:
        config.model.name_or_path = _demo_model(args)
    rows = _chosen_rows(args, report)
    _print_notes(report, rows)          # on stderr: stdout holds only the records (one JSON object each)
    from studio.engine.download import local_source
    from studio.engine.model_loading import load_tokenizer
    from studio.engine.tokenization import TemplateProblem, TemplateUnsupported, describe_example, unsupported_error

    tokenizer = load_tokenizer(local_source(config.model, None), config.model)
    failed = 0
    for number in rows:
        record = report.records[number - 1]
        if record.kind in ("preference", "kto"):
            failed += _show_pair(tokenizer, record, number, args.json)
            continue
        try:
            view = describe_example(tokenizer, record.to_dict(), config.data.max_len, config.data.loss_on)
        except TemplateUnsupported as exc:
            raise unsupported_error(tokenizer, exc, record.source) from None
        except TemplateProblem as exc:
            failed += 1
            view = {"problem": f"the chat template rejected the conversation: {exc}"}
        view = {"row": number, "source": record.source, **view}
        if args.json:
            print_json(view)
        else:
            _print_view(view)
    return EXIT_USER if failed or report.errors else 0


def _show_pair(tokenizer: Any, record: Any, number: int, as_json: bool) -> int:
    """One pair (or KTO row): its parts as TRL renders them and their token lengths; 1 if the
    template rejects it."""
    from studio.engine.pair_tokens import pair_lengths, rendered_parts

    try:
        row = record.to_dict()
        view: dict[str, Any] = {"row": number, "source": record.source, "parts": rendered_parts(tokenizer, row),
                                "tokens": pair_lengths(tokenizer, row)}
    except Exception as exc:  # the template's own error, for this row
        view = {"row": number, "source": record.source, "problem": f"the chat template rejected the row: {exc}"}
    if record.kind == "kto":
        view["label"] = record.label
    if as_json:
        print_json(view)
        return int("problem" in view)
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    console.rule(f"record {number} · {record.source}", style="dim")
    if "problem" in view:
        console.print(Text(view["problem"], style="red"))
        return 1
    for part, text in view["parts"].items():
        title = {"chosen": "chosen (preferred)", "rejected": "rejected",
                 "completion": f"completion ({'desirable' if record.label else 'undesirable'})"}.get(part, part)
        console.print(Text(f"--- {title}: {view['tokens'][part]:,} tokens ---", style="bold"))
        console.print(Text(text, style="green" if part == "chosen" or (part == "completion" and record.label)
                           else "red" if part != "prompt" else "dim"))
    return 0


def _demo_model(args: argparse.Namespace) -> str:
    folder = workspace(args).demo_dir / "base-model"
    if not (folder / "config.json").is_file():
        raise ModelError("no model given, and the demo base model is not built",
                         hint="pass --model with a model folder or hub id (its tokenizer's chat template renders "
                              "the records), or run `studio demo` once")
    print(f"(no --model: using the demo base model {folder})", file=sys.stderr)
    return str(folder)


def _chosen_rows(args: argparse.Namespace, report: ImportReport) -> list[int]:
    count = len(report.records)
    if not count:
        raise DataError(f"{report.path} has no usable records\n" + report.describe(10), hint="fix the rows listed above")
    if args.all:
        return list(range(1, count + 1))
    bad = [n for n in args.row if not 1 <= n <= count]
    if bad:
        raise DataError(f"--row {bad[0]}: the file has {count:,} usable records", hint=f"use --row 1 to {count}")
    return args.row or list(range(1, min(count, DEFAULT_ROWS) + 1))


def _print_notes(report: ImportReport, rows: list[int]) -> None:
    lines = [f"{report.path}: format {report.format}, {len(report.records):,} records"
             + (f", {report.rejected:,} rejected (see `studio data check`)" if report.rejected else "")]
    if report.turns:
        lines.append("  " + describe_turns(report.turns))
    if report.layouts:
        lines.append("  " + describe_layouts(report.layouts, report.preference_counts()))
    lines += [f"  warning: {w}" for w in report.warnings]
    if len(rows) < len(report.records):
        lines.append(f"  showing {len(rows)} of {len(report.records):,} records (--row N or --all for others)")
    print("\n".join(lines), file=sys.stderr)


def _print_view(view: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    console.rule(f"record {view['row']} · {view['source']}", style="dim")
    if "problem" in view:
        console.print(Text(view["problem"], style="red"))
        return
    body = Text()
    for piece, trained in view["pieces"]:
        body.append(piece, style="bold green" if trained else "dim")
    console.print(body)
    if not console.is_terminal:      # no colours in a file or a pipe: spell out what is trained
        console.print(f"--- trained (counts toward the loss) ---\n{view['trained_text']}")
    notes = [f"{view['tokens']:,} tokens, {view['trained_tokens']:,} count toward the loss"
             + (" (bold green; the dim text is context)" if console.is_terminal else "")]
    if view["truncated"]:
        notes.append(f"cut at max_len from {view['raw_tokens']:,} tokens")
    if view["unrendered_turns"]:
        notes.append(f"{view['unrendered_turns']} turn(s) to train are not shown by the template, so not trained")
    console.print(Text("; ".join(notes), style="italic"))

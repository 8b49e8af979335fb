"""`studio export`: a merged, verified Hugging Face model folder; or `--adapter-only` the PEFT folder.

    studio export --adapter NAME|PATH [--out DIR] [--dtype auto|bf16|fp16|fp32] [--shard-size 5GB]
                  [--no-verify] [--keep-failed] [--base DIR] [--json]
    studio export --adapter NAME|PATH --adapter-only [--zip] [--out DIR]

Everything that can be checked without torch is checked first (core.export_plan), so bad input
exits with 2 before a worker starts and nothing is written. The merge runs in a worker
(`python -m studio.engine export ...`), the same command the GUI's Export dialog starts.
Exit codes: 0 exported (and verified), 1 failed (verification included), 2 bad input, 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from studio.cli.common import EXIT_FAILED, common_options, exit_code, human_bytes, print_json, workspace
from studio.cli.worker_display import follow_worker
from studio.core.adapter_export import export_adapter
from studio.core.export_plan import DEFAULT_SHARD_SIZE, EXPORT_DTYPES, ExportPlan, decimal_size, plan_export


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export", parents=[common_options()],
        help="merge an adapter into its base model (verified), or export the adapter",
        description="Merge a LoRA adapter into its base model and write a standard Hugging Face model folder "
                    "(safetensors, config, tokenizer with the chat template, model card), then load it back and "
                    "check it against base + adapter. With --adapter-only, copy the PEFT adapter folder instead.")
    parser.add_argument("--adapter", required=True, metavar="NAME|PATH",
                        help="an adapter in the library (see `studio adapters list`) or a PEFT adapter folder")
    parser.add_argument("--out", metavar="DIR", help="the new folder (must not exist, or be empty); "
                        "default: <home>/exports/<adapter name>")
    parser.add_argument("--dtype", default="auto", choices=EXPORT_DTYPES,
                        help="precision of the merged weights; auto keeps the base model's own (bf16 when unknown). "
                             "An adapter trained on a 4/8-bit base is always merged into full-precision weights")
    parser.add_argument("--shard-size", default=DEFAULT_SHARD_SIZE, metavar="SIZE",
                        help=f"largest safetensors file, e.g. 2GB, 500MB, 4GiB (default {DEFAULT_SHARD_SIZE})")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip loading the written model back and comparing it with base + adapter")
    parser.add_argument("--keep-failed", action="store_true",
                        help="when verification fails, keep the folder as <out>.FAILED-verification for "
                             "inspection (default: remove it)")
    parser.add_argument("--base", metavar="DIR|ID", default="",
                        help="the base model, when it is not where the adapter's lineage says")
    parser.add_argument("--allow-base-mismatch", action="store_true",
                        help="merge even when --base hashes differently from the model the adapter was trained on")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where to merge and verify (default cpu: RAM usually holds a full-precision "
                             "model that GPU memory does not)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run Python code shipped with the base model (only for models you trust)")
    parser.add_argument("--adapter-only", action="store_true",
                        help="export the PEFT adapter folder with its studio.json instead of a merged model")
    parser.add_argument("--zip", action="store_true", help="with --adapter-only: write one .zip file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    if args.adapter_only:
        return _adapter_only(args, ws)
    if args.zip:
        from studio.core.errors import ConfigError

        raise ConfigError("--zip only applies to --adapter-only exports",
                          hint="add --adapter-only, or drop --zip (a merged model is a folder)")
    plan = plan_export(ws, args.adapter, out=args.out, dtype=args.dtype, shard_size=args.shard_size,
                       verify=args.verify, keep_failed=args.keep_failed, base=args.base, device=args.device,
                       trust_remote_code=args.trust_remote_code, allow_base_mismatch=args.allow_base_mismatch)
    if not args.json:
        _print_plan(plan)
    outcome = follow_worker(plan.worker_args(), quiet=args.json)
    report = next((r for r in outcome.results if r.get("kind") == "verification"), None)
    if args.json:
        print_json({"status": outcome.status, "adapter": plan.adapter.name, "out": outcome.done.get("out"),
                    "dtype": plan.dtype, "verification": report and _strip(report), "error": outcome.error
                    and {k: outcome.error.get(k) for k in ("kind", "message", "hint")},
                    **{k: outcome.done.get(k) for k in ("files", "model_bytes", "peak_private_bytes", "peak_rss_bytes",
                                                        "baseline_private_bytes", "baseline_rss_bytes", "by_stage",
                                                        "seconds")}})
    else:
        if report is not None:
            print_verification(report)
        _print_outcome(outcome, plan)
    return exit_code(outcome.status, outcome.error) if outcome.done else EXIT_FAILED


def _adapter_only(args: argparse.Namespace, ws: Any) -> int:
    result = export_adapter(ws, args.adapter, args.out, args.zip)
    if args.json:
        print_json(result)
        return 0
    print(f"Adapter {result['adapter']} exported to {result['out']} ({human_bytes(result['size_bytes'])}): "
          f"{', '.join(result['files'])}")
    for note in result["notes"]:
        print(f"  note: {note}")
    return 0


def _print_plan(plan: ExportPlan) -> None:
    size = f", about {human_bytes(plan.estimated_bytes)}" if plan.estimated_bytes else ""
    print(f"Exporting adapter {plan.adapter.name} merged into {plan.base.source}\n"
          f"  to {plan.out} as {plan.dtype}{size}, safetensors shards of up to {decimal_size(plan.shard_size)}; "
          + ("verifying against base + adapter" if plan.verify else "NOT verified (--no-verify)"), file=sys.stderr)
    for warning in plan.warnings:
        print(f"  note: {warning}", file=sys.stderr)


def print_verification(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    passed = report.get("passed")
    table = Table(title=f"Verification: merged model vs. base + adapter ({report['dtype']}, prompts from "
                        f"{report.get('prompt_source', '?')})", title_justify="left")
    table.add_column("prompt", no_wrap=True, max_width=28, overflow="ellipsis")
    for column in ("base+adapter", "merged"):
        table.add_column(column, no_wrap=True, min_width=8, max_width=16, overflow="ellipsis")
    table.add_column("max diff", no_wrap=True, justify="right")
    table.add_column("same", no_wrap=True, min_width=4)
    for row in report.get("rows", []):
        same = "[green]yes" if row["greedy_agree"] else ("[yellow]near-tie" if (row.get("margin") is not None and
                                                         row["margin"] <= 2 * report["tolerance"]) else "[red]NO")
        table.add_row(row["prompt"][:50], row["reference_answer"][:30], row["merged_answer"][:30],
                      f"{row['max_abs_diff']:.3g}", same)
    console.print(table)
    colour = "green" if passed else "red"
    console.print(f"[{colour}]max |logit difference| {report['max_abs_diff']:.3g}, tolerance {report['tolerance']:.3g} "
                  f"({report['relative_tolerance']:g} x logit scale {report['logit_scale']:.3g}); greedy answers "
                  f"agree on {report['greedy_agree']}/{report['prompts']}; the adapter itself moves logits by "
                  f"{report['adapter_effect']:.3g}")
    trained = report.get("as_trained")
    if trained:
        console.print(f"as trained ({trained['quant']} base + adapter): same answer on {trained['same_answer']}/"
                      f"{trained['prompts']} prompts, max logit difference {trained['max_abs_diff']:.3g} on the prompt "
                      f"tokens; that gap is the {trained['quant']} quantization the adapter was trained on, "
                      "not the merge")
    if report.get("inconclusive"):
        console.print("[yellow]note: on these prompts the adapter changes logits by less than the tolerance, "
                      "so this check cannot tell the merged model from the base model")


def _print_outcome(outcome: Any, plan: ExportPlan) -> None:
    done, out = outcome.done, sys.stderr
    if outcome.status == "completed":
        verdict = "verified" if plan.verify else "not verified"
        private = done.get("peak_private_bytes")
        memory = (f"peak private memory {human_bytes(private)} (RSS {human_bytes(done.get('peak_rss_bytes'))})"
                  if private else f"peak RSS {human_bytes(done.get('peak_rss_bytes'))}")
        out.write(f"Exported ({verdict}): {done.get('out')}\n  {', '.join(done.get('files', []))}\n"
                  f"  {memory} for {human_bytes(done.get('model_bytes'))} of weights; {done.get('seconds')} s\n")
    elif outcome.status == "cancelled":
        out.write("Export cancelled; nothing was written.\n")
    else:
        err = outcome.error or {}
        out.write(f"error: {err.get('message', 'the export failed')}\n")
        if err.get("hint"):
            out.write(f"  fix: {err['hint']}\n")


def _strip(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("v", "type", "t")}

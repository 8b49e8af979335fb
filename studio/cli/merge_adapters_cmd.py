"""`studio merge-adapters A:0.5 B:0.5 --name C`: a weighted combination of adapters, as a new adapter.

The result is a standard PEFT folder in the library (listed by `studio adapters list`, usable in
the A/B chat and by `studio export`), with studio.json naming its parents and their weights.
Checks come first (core.combine_plan): exit 2 and nothing written on bad input.
"""

from __future__ import annotations

import argparse
import sys

from studio.cli.common import EXIT_FAILED, common_options, exit_code, print_json, workspace
from studio.cli.worker_display import follow_worker
from studio.core.combine_plan import COMBINATIONS, plan_combination


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "merge-adapters", parents=[common_options()], help="combine adapters of one base by weight into a new adapter",
        description="Combine LoRA adapters that share a base model into a new adapter (peft add_weighted_adapter). "
                    "cat (default) is exact: the new update is the weighted sum of the parents' updates.")
    parser.add_argument("adapters", nargs="+", metavar="NAME:WEIGHT",
                        help="adapters (library names or folders) and their weights, e.g. a:0.5 b:0.5; "
                             "negative weights subtract")
    parser.add_argument("--name", required=True, help="name of the new adapter (a name in use gets -v2, -v3, ...)")
    parser.add_argument("--combination", default="cat", choices=COMBINATIONS,
                        help="cat: exact, rank = sum of ranks; svd: the exact sum truncated to --svd-rank; "
                             "linear/ties/dare_*/magnitude_prune: peft's approximations (same ranks only)")
    parser.add_argument("--density", type=float, help="share of each update kept by ties, dare_* and magnitude_prune")
    parser.add_argument("--svd-rank", type=int, help="rank of an svd combination (default: the largest parent rank)")
    parser.add_argument("--base", metavar="DIR|ID", default="",
                        help="the base model, when it is not where the adapters' lineage says")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run Python code shipped with the base model (only for models you trust)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    plan = plan_combination(ws, args.adapters, args.name, combination=args.combination, density=args.density,
                            svd_rank=args.svd_rank, base=args.base, trust_remote_code=args.trust_remote_code)
    if not args.json:
        print(f"Combining {', '.join(f'{info.name} x {w:g}' for info, w in plan.parents)} ({plan.combination}) "
              f"into {plan.out.name}", file=sys.stderr)
        for warning in plan.warnings:
            print(f"  note: {warning}", file=sys.stderr)
    outcome = follow_worker(plan.worker_args(), quiet=args.json)
    done = outcome.done
    if args.json:
        print_json({"status": outcome.status, "adapter": done.get("adapter"), "adapter_name": done.get("adapter_name"),
                    "rank": done.get("rank"), "relative_error": done.get("relative_error"),
                    "parents": [{"name": info.name, "weight": w} for info, w in plan.parents],
                    "error": outcome.error and {k: outcome.error.get(k) for k in ("kind", "message", "hint")}})
    elif outcome.status == "completed":
        print(f"Adapter saved: {done['adapter_name']} ({done['adapter']}), rank {done['rank']}; its update differs "
              f"from the exact weighted sum by {done['relative_error']:.2g} (relative, worst layer)", file=sys.stderr)
    else:
        err = outcome.error or {}
        print(f"error: {err.get('message', 'the combination failed')}", file=sys.stderr)
        if err.get("hint"):
            print(f"  fix: {err['hint']}", file=sys.stderr)
    return exit_code(outcome.status, outcome.error) if done else EXIT_FAILED

"""`studio doctor`: check what the app and training need on this machine, with the fix for each."""

from __future__ import annotations

import argparse

from studio.cli.common import EXIT_FAILED, EXIT_OK, common_options, print_json, workspace
from studio.core.doctor import FAIL, WARN, run_checks

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("doctor", parents=[common_options()],
                            help="check Python packages, the GPU, the display and Qt's libraries, disk space")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    checks = run_checks(workspace(args))
    failed = [c for c in checks if c.status == FAIL]
    if args.json:
        print_json({"status": "failed" if failed else "ok", "checks": [c.to_dict() for c in checks]})
        return EXIT_FAILED if failed else EXIT_OK
    area = ""
    for check in checks:
        if check.area != area:
            area = check.area
            print(f"{area}:")
        print(f"  {MARKS[check.status]}  {check.name:24s} {check.detail}")
        if check.fix and check.status in (WARN, FAIL):
            print(f"        fix: {check.fix}")
    warned = sum(c.status == WARN for c in checks)
    print(f"{len(failed)} problem(s), {warned} warning(s)" if failed or warned else "Everything LoRA Studio needs is here.")
    return EXIT_FAILED if failed else EXIT_OK

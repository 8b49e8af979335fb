"""The `studio` command. Each subcommand lives in its own module with `register` and `run`.

`studio` with no command opens the desktop app (`studio gui`). User errors (StudioError) print one
message with the fix and exit with 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from studio import __version__
from studio.cli import (adapters_cmd, bench_cmd, chat_cmd, compare_cmd, data_cmd, demo_cmd, desktop_cmd, doctor_cmd,
                        export_cmd, gui_cmd, inspect_cmd, launch_cmd, merge_adapters_cmd, queue_cmd, runs_cmd, train_cmd,
                        votes_cmd)
from studio.cli.common import EXIT_USER, print_error
from studio.core.errors import StudioError

COMMANDS: list[ModuleType] = [train_cmd, demo_cmd, data_cmd, adapters_cmd, runs_cmd, inspect_cmd, chat_cmd, compare_cmd,
                              votes_cmd, export_cmd, merge_adapters_cmd, bench_cmd, queue_cmd, launch_cmd, gui_cmd,
                              desktop_cmd, doctor_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio", description="LoRA Studio: fine-tune open LLMs with LoRA/QLoRA.",
        epilog="Run `studio COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"lora-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv or ["gui"])  # `studio` alone opens the app
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USER
    try:
        return int(args.run(args) or 0)
    except StudioError as exc:
        print_error(exc, json_mode=getattr(args, "json", False))
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

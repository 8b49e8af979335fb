"""The `studio` command. Each subcommand lives in its own module with `register` and `run`.

`studio` with no command opens the desktop app (`studio gui`). User errors (StudioError) print one
message with the fix and exit with 2, never a traceback.

Only the module of the command being run is imported (COMMAND_MODULES): importing all of them
(rich, yaml, the adapter checks, the bench) cost about 0.35 s before `studio runs list` read its
first file; `studio --help` and an unknown command still build the whole parser.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from studio import __version__
from studio.cli.common import EXIT_USER, print_error
from studio.core.errors import StudioError

# command name -> module in studio.cli, in the order `studio --help` lists them
COMMAND_MODULES: dict[str, str] = {
    "train": "train_cmd", "demo": "demo_cmd", "data": "data_cmd", "adapters": "adapters_cmd", "runs": "runs_cmd",
    "inspect": "inspect_cmd", "chat": "chat_cmd", "compare": "compare_cmd", "votes": "votes_cmd",
    "export": "export_cmd", "merge-adapters": "merge_adapters_cmd", "bench": "bench_cmd", "queue": "queue_cmd",
    "launch": "launch_cmd", "gui": "gui_cmd", "install-desktop": "desktop_cmd", "doctor": "doctor_cmd",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `only` the one command's (what a run of that command needs)."""
    parser = argparse.ArgumentParser(
        prog="studio", description="LoRA Studio: fine-tune open LLMs with LoRA/QLoRA.",
        epilog="Run `studio COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"lora-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMAND_MODULES.items():
        if only is None or name == only:
            import_module(f"studio.cli.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    argv = argv or ["gui"]  # `studio` alone opens the app
    parser = build_parser(argv[0] if argv[0] in COMMAND_MODULES else None)
    args = parser.parse_args(argv)
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

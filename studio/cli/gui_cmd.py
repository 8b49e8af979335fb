"""`studio gui` (and `studio` alone): open the desktop app; `--screenshot DIR` renders every page
offscreen to PNG files (light and dark) and exits."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from studio.cli.common import common_options, print_json
from studio.core.errors import StudioError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("gui", parents=[common_options()], help="open the desktop app (also: `studio` alone)")
    parser.add_argument("--screenshot", type=Path, metavar="DIR",
                        help="render every page offscreen to DIR/<page>-<theme>.png (with the demo loaded and a "
                             "finished demo run, trained first if there is none) and exit")
    parser.add_argument("--size", default="1440x900", metavar="WxH",
                        help="with --screenshot: the window size to render at, e.g. 1024x700 (default 1440x900)")
    parser.add_argument("--exit-when-shown", action="store_true",
                        help="quit as soon as the window is shown and print how long that took (for benchmarks)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from studio.gui.screenshots import take_screenshots

        written = take_screenshots(args.screenshot, home=args.home, size=parse_size(args.size))
        if args.json:
            print_json({"status": "ok", "files": [str(p) for p in written]})
        else:
            print("\n".join(str(p) for p in written))
        return 0
    check_display()
    from studio.gui.app import run_app

    return run_app(args.home, exit_when_shown=args.exit_when_shown)


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and 640 <= int(width) <= 7680 and 480 <= int(height) <= 4320):
        raise StudioError(f"--size {text!r} is not a window size", hint="write WIDTHxHEIGHT, e.g. 1024x700 or 1920x1080")
    return int(width), int(height)


def check_display() -> None:
    """Qt aborts the process when it cannot reach a display; say so in words instead."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise StudioError("there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set)",
                          hint="run `studio` in a desktop session (or over ssh -X), use the commands "
                               "(`studio --help`), or render the pages with `studio gui --screenshot DIR`")
    from studio.core.display_check import check_platform_libraries

    problem = check_platform_libraries()
    if problem is not None:
        raise StudioError(problem.message, hint=problem.hint + "; meanwhile every action is also a `studio` command")

"""`studio gui` (and `studio` alone): open the desktop app; `--screenshot DIR` renders every page
offscreen to PNG files (light and dark) and exits, at a window size (`--size`) and a display
scaling (`--scale 2` is a 200% HiDPI screen: the same layout, twice the pixels)."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import tempfile
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
    parser.add_argument("--scale", type=float, default=1.0, metavar="FACTOR",
                        help="with --screenshot: the display scaling, e.g. 2 for 200%% (PNGs of WxH times FACTOR "
                             "pixels; default 1)")
    parser.add_argument("--exit-when-shown", action="store_true",
                        help="quit as soon as the window is shown and print how long that took (for benchmarks)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.screenshot:
        size, scale = parse_size(args.size), parse_scale(args.scale)
        use_screen(size, scale)
        from studio.gui.screenshots import take_screenshots

        written = take_screenshots(args.screenshot, home=args.home, size=size)
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


def parse_scale(value: float) -> float:
    if not 1 <= value <= 4:
        raise StudioError(f"--scale {value:g} is not a display scaling",
                          hint="write a factor from 1 to 4, e.g. 1.5 for 150% or 2 for 200%")
    return value


def use_screen(size: tuple[int, int], scale: float) -> None:
    """Before Qt starts: render offscreen on a screen of the window's size at `scale` (a HiDPI
    screen as Linux reports one: physical pixels and a logical DPI of 96 x scale, which Qt turns
    into a device pixel ratio). Another platform set by the user gets QT_SCALE_FACTOR instead."""
    os.environ.update(scaled_screen_env(size, scale, os.environ.get("QT_QPA_PLATFORM", "offscreen")))


def scaled_screen_env(size: tuple[int, int], scale: float, platform: str = "offscreen") -> dict[str, str]:
    """The environment for a Qt process whose screen is `size` logical pixels at `scale`."""
    if platform != "offscreen":
        return {"QT_SCALE_FACTOR": f"{scale:g}"} if scale != 1 else {}
    screen = {"name": "studio-screenshot", "x": 0, "y": 0, "width": round(size[0] * scale),
              "height": round(size[1] * scale), "logicalDpi": 96 * scale, "logicalBaseDpi": 96, "dpr": 1}
    fd, path = tempfile.mkstemp(prefix="studio-screen-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"screens": [screen]}, fh)
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return {"QT_QPA_PLATFORM": f"offscreen:configfile={path}"}


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

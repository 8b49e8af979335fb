"""What every subcommand shares: --home and --json, printing results and errors."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio.core.errors import StudioError
from studio.core.workspace import Workspace

EXIT_OK, EXIT_FAILED, EXIT_USER, EXIT_CANCELLED = 0, 1, 2, 130
USER_ERROR_KINDS = {"usage", "config", "data", "model", "workspace"}


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--home", metavar="DIR",
                        help="workspace folder (default: $STUDIO_HOME or the user data folder)")
    parent.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    return parent


def workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.open(getattr(args, "home", None))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def print_error(exc: StudioError, json_mode: bool = False) -> None:
    if json_mode:
        print_json({"status": "error", "error": exc.to_dict()})
        return
    where = f"{exc.where}: " if exc.where else ""
    lines = f"{where}{exc.message}".splitlines()
    sys.stderr.write(f"error: {lines[0]}\n" + "".join(f"  {line}\n" for line in lines[1:]))
    if exc.hint:
        sys.stderr.write(f"  fix: {exc.hint}\n")


def exit_code(status: str, error: dict[str, Any] | None) -> int:
    if status == "completed":
        return EXIT_OK
    if status == "cancelled":
        return EXIT_CANCELLED
    if error and error.get("kind") in USER_ERROR_KINDS:
        return EXIT_USER
    return EXIT_FAILED


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"

"""`studio install-desktop [--uninstall]`: add LoRA Studio to the Linux application menu (or
remove it). The files are listed in studio.core.desktop_entry."""

from __future__ import annotations

import argparse

from studio.cli.common import print_json
from studio.core import desktop_entry


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("install-desktop", help="add LoRA Studio to the Linux application menu",
                            description="Write a .desktop entry and the app icon under $XDG_DATA_HOME "
                                        "(default ~/.local/share) so LoRA Studio appears in the menu; "
                                        "it starts the `studio` of this install.")
    parser.add_argument("--uninstall", action="store_true", help="remove the entry and the icons again")
    parser.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.uninstall:
        removed = desktop_entry.uninstall()
        if args.json:
            print_json({"status": "ok", "removed": [str(p) for p in removed]})
        else:
            print("\n".join(f"removed {p}" for p in removed) or "LoRA Studio was not in the menu (nothing to remove)")
        return 0
    files = desktop_entry.install()
    if args.json:
        print_json({"status": "ok", "files": [str(p) for p in files.all()]})
    else:
        print("\n".join(f"wrote {p}" for p in files.all()))
        print("LoRA Studio is in the application menu (log out and in if it does not show yet); "
              "`studio install-desktop --uninstall` removes it.")
    return 0

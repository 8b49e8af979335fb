"""The `studio adapters` actions that change the library: rename, tag, untag, notes, rm (to the
trash), trash (list or empty it), restore, import. Registered by adapters_cmd."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.cli.common import common_options, human_bytes, print_json, workspace
from studio.core.adapter_import import import_adapter
from studio.core.library_ops import delete_adapter, empty_trash, list_trash, rename_adapter, restore_adapter, \
    set_notes, set_tags


def register(actions: argparse._SubParsersAction) -> None:
    rename = actions.add_parser("rename", parents=[common_options()], help="rename an adapter")
    rename.add_argument("name")
    rename.add_argument("new_name")
    rename.set_defaults(run=run_rename)
    for verb, helptext in (("tag", "add tags to an adapter"), ("untag", "remove tags from an adapter")):
        tag = actions.add_parser(verb, parents=[common_options()], help=helptext)
        tag.add_argument("name")
        tag.add_argument("tags", nargs="+", metavar="TAG")
        tag.set_defaults(run=run_tag, verb=verb)
    notes = actions.add_parser("notes", parents=[common_options()], help="set an adapter's notes ('' clears them)")
    notes.add_argument("name")
    notes.add_argument("text", help="the notes; '-' reads them from stdin")
    notes.set_defaults(run=run_notes)
    rm = actions.add_parser("rm", parents=[common_options()], help="move adapters to the trash (restorable)")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(run=run_rm)
    trash = actions.add_parser("trash", parents=[common_options()], help="list the trash, or empty it")
    trash.add_argument("--empty", action="store_true", help="delete everything in the trash for good")
    trash.add_argument("entries", nargs="*", metavar="ENTRY", help="with --empty: only these entries or names")
    trash.set_defaults(run=run_trash)
    restore = actions.add_parser("restore", parents=[common_options()], help="bring an adapter back from the trash")
    restore.add_argument("ref", metavar="NAME_OR_ENTRY", help="an adapter name (its newest trash entry) or entry id")
    restore.add_argument("--as", dest="as_name", default="", metavar="NAME", help="restore under another name")
    restore.set_defaults(run=run_restore)
    imp = actions.add_parser("import", parents=[common_options()], help="copy a PEFT adapter folder (or .zip) "
                             "into the library, checking its base model")
    imp.add_argument("source", type=Path, metavar="PATH", help="adapter folder (adapter_config.json + weights) or .zip")
    imp.add_argument("--name", default="", help="name in the library (default: the folder's name)")
    imp.add_argument("--base", default="", metavar="MODEL", help="the base model to check it against (a folder or "
                     "hub id); default: the one its adapter_config.json names")
    imp.add_argument("--tag", action="append", default=[], help="tag to add (repeatable)")
    imp.add_argument("--notes", default="")
    imp.add_argument("--allow-pickle", action="store_true", help="accept weights stored as pickle "
                     "(adapter_model.bin) for this import; they are converted to safetensors without running code")
    imp.set_defaults(run=run_import)


def _done(args: argparse.Namespace, payload: dict, text: str) -> int:
    if args.json:
        print_json({"status": "ok", **payload})
    else:
        print(text)
    return 0


def run_rename(args: argparse.Namespace) -> int:
    info = rename_adapter(workspace(args), args.name, args.new_name)
    return _done(args, {"adapter": info.to_dict()}, f"Renamed {args.name} to {info.name}.")


def run_tag(args: argparse.Namespace) -> int:
    ws = workspace(args)
    info = set_tags(ws, args.name, add=args.tags) if args.verb == "tag" else set_tags(ws, args.name, remove=args.tags)
    return _done(args, {"adapter": info.to_dict()}, f"{info.name}: tags {', '.join(info.tags) or '(none)'}")


def run_notes(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    info = set_notes(workspace(args), args.name, text)
    return _done(args, {"adapter": info.to_dict()}, f"{info.name}: notes saved.")


def run_rm(args: argparse.Namespace) -> int:
    ws = workspace(args)
    entries = [delete_adapter(ws, name) for name in args.names]
    return _done(args, {"trashed": [e.to_dict() for e in entries]},
                 "\n".join(f"Moved {e.name} to the trash ({e.entry}); `studio adapters restore {e.name}` brings it back."
                           for e in entries))


def run_trash(args: argparse.Namespace) -> int:
    ws = workspace(args)
    if args.empty:
        gone = empty_trash(ws, args.entries or None)
        return _done(args, {"deleted": [e.to_dict() for e in gone]},
                     f"Deleted {len(gone)} adapter(s) from the trash for good.")
    entries = list_trash(ws)
    if args.json:
        print_json({"status": "ok", "trash_dir": str(ws.trash_dir), "entries": [e.to_dict() for e in entries]})
        return 0
    if not entries:
        print("The trash is empty.")
    for e in entries:
        print(f"{e.entry:56s} {e.name:32s} deleted {e.deleted[:16].replace('T', ' ')}  {human_bytes(e.size_bytes)}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    info = restore_adapter(workspace(args), args.ref, args.as_name)
    return _done(args, {"adapter": info.to_dict()}, f"Restored {info.name} ({info.path}).")


def run_import(args: argparse.Namespace) -> int:
    from studio.core.worker_process import run_to_done

    def convert(folder: Path) -> None:
        run_to_done(["convert-adapter", "--folder", str(folder)])

    result = import_adapter(workspace(args), args.source, args.name, allow_pickle=args.allow_pickle,
                            converter=convert, base=args.base, tags=args.tag, notes=args.notes)
    base = result.base
    if args.json:
        print_json({"status": "ok", "adapter": result.to_dict()})
        return 0
    print(f"Imported {result.source} as {result.name} ({result.path})")
    if result.converted_pickle:
        print("  converted the pickle weights to adapter_model.safetensors (no code was run)")
    for skipped in result.skipped:
        print(f"  left out {skipped}")
    mark = "base model OK" if base.ok else "WARNING"
    print(f"  {mark}: {base.message}")
    for problem in base.problems[1:]:
        print(f"    {problem}")
    if not base.ok:
        print("  fix: pass --base MODEL to check it against the right base model, or chat with it using "
              "`studio chat --model MODEL`")
    return 0

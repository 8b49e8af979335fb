"""Changing the adapter library: rename, tags, notes, delete to the trash, restore, empty the trash.

Every change is one atomic step on disk (a rename, or a studio.json rewritten through a temporary
sibling), taken under the library lock so that two windows or a training run finishing at the
same moment cannot pick the same name. Nothing is ever deleted outright except by emptying the
trash, which is an explicit request.

    <home>/trash/<entry>/trash.json    original name, when and why it was deleted
    <home>/trash/<entry>/adapter/      the adapter folder, exactly as it was

The entry's trash.json is written before the folder moves in, so a crash in between leaves an
entry without a folder (ignored and cleaned up), never a folder without its record.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from studio.core.atomic import TMP_PREFIX, atomic_write_json
from studio.core.errors import WorkspaceError
from studio.core.library import STUDIO_JSON, AdapterInfo, find_adapter, read_adapter
from studio.core.workspace import Workspace, check_name

TRASH_RECORD = "trash.json"
TRASH_FOLDER = "adapter"
LOCK_NAME = ".library.lock"
MAX_TAG_LEN = 40


@contextmanager
def library_lock(ws: Workspace) -> Iterator[None]:
    ws.home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ws.home / LOCK_NAME), timeout=30):
        yield


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def read_studio_json(folder: Path) -> dict[str, Any]:
    """studio.json as a dict ({} when absent); a damaged one is an error, never overwritten."""
    path = folder / STUDIO_JSON
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({exc}), so it is left untouched",
                             hint="repair the file by hand, or delete it to start the adapter's record afresh") from None
    if not isinstance(data, dict):
        raise WorkspaceError(f"{path} does not hold a JSON object", hint="repair or delete the file")
    return data


def update_studio_json(folder: Path, **changes: Any) -> dict[str, Any]:
    data = read_studio_json(folder)
    data.setdefault("name", folder.name)
    data.update(changes)
    atomic_write_json(folder / STUDIO_JSON, data)
    return data


def rename_adapter(ws: Workspace, old: str, new: str) -> AdapterInfo:
    check_name(new, "new adapter name")
    with library_lock(ws):
        info = find_adapter(ws.adapters_dir, old)
        target = ws.adapter_dir(new)
        if new.casefold() in ws.adapter_names_folded() and new.casefold() != old.casefold():
            raise WorkspaceError(f"an adapter called {new!r} already exists",
                                 hint="pick another name, or delete that adapter first")
        os.rename(info.path, target)
        if (target / STUDIO_JSON).is_file() and not info.broken:
            update_studio_json(target, name=new)
    from studio.core.votes import rename_in_votes

    rename_in_votes(ws, old, new)
    return read_adapter(target)


def check_tag(tag: str) -> str:
    tag = tag.strip()
    if not tag or len(tag) > MAX_TAG_LEN or any(c in tag for c in ",\n\r\t"):
        raise WorkspaceError(f"tag {tag!r} is not allowed",
                             hint=f"use 1-{MAX_TAG_LEN} characters without commas or line breaks")
    return tag


def set_tags(ws: Workspace, name: str, add: list[str] | None = None, remove: list[str] | None = None) -> AdapterInfo:
    """Add and remove tags (case-insensitive match for removal; order of first use is kept)."""
    add = [check_tag(t) for t in add or []]
    gone = {t.strip().casefold() for t in remove or []}
    with library_lock(ws):
        info = find_adapter(ws.adapters_dir, name)
        tags = [t for t in read_studio_json(info.path).get("tags", []) if isinstance(t, str)]
        tags = [t for t in tags if t.casefold() not in gone]
        for tag in add:
            if tag.casefold() not in {t.casefold() for t in tags}:
                tags.append(tag)
        update_studio_json(info.path, tags=tags)
    return read_adapter(info.path)


def set_notes(ws: Workspace, name: str, notes: str) -> AdapterInfo:
    with library_lock(ws):
        info = find_adapter(ws.adapters_dir, name)
        update_studio_json(info.path, notes=notes)
    return read_adapter(info.path)


@dataclass
class TrashEntry:
    entry: str                 # folder name under trash/
    name: str                  # the adapter's name when it was deleted
    deleted: str
    path: Path                 # the trashed adapter folder
    size_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "name": self.name, "deleted": self.deleted, "path": str(self.path),
                "size_bytes": self.size_bytes}


def delete_adapter(ws: Workspace, name: str) -> TrashEntry:
    """Move the adapter to the trash (restorable with `restore_adapter`)."""
    with library_lock(ws):
        info = find_adapter(ws.adapters_dir, name)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        entry = f"{name}-{stamp}-{uuid.uuid4().hex[:4]}"
        folder = ws.trash_dir / entry
        folder.mkdir(parents=True)
        deleted = now_iso()
        atomic_write_json(folder / TRASH_RECORD, {"name": name, "deleted": deleted, "from": str(info.path)})
        os.rename(info.path, folder / TRASH_FOLDER)
    return TrashEntry(entry, name, deleted, folder / TRASH_FOLDER, info.size_bytes)


def list_trash(ws: Workspace) -> list[TrashEntry]:
    """Trashed adapters, newest first. Entries whose folder never arrived (a crash mid-delete) are
    skipped; they hold nothing but their record."""
    if not ws.trash_dir.is_dir():
        return []
    entries = []
    for folder in ws.trash_dir.iterdir():
        adapter = folder / TRASH_FOLDER
        if folder.name.startswith(TMP_PREFIX) or not adapter.is_dir():
            continue
        try:
            record = json.loads((folder / TRASH_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = {}
        size = sum(p.stat().st_size for p in adapter.rglob("*") if p.is_file())
        entries.append(TrashEntry(folder.name, str(record.get("name") or folder.name),
                                  str(record.get("deleted") or ""), adapter, size))
    return sorted(entries, key=lambda e: e.deleted, reverse=True)


def find_trash_entry(ws: Workspace, ref: str) -> TrashEntry:
    """A trash entry by its entry id, or the newest one of an adapter name."""
    entries = list_trash(ws)
    match = [e for e in entries if e.entry == ref] or [e for e in entries if e.name == ref]
    if not match:
        raise WorkspaceError(f"nothing called {ref!r} in the trash ({ws.trash_dir})",
                             hint="see `studio adapters trash` for what can be restored")
    return match[0]


def restore_adapter(ws: Workspace, ref: str, as_name: str = "") -> AdapterInfo:
    """Back into the library under its old name, or the next free version (name-v2) if that is
    taken, or `as_name`."""
    with library_lock(ws):
        entry = find_trash_entry(ws, ref)
        if as_name:
            check_name(as_name, "adapter name")
            if ws.adapter_dir(as_name).exists():
                raise WorkspaceError(f"an adapter called {as_name!r} already exists", hint="pick another name")
            name = as_name
        else:
            name = ws.free_adapter_name(check_name(entry.name, "adapter name"))
        target = ws.adapter_dir(name)
        os.rename(entry.path, target)
        if name != entry.name and (target / STUDIO_JSON).is_file():
            try:
                update_studio_json(target, name=name)
            except WorkspaceError:
                pass  # a damaged studio.json stays as it was; the folder name is the truth
        shutil.rmtree(ws.trash_dir / entry.entry, ignore_errors=True)
    return read_adapter(target)


def empty_trash(ws: Workspace, refs: list[str] | None = None) -> list[TrashEntry]:
    """Delete trashed adapters for good: all of them, or those named in `refs`."""
    with library_lock(ws):
        entries = [find_trash_entry(ws, r) for r in refs] if refs else list_trash(ws)
        for entry in entries:
            shutil.rmtree(ws.trash_dir / entry.entry)
        if ws.trash_dir.is_dir():  # records left by an interrupted delete
            for folder in ws.trash_dir.iterdir():
                if folder.is_dir() and not (folder / TRASH_FOLDER).exists() and not refs:
                    shutil.rmtree(folder, ignore_errors=True)
    return entries

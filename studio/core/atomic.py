"""Atomic writes: a crash never leaves a half-written file or folder where a good one is expected.

Everything is written to a temporary sibling (same folder, so the same filesystem) and renamed
into place; readers see the old version or the new one, never a mix. Temporary siblings start
with `.tmp-` so that start-up clean-up and the library can recognise leftovers.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"
OWNER_FILE = ".studio-owner"


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(final: Path, *, replace: bool = False, owner: str = "",
               landed: list[Path] | None = None) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it is renamed to `final`.

    With replace=False an existing `final` is an error (nothing is ever silently overwritten);
    with replace=True the old folder is swapped out only after the new one is complete.
    `owner` (e.g. a run id) is written into the temporary folder while it exists, so that the
    owner, started again after a crash, can remove its own leftover (`remove_own_leftovers`)
    without waiting for the age-based clean-up or touching another process's write.
    `landed`: when given, a `final` taken by another process in the meantime is not an error:
    the folder lands at the next free version (name-v2, ...), and `landed` gets the path used.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        if owner:
            (tmp / OWNER_FILE).write_text(owner, encoding="utf-8")
        yield tmp
        if owner:
            (tmp / OWNER_FILE).unlink(missing_ok=True)
        _fsync_tree(tmp)
        if final.exists() and landed is not None and not replace:
            final = next_version(final)
        if final.exists():
            if not replace:
                raise FileExistsError(f"{final} already exists")
            old = final.parent / f"{TMP_PREFIX}old-{final.name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            for _ in range(1000):
                try:
                    os.rename(tmp, final)
                    break
                except OSError as exc:  # another process created `final` since the check above
                    if not (exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or final.exists()):
                        raise
                    if landed is None:
                        raise FileExistsError(f"{final} already exists") from None
                    final = next_version(final)
        if landed is not None:
            landed.append(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def next_version(path: Path) -> Path:
    """The first of name-v2, name-v3, ... that does not exist beside `path`."""
    stem = re.sub(r"-v\d+$", "", path.name)
    n = 2
    while (path.parent / f"{stem}-v{n}").exists():
        n += 1
    return path.parent / f"{stem}-v{n}"


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with contextlib.suppress(OSError), open(path, "rb") as fh:
                os.fsync(fh.fileno())


def clean_leftovers(folder: Path, max_age_s: float = 3600.0) -> list[Path]:
    """Remove `.tmp-*` entries that nothing has written to for `max_age_s` (a crash's leftovers).

    Age is the newest modification time of anything inside, so a large export still being
    written by another studio instance is left alone.
    """
    import time

    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in folder.iterdir():
        if not entry.name.startswith(TMP_PREFIX):
            continue
        try:
            newest = max([entry.stat().st_mtime] + [p.stat().st_mtime for p in entry.rglob("*")])
        except OSError:
            continue
        if now - newest > max_age_s:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed.append(entry)
    return removed


def remove_own_leftovers(folder: Path, owner: str) -> list[Path]:
    """Remove the `.tmp-*` folders in `folder` that `owner` left behind when it was killed.
    Only call while `owner` cannot be writing (e.g. holding the run's lock)."""
    removed: list[Path] = []
    if not owner or not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not entry.name.startswith(TMP_PREFIX) or not entry.is_dir():
            continue
        try:
            mine = (entry / OWNER_FILE).read_text(encoding="utf-8") == owner
        except (OSError, UnicodeDecodeError):
            mine = False
        if mine:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed

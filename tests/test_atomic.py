"""Atomic writes: readers see the old version or the new one, never half of one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from studio.core.atomic import TMP_PREFIX, atomic_dir, atomic_write_json, atomic_write_text, clean_leftovers
from studio.core.library import list_adapters
from studio.core.workspace import Workspace


def test_failed_folder_write_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "adapter"
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "adapter_model.safetensors").write_bytes(b"half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_never_replaced_unless_asked(tmp_path: Path) -> None:
    final = tmp_path / "adapter"
    final.mkdir()
    (final / "keep").write_text("old")
    with pytest.raises(FileExistsError):
        with atomic_dir(final) as tmp:
            (tmp / "new").write_text("new")
    assert [p.name for p in final.iterdir()] == ["keep"]
    with atomic_dir(final, replace=True) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]


def test_text_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "studio.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_text(path, "second\n")
    assert path.read_text() == "second\n" and [p.name for p in tmp_path.iterdir()] == ["studio.json"]


def test_leftovers_are_shown_broken_then_cleaned_when_stale(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    stale = ws.adapters_dir / f"{TMP_PREFIX}demo-1234"
    fresh = ws.adapters_dir / f"{TMP_PREFIX}busy-5678"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "adapter_model.safetensors").write_bytes(b"partial")
    assert {a.name: a.broken for a in list_adapters(ws.adapters_dir)} == {
        stale.name: "left over from an interrupted write", fresh.name: "left over from an interrupted write"}
    old = time.time() - 7200
    os.utime(stale / "adapter_model.safetensors", (old, old))
    os.utime(stale, (old, old))
    assert clean_leftovers(ws.adapters_dir) == [stale]
    Workspace.open(tmp_path)  # start-up runs the same clean-up
    assert [p.name for p in ws.adapters_dir.iterdir()] == [fresh.name]


def test_a_name_taken_meanwhile_lands_at_the_next_version(tmp_path: Path) -> None:
    final = tmp_path / "export"
    landed: list[Path] = []
    with atomic_dir(final, landed=landed) as tmp:
        (tmp / "mine").write_text("second")
        final.mkdir()                      # another process finished first
        (final / "theirs").write_text("first")
    assert landed == [tmp_path / "export-v2"]
    assert [p.name for p in final.iterdir()] == ["theirs"]
    assert [p.name for p in landed[0].iterdir()] == ["mine"]


def test_an_owner_removes_only_its_own_leftovers(tmp_path: Path) -> None:
    from studio.core.atomic import OWNER_FILE, remove_own_leftovers

    with atomic_dir(tmp_path / "done", owner="run-a") as tmp:
        (tmp / "weights").write_text("whole")
    assert not (tmp_path / "done" / OWNER_FILE).exists()      # the mark never reaches the result
    leftovers = {"run-a": tmp_path / f"{TMP_PREFIX}x-1", "run-b": tmp_path / f"{TMP_PREFIX}y-1"}
    for owner, path in leftovers.items():
        path.mkdir()
        (path / OWNER_FILE).write_text(owner)
    (tmp_path / f"{TMP_PREFIX}z-1").mkdir()                   # no owner: left to the age-based clean-up
    assert remove_own_leftovers(tmp_path, "run-a") == [leftovers["run-a"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{TMP_PREFIX}y-1", f"{TMP_PREFIX}z-1", "done"]

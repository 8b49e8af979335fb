"""The user's workspace on disk: where runs, adapters and exports live.

    <home>/runs/<run-id>/      run.yaml, events.jsonl, worker.log, checkpoints/
    <home>/adapters/<name>/    a standard PEFT folder + studio.json
    <home>/exports/<name>/     merged models
    <home>/trash/              deleted adapters, restorable
    <home>/demo/               the demo's base model and data
    <home>/cache/tokenized/    tokenized datasets, reused by runs on the same data (safe to delete)
    <home>/bench/              `studio bench` reports and their runs

The home is `--home`, else $STUDIO_HOME, else the platform's user data folder. The folders are
the truth: any index is a cache rebuilt from them.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from studio.core.atomic import clean_leftovers
from studio.core.errors import WorkspaceError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Device names Windows refuses as file names, with any extension ("nul.v2" too): a workspace
# made on Linux or macOS must still open there.
WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
                             *(f"LPT{i}" for i in range(10))})


def default_home() -> Path:
    env = os.environ.get("STUDIO_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("lora-studio", appauthor=False))


def check_name(name: str, what: str = "name") -> str:
    """A user-given name becomes a folder name: it must not escape the workspace, and it must be
    a folder name on every system the workspace may be copied to."""
    if not NAME_RE.match(name) or name in (".", "..") or ".." in name:
        raise WorkspaceError(
            f"{what} {name!r} is not allowed",
            hint="use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit "
                 "(no '/', '..' or spaces)")
    if name.split(".", 1)[0].upper() in WINDOWS_DEVICES:
        raise WorkspaceError(f"{what} {name!r} is not allowed: {name.split('.', 1)[0]} is a device name on "
                             "Windows, which cannot hold a file or folder of that name",
                             hint=f"add to it, e.g. {name.split('.', 1)[0]}-1")
    if name.endswith("."):
        raise WorkspaceError(f"{what} {name!r} is not allowed: Windows drops a trailing '.', so it would "
                             "become another name there", hint=f"use {name.rstrip('.')!r}")
    return name


def is_portable_name(name: str) -> bool:
    try:
        check_name(name)
    except WorkspaceError:
        return False
    return True


def slug(text: str, max_len: int = 40) -> str:
    """A name-safe version of free text (a model id, a file stem)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    text = text[:max_len].rstrip("-._") or "run"
    return text if is_portable_name(text) else f"{text[:max_len - 2]}-1"


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def open(cls, home: str | Path | None = None) -> "Workspace":
        ws = cls(Path(home).expanduser().resolve() if home else default_home().resolve())
        try:
            for sub in (ws.runs_dir, ws.adapters_dir, ws.exports_dir):
                sub.mkdir(parents=True, exist_ok=True)
                clean_leftovers(sub)
        except OSError as exc:
            raise WorkspaceError(f"cannot create the workspace at {ws.home}: {exc.strerror}",
                                 hint="pass --home DIR or set STUDIO_HOME to a writable folder") from None
        return ws

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def trash_dir(self) -> Path:
        return self.home / "trash"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    @property
    def tokenized_cache_dir(self) -> Path:
        return self.home / "cache" / "tokenized"

    @property
    def bench_dir(self) -> Path:
        return self.home / "bench"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / check_name(run_id, "run id")

    def adapter_dir(self, name: str) -> Path:
        return self.adapters_dir / check_name(name, "adapter name")

    def new_run_dir(self, label: str) -> Path:
        """Create a time-ordered, unique run folder: runs/20261123-081500-<label>[-2].

        mkdir is the reservation, so two studio instances starting runs at the same second
        cannot share a folder."""
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(label, 48)}"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            path = self.runs_dir / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
        raise WorkspaceError(f"cannot create a run folder in {self.runs_dir}")

    def free_adapter_name(self, name: str) -> str:
        """`name` if unused, else the next free version name-v2, name-v3, ..."""
        check_name(name, "adapter name")
        taken = self.adapter_names_folded()
        if name.casefold() not in taken:
            return name
        stem = re.sub(r"-v\d+$", "", name)
        n = 2
        while f"{stem}-v{n}".casefold() in taken:
            n += 1
        return f"{stem}-v{n}"

    def adapter_names_folded(self) -> set[str]:
        """The library's names, case-folded: on Windows and macOS `Foo` and `foo` are one folder,
        so a name differing only in case counts as taken everywhere."""
        try:
            return {p.name.casefold() for p in self.adapters_dir.iterdir()}
        except OSError:
            return set()

    def resolve_run(self, ref: str) -> Path:
        """A run id, a unique prefix of one, 'last', or a path to a run folder."""
        path = Path(ref).expanduser()
        if path.is_dir() and (path / "run.yaml").is_file():
            return path.resolve()
        runs = sorted(p.name for p in self.runs_dir.iterdir() if (p / "run.yaml").is_file()) \
            if self.runs_dir.is_dir() else []
        if ref == "last" and runs:
            return self.runs_dir / runs[-1]
        matches = [r for r in runs if r == ref] or [r for r in runs if r.startswith(ref)]
        if len(matches) == 1:
            return self.runs_dir / matches[0]
        if not matches:
            raise WorkspaceError(f"no run {ref!r} in {self.runs_dir}",
                                 hint="see `studio runs list` for the run ids, or pass a run folder")
        raise WorkspaceError(f"run {ref!r} is ambiguous: {', '.join(matches[:5])}",
                             hint="give more of the run id")

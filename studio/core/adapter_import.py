"""Importing an existing PEFT adapter (a folder, or a .zip of one) into the library.

The adapter is copied, never moved, into a temporary sibling of its library folder and renamed
into place when complete (core.atomic), so a failed import leaves nothing behind. The copy holds
the PEFT files and tokenizer files; training state from a checkpoint folder (optimizer.pt,
rng_state.pth, ...) and links are left out, because they are pickles or may point anywhere.

Weights saved as pickle (adapter_model.bin) can run code when loaded, so they are refused unless
the user opts in for this one import; even then they are never unpickled here: the `converter`
(a worker process using torch.load(weights_only=True), which refuses code) turns them into
safetensors, so the library only ever holds safetensors.

Zip members are checked before anything is written: no absolute paths, no '..', no links, and a
cap on the unpacked size, so an archive cannot write outside its folder or fill the disk.
"""

from __future__ import annotations

import json
import shutil
import stat
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import studio
from studio.core.adapter_compat import BaseCheck, check_base
from studio.core.atomic import TMP_PREFIX, atomic_dir
from studio.core.errors import ModelError, WorkspaceError
from studio.core.library import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PICKLE_WEIGHTS, STUDIO_JSON, folder_chat_template, \
    model_fingerprint
from studio.core.library_ops import library_lock, now_iso
from studio.core.workspace import Workspace, check_name, slug

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
MAX_UNPACKED_BYTES = 64 * 1024**3
CHUNK = 1024 * 1024

Converter = Callable[[Path], None]


class PickleRefused(ModelError):
    """The adapter's weights are only a pickle and the user has not opted in: the app offers the
    opt-in (convert and import) when it sees this one."""


@dataclass
class ImportResult:
    name: str
    path: Path
    source: str
    base: BaseCheck
    converted_pickle: bool = False
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "source": self.source, "base": self.base.to_dict(),
                "converted_pickle": self.converted_pickle, "skipped": self.skipped}


def import_adapter(ws: Workspace, source: Path, name: str = "", *, allow_pickle: bool = False,
                   converter: Converter | None = None, base: str = "", tags: list[str] | None = None,
                   notes: str = "") -> ImportResult:
    """Copy the adapter at `source` into the library as `name` (or the next free version of it)."""
    source = Path(source).expanduser()
    if not source.exists():
        raise WorkspaceError(f"{source} does not exist", hint="pass an adapter folder or a .zip of one")
    staging: Path | None = None
    try:
        if source.is_file() and zipfile.is_zipfile(source):
            staging = ws.home / f"{TMP_PREFIX}import-{uuid.uuid4().hex[:8]}"
            safe_extract(source, staging)
            folder = locate_adapter(staging, shown_as=source)
        elif source.is_dir():
            folder = locate_adapter(source, shown_as=source)
        else:
            raise WorkspaceError(f"{source} is neither a folder nor a zip archive",
                                 hint="pass the adapter folder (with adapter_config.json) or a .zip of it")
        pickled = check_adapter_files(folder, allow_pickle)
        if pickled and converter is None:
            raise ModelError("pickle weights need converting, but no converter was given",
                             hint="import from the `studio` command or the app, which convert them")
        wanted = check_name(name or _default_name(source), "adapter name")
        with library_lock(ws):
            final = ws.adapter_dir(ws.free_adapter_name(wanted))
            with atomic_dir(final) as tmp:
                skipped = copy_adapter_files(folder, tmp, keep=pickled)
                if pickled:
                    assert converter is not None
                    converter(tmp)
                    if not (tmp / ADAPTER_WEIGHTS).is_file() or (tmp / pickled).exists():
                        raise ModelError(f"converting {pickled} to {ADAPTER_WEIGHTS} failed")
                check = check_base(tmp, ws, given=base)
                write_import_record(tmp, final.name, source, check, base, tags or [], notes)
        return ImportResult(final.name, final, str(source), check, bool(pickled), skipped)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _default_name(source: Path) -> str:
    stem = source.name[:-4] if source.suffix.lower() == ".zip" else source.name
    return slug(stem, 60)


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack after checking every member stays inside `dest`; refuse links and zip bombs."""
    dest.mkdir(parents=True)
    root = dest.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            declared = 0
            for info in members:
                _check_member(archive, info, root)
                declared += info.file_size
            if declared > MAX_UNPACKED_BYTES:
                raise WorkspaceError(f"{archive} would unpack to {declared / 1024**3:.1f} GB, more than an adapter "
                                     "needs", hint="unpack it yourself and import the folder")
            written = 0
            for info in members:
                target = root / PurePosixPath(info.filename.replace("\\", "/"))
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > max(declared, 1) or written > MAX_UNPACKED_BYTES:
                            raise WorkspaceError(f"{archive}: {info.filename} unpacks to more than the archive "
                                                 "declares", hint="the archive is damaged or crafted; do not use it")
                        out.write(chunk)
    except zipfile.BadZipFile as exc:
        raise WorkspaceError(f"{archive} is not a readable zip archive ({exc})",
                             hint="download it again, or import the unpacked folder") from None


def _check_member(archive: Path, info: zipfile.ZipInfo, root: Path) -> None:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    mode = info.external_attr >> 16
    problem = ""
    if stat.S_ISLNK(mode):
        problem = "is a symbolic link"
    elif path.is_absolute() or name.startswith("/") or (path.parts and ":" in path.parts[0]):
        problem = "has an absolute path"
    elif ".." in path.parts:
        problem = "points outside its folder ('..')"
    elif not (root / path).resolve().is_relative_to(root):
        problem = "would be written outside the target folder"
    if problem:
        raise WorkspaceError(f"{archive}: member {info.filename!r} {problem}; nothing was imported",
                             hint="only import archives you trust; unpack it yourself and check its contents")


def locate_adapter(root: Path, shown_as: Path) -> Path:
    """The folder holding adapter_config.json: `root` itself, or its only match up to 3 levels down."""
    if (root / ADAPTER_CONFIG).is_file():
        return root
    patterns = [f"{'*/' * depth}{ADAPTER_CONFIG}" for depth in range(1, 4)]   # bounded: never walk a whole disk
    found = sorted(p.parent for pattern in patterns for p in root.glob(pattern)
                   if not p.parent.name.startswith(TMP_PREFIX))
    if len(found) == 1:
        return found[0]
    if not found:
        raise WorkspaceError(f"{shown_as} holds no {ADAPTER_CONFIG}, so it is not a PEFT adapter",
                             hint="pass the folder written by peft's save_pretrained (adapter_config.json + "
                                  "adapter_model.safetensors)")
    listing = ", ".join(str(p.relative_to(root)) for p in found[:5])
    raise WorkspaceError(f"{shown_as} holds {len(found)} adapters ({listing})",
                         hint="import one folder at a time")


def check_adapter_files(folder: Path, allow_pickle: bool) -> str:
    """Validate the PEFT files; return the pickle weight file's name when it must be converted."""
    config_path = folder / ADAPTER_CONFIG
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{config_path} is not valid JSON ({exc})", hint="the adapter is damaged") from None
    if not isinstance(config, dict) or not config.get("peft_type"):
        raise WorkspaceError(f"{config_path} has no peft_type, so it is not a PEFT adapter config",
                             hint="pass a folder written by peft's save_pretrained")
    if (folder / ADAPTER_WEIGHTS).is_file():
        return ""
    pickles = [p for p in PICKLE_WEIGHTS if (folder / p).is_file()]
    if not pickles:
        raise WorkspaceError(f"{folder} has no {ADAPTER_WEIGHTS}: the weights are missing",
                             hint="copy the weights file next to adapter_config.json")
    if not allow_pickle:
        raise PickleRefused(
            f"{folder} holds its weights only as a pickle ({pickles[0]}); loading a pickle can run any code "
            "its author put in it, so it is refused",
            hint="get a safetensors version of the adapter, or, if you trust where it came from, import it "
                 "with --allow-pickle: it is then converted to safetensors with torch.load(weights_only=True), "
                 "which refuses to run code")
    return pickles[0]


def copy_adapter_files(folder: Path, dest: Path, keep: str = "") -> list[str]:
    """Copy regular files (recursively); skip links and pickles except `keep`. Returns what was skipped."""
    skipped = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_symlink():
            skipped.append(f"{rel} (a link)")
        elif path.is_dir():
            continue
        elif path.suffix.lower() in PICKLE_SUFFIXES and str(rel) != keep:
            skipped.append(f"{rel} (pickle)")
        elif path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
    return skipped


def write_import_record(folder: Path, name: str, source: Path, check: BaseCheck, given_base: str,
                        tags: list[str], notes: str) -> None:
    """studio.json for the imported adapter: its own lineage when it has one, plus where it came from."""
    try:
        record = json.loads((folder / STUDIO_JSON).read_text(encoding="utf-8"))
        record = record if isinstance(record, dict) else {}
    except (OSError, ValueError, UnicodeDecodeError):
        record = {}
    config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    base = record.get("base_model") if isinstance(record.get("base_model"), dict) else {}
    if given_base or not base.get("name_or_path"):
        base = {"name_or_path": given_base or check.claimed or config.get("base_model_name_or_path") or "",
                "resolved_path": check.base_path or None, "revision": config.get("revision"),
                "hash": model_fingerprint(Path(check.base_path)) if check.ok and check.base_path else None,
                "quant": None}
    record.setdefault("studio_version", studio.__version__)
    record.setdefault("created", now_iso())
    record.setdefault("chat_template", folder_chat_template(folder))
    record.update(name=name, base_model=base, tags=list(dict.fromkeys([*record.get("tags", []), *tags])),
                  notes=notes or record.get("notes", ""),
                  imported={"from": str(source), "at": now_iso(), "base_check": check.status})
    (folder / STUDIO_JSON).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

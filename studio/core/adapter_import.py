"""Importing an existing PEFT adapter (a folder, or a .zip of one) into the library.

Only what an adapter is made of is taken (`adapter_files.KEPT_FILES`: adapter_config.json, the
safetensors weights, peft's README.md, studio.json, the tokenizer and chat template files); every
other file is left out and named in `ImportResult.skipped` with the reason: training state from a
checkpoint folder (optimizer.pt, rng_state.pth, ...) is pickle, links may point anywhere, and
anything else (a gigabyte of padding in an archive) is not part of an adapter.

Everything is checked before a byte is written: adapter_config.json by type and range
(`core.peft_config`), studio.json (`core.adapter_record`), the safetensors header (length within
the file, JSON, dtypes, shapes, offsets that tile the data) and the LoRA shapes against the rank.
Each kept file has a size cap, and the weights must be exactly the size their header declares,
so the library never holds more than the adapter's declared shapes need. The copy goes into a
temporary sibling of its library folder and is renamed into place when complete (core.atomic),
after the same check the library reader makes (`library.read_adapter`), so an adapter the library
would list as broken is never imported and a failed import leaves nothing behind.

A zip is read from its member list: the members that escape (absolute, '..', links) refuse the whole
archive, the adapter folder is found among the members, and only the members that will be kept are
decompressed, straight into the library's temporary folder, never more bytes than each declares.

Weights saved as pickle (adapter_model.bin) can run code when loaded, so they are refused unless
the user opts in for this one import; even then they are never unpickled here: the `converter`
(a worker process using torch.load(weights_only=True), which refuses code) turns them into
safetensors, so the library only ever holds safetensors.
"""

from __future__ import annotations

import json
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import studio
from studio.core.adapter_compat import BaseCheck, check_base
from studio.core.adapter_files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, KEPT_FILES, MAX_WEIGHTS_BYTES, PICKLE_WEIGHTS, \
    STUDIO_JSON, TEMPLATE_DIR, entry_kind, human, kept_cap, load_json, open_regular, parse_safetensors_header, \
    read_json_file
from studio.core.adapter_record import check_record
from studio.core.atomic import TMP_PREFIX, atomic_dir
from studio.core.errors import ModelError, StudioError, WorkspaceError
from studio.core.library import folder_chat_template, model_fingerprint, read_folder
from studio.core.library_ops import library_lock, now_iso
from studio.core.peft_config import check_lora_shapes, check_peft_config
from studio.core.workspace import Workspace, check_name, slug

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
MAX_MEMBERS = 10_000       # an adapter archive holds a dozen files
MAX_SKIPPED_SHOWN = 20
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


@dataclass
class SourceFile:
    """One entry of the adapter folder or archive: `rel` is its path inside the adapter folder."""

    rel: str
    size: int = 0
    kind: str = "file"                                   # file, a folder, a link, not a regular file
    open: Callable[[], IO[bytes]] | None = field(default=None, repr=False)


def import_adapter(ws: Workspace, source: Path, name: str = "", *, allow_pickle: bool = False,
                   converter: Converter | None = None, base: str = "", tags: list[str] | None = None,
                   notes: str = "") -> ImportResult:
    """Copy the adapter at `source` into the library as `name` (or the next free version of it)."""
    source = Path(source).expanduser()
    if not source.exists():
        raise WorkspaceError(f"{source} does not exist", hint="pass an adapter folder or a .zip of one")
    if source.is_file() and zipfile.is_zipfile(source):
        with _zip_errors(source), zipfile.ZipFile(source) as zf:
            return _import(ws, source, zip_files(source, zf), name, allow_pickle, converter, base, tags or [], notes)
    if source.is_dir():
        try:
            files = folder_files(locate_adapter(source, shown_as=source))
        except OSError as exc:
            raise WorkspaceError(f"cannot read the folder {source}: {exc.strerror or exc}",
                                 hint="check that the adapter folder is readable") from None
        return _import(ws, source, files, name, allow_pickle, converter, base, tags or [], notes)
    raise WorkspaceError(f"{source} is neither a folder nor a zip archive",
                         hint="pass the adapter folder (with adapter_config.json) or a .zip of it")


@contextmanager
def _zip_errors(archive: Path) -> Iterator[None]:
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise WorkspaceError(f"{archive} is not a readable zip archive ({exc or type(exc).__name__}); nothing was "
                             "imported", hint="download it again, or import the unpacked folder") from None


def _import(ws: Workspace, source: Path, files: list[SourceFile], name: str, allow_pickle: bool,
            converter: Converter | None, base: str, tags: list[str], notes: str) -> ImportResult:
    try:
        kept, skipped, pickled = select_files(files, source, allow_pickle)
        check_contents(kept)
    except StudioError as exc:
        if isinstance(exc, (PickleRefused, WorkspaceError)):
            raise
        raise WorkspaceError(f"{source}: {exc.message}; nothing was imported", hint=exc.hint) from None
    except OSError as exc:                     # unreadable, or changed while it was checked
        raise WorkspaceError(f"{source}: cannot read {exc.filename or 'a file'}: {exc.strerror or exc}; nothing "
                             "was imported", hint="check that the adapter's files are readable") from None
    if pickled and converter is None:
        raise ModelError("pickle weights need converting, but no converter was given",
                         hint="import from the `studio` command or the app, which convert them")
    wanted = check_name(name or _default_name(source), "adapter name")
    with library_lock(ws):
        final = ws.adapter_dir(ws.free_adapter_name(wanted))
        with atomic_dir(final) as tmp:
            for file in kept.values():
                copy_file(file, tmp / file.rel, source)
            if pickled:
                assert converter is not None
                converter(tmp)
                if not (tmp / ADAPTER_WEIGHTS).is_file() or (tmp / pickled).exists():
                    raise ModelError(f"converting {pickled} to {ADAPTER_WEIGHTS} failed")
            check = check_base(tmp, ws, given=base)
            write_import_record(tmp, final.name, source, check, base, tags, notes)
            broken = read_folder(tmp).broken          # what the library would list as broken is not imported
            if broken:
                raise WorkspaceError(f"{source}: {broken}; nothing was imported",
                                     hint="the files changed while they were imported, or the adapter is damaged")
    return ImportResult(final.name, final, str(source), check, bool(pickled), _shorten(skipped))


def _default_name(source: Path) -> str:
    stem = source.name[:-4] if source.suffix.lower() == ".zip" else source.name
    return slug(stem, 60)


def _shorten(skipped: list[str]) -> list[str]:
    if len(skipped) <= MAX_SKIPPED_SHOWN:
        return skipped
    return skipped[:MAX_SKIPPED_SHOWN] + [f"... and {len(skipped) - MAX_SKIPPED_SHOWN} more files"]


# ---- what the source holds ---------------------------------------------------------------------------
def folder_files(folder: Path) -> list[SourceFile]:
    """The entries of an adapter folder (and of its additional_chat_templates/), links not followed."""
    found = []
    for entry in sorted(folder.iterdir()):
        kind = entry_kind(entry)
        if kind == "a folder" and entry.name == TEMPLATE_DIR:
            found += [_folder_entry(sub, f"{entry.name}/{sub.name}") for sub in sorted(entry.iterdir())]
        elif kind != "missing":
            found.append(_folder_entry(entry, entry.name))
    return found


def _folder_entry(path: Path, rel: str) -> SourceFile:
    kind = entry_kind(path)
    if kind != "file":
        return SourceFile(rel, kind=kind)
    return SourceFile(rel, path.stat().st_size, open=lambda: open_regular(path))


def zip_files(archive: Path, zf: zipfile.ZipFile) -> list[SourceFile]:
    """The members of the adapter folder inside the archive, decided from the member list alone."""
    members = zf.infolist()
    if len(members) > MAX_MEMBERS:
        raise WorkspaceError(f"{archive} holds {len(members)} files, far more than an adapter; nothing was imported",
                             hint="unpack it yourself and import the adapter folder")
    names: dict[str, zipfile.ZipInfo] = {}
    for info in members:
        _check_member(archive, info)
        if info.flag_bits & 0x1:
            raise WorkspaceError(f"{archive}: member {info.filename!r} is encrypted; nothing was imported",
                                 hint="unpack it yourself (with its password) and import the folder")
        path = PurePosixPath(info.filename.replace("\\", "/")).as_posix()
        if not info.is_dir():
            if path in names:
                raise WorkspaceError(f"{archive}: member {info.filename!r} appears twice; nothing was imported",
                                     hint="the archive is damaged or crafted; do not use it")
            names[path] = info
    configs = sorted(PurePosixPath(n).parent for n in names if PurePosixPath(n).name == ADAPTER_CONFIG
                     and len(PurePosixPath(n).parts) <= 4 and not any(p.startswith(TMP_PREFIX)
                                                                      for p in PurePosixPath(n).parts))
    root = PurePosixPath(".") if PurePosixPath(".") in configs else (configs[0] if len(configs) == 1 else None)
    if root is None:
        _no_single_adapter(archive, [str(c) for c in configs])
    found = []
    for path, info in names.items():
        inside = PurePosixPath(path).relative_to(root) if PurePosixPath(path).is_relative_to(root) else None
        if inside is None:
            found.append(SourceFile(path, kind="outside the adapter folder"))
        else:
            found.append(SourceFile(inside.as_posix(), info.file_size, open=lambda i=info: zf.open(i)))
    return found


def _check_member(archive: Path, info: zipfile.ZipInfo) -> None:
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
    elif any(ord(c) < 32 for c in name):
        problem = "has control characters in its name"
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
    if len(found) != 1:
        _no_single_adapter(shown_as, [str(p.relative_to(root)) for p in found])
    return found[0]


def _no_single_adapter(shown_as: Path, found: list[str]) -> None:
    if not found:
        raise WorkspaceError(f"{shown_as} holds no {ADAPTER_CONFIG}, so it is not a PEFT adapter",
                             hint="pass the folder written by peft's save_pretrained (adapter_config.json + "
                                  "adapter_model.safetensors)")
    raise WorkspaceError(f"{shown_as} holds {len(found)} adapters ({', '.join(found[:5])})",
                         hint="import one folder at a time")


# ---- what is kept, and checked -----------------------------------------------------------------------
def select_files(files: list[SourceFile], source: Path, allow_pickle: bool) -> tuple[dict[str, SourceFile],
                                                                                      list[str], str]:
    """(the files to copy by relative path, what is left out and why, the pickle weights to convert or "")."""
    kept: dict[str, SourceFile] = {}
    skipped: list[str] = []
    pickles: list[SourceFile] = []
    for file in files:
        cap = MAX_WEIGHTS_BYTES if file.rel == ADAPTER_WEIGHTS else kept_cap(file.rel)   # weights: exact, see below
        if file.kind != "file":
            skipped.append(f"{file.rel} ({file.kind})")
        elif cap is not None:
            if file.size > cap:
                raise WorkspaceError(f"{source}: {file.rel} is {human(file.size)}, more than the {human(cap)} such a "
                                     "file can be; nothing was imported",
                                     hint="the adapter is damaged or padded: remove that file, or import the "
                                          "adapter from where it came from")
            kept[file.rel] = file
        elif file.rel in PICKLE_WEIGHTS:
            pickles.append(file)
        elif PurePosixPath(file.rel).suffix.lower() in PICKLE_SUFFIXES:
            skipped.append(f"{file.rel} (pickle)")
        else:
            skipped.append(f"{file.rel} (not part of a PEFT adapter)")
    config = kept.get(ADAPTER_CONFIG)
    if config is None:
        raise WorkspaceError(f"{source} holds no {ADAPTER_CONFIG} file, so it is not a PEFT adapter",
                             hint="pass the folder written by peft's save_pretrained")
    check_peft_config(_json(config))            # the config first: is it an adapter at all?
    if ADAPTER_WEIGHTS in kept:
        skipped += [f"{p.rel} (pickle; the safetensors weights are imported instead)" for p in pickles]
        return kept, skipped, ""
    if not pickles:
        raise WorkspaceError(f"{source} has no {ADAPTER_WEIGHTS}: the weights are missing",
                             hint="copy the weights file next to adapter_config.json")
    if not allow_pickle:
        raise PickleRefused(
            f"{source} holds its weights only as a pickle ({pickles[0].rel}); loading a pickle can run any code "
            "its author put in it, so it is refused",
            hint="get a safetensors version of the adapter, or, if you trust where it came from, import it "
                 "with --allow-pickle: it is then converted to safetensors with torch.load(weights_only=True), "
                 "which refuses to run code")
    if pickles[0].size > MAX_WEIGHTS_BYTES:
        raise WorkspaceError(f"{source}: {pickles[0].rel} is {human(pickles[0].size)}, more than an adapter needs",
                             hint="the adapter is damaged or padded")
    kept[pickles[0].rel] = pickles[0]
    skipped += [f"{p.rel} (pickle; {pickles[0].rel} is converted instead)" for p in pickles[1:]]
    return kept, skipped, pickles[0].rel


def _read(file: SourceFile, cap: int) -> bytes:
    assert file.open is not None
    with file.open() as fh:
        raw = fh.read(cap + 1)
    if len(raw) > cap:
        raise ModelError(f"{file.rel} is larger than the {human(cap)} such a file can be")
    return raw


def _json(file: SourceFile) -> Any:
    return load_json(_read(file, KEPT_FILES.get(file.rel, 4 * 1024 * 1024)), file.rel)


def check_contents(kept: dict[str, SourceFile]) -> None:
    """The checks the library reader makes, on the source's bytes, before anything is written."""
    peft = check_peft_config(_json(kept[ADAPTER_CONFIG]))
    weights = kept.get(ADAPTER_WEIGHTS)
    if weights is not None:
        assert weights.open is not None
        with weights.open() as fh:
            header = parse_safetensors_header(fh, weights.size)
        if header.file_size > MAX_WEIGHTS_BYTES:
            raise ModelError(f"{ADAPTER_WEIGHTS} declares {human(header.file_size)} of tensors, more than an "
                             "adapter needs")
        check_lora_shapes(header, peft)
    if STUDIO_JSON in kept:
        _record, problems = check_record(_json(kept[STUDIO_JSON]))
        if problems:
            raise ModelError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             hint=f"correct {STUDIO_JSON}, or delete it: the adapter imports without its lineage")
    for rel, file in kept.items():
        if rel.endswith(".json") and rel not in (ADAPTER_CONFIG, STUDIO_JSON):
            if not isinstance(_json(file), dict):
                raise ModelError(f"{rel} is not a JSON object, so a tokenizer cannot read it",
                                 hint="remove it, or import the adapter from where it came from")
        elif rel.endswith((".jinja", ".txt", ".md")):
            try:
                _read(file, KEPT_FILES.get(rel, 4 * 1024 * 1024)).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ModelError(f"{rel} is not UTF-8 text (byte {exc.start})",
                                 hint="remove it, or import the adapter from where it came from") from None


def copy_file(file: SourceFile, dest: Path, source: Path) -> None:
    """Copy exactly `file.size` bytes: a file that grew or shrank since it was checked (or a zip
    member that unpacks to more than it declares) stops the import."""
    assert file.open is not None
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with file.open() as src, open(dest, "wb") as out:
        while chunk := src.read(min(CHUNK, file.size - written + 1)):
            written += len(chunk)
            if written > file.size:
                break
            out.write(chunk)
    if written != file.size:
        raise WorkspaceError(f"{source}: {file.rel} holds {'more' if written > file.size else 'fewer'} bytes than it "
                             f"declared ({file.size}); nothing was imported",
                             hint="the archive is damaged or crafted, or the folder changed during the import")


def write_import_record(folder: Path, name: str, source: Path, check: BaseCheck, given_base: str,
                        tags: list[str], notes: str) -> None:
    """studio.json for the imported adapter: its own lineage when it has one, plus where it came from."""
    record = read_json_file(folder / STUDIO_JSON, KEPT_FILES[STUDIO_JSON]) if (folder / STUDIO_JSON).is_file() else {}
    config = read_json_file(folder / ADAPTER_CONFIG, KEPT_FILES[ADAPTER_CONFIG])   # both checked before the copy
    base = record.get("base_model") or {}
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

"""The adapter library: every folder under <home>/adapters is one adapter.

An adapter is a standard PEFT folder (adapter_config.json + adapter_model.safetensors) that
any peft user can load, plus `studio.json` with its lineage: base model and revision/hash,
dataset fingerprint, the full run config, metrics, loss history, chat template, run id.
A folder that is damaged or half-written is listed as broken with the reason; it never stops
the listing. Every value is checked by type and range on the way in (`core.adapter_files`,
`core.peft_config`, `core.adapter_record`: the same checks an import makes), and `AdapterInfo.studio`
holds only the record's well-typed values, so no reader of it meets a value of the wrong type.
Reading stays cheap: the JSON files and the weights' header, never the weights.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.adapter_files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, KEPT_FILES, PICKLE_WEIGHTS, STUDIO_JSON, \
    OpenFolder, entry_kind, read_json_file
from studio.core.adapter_record import check_record
from studio.core.atomic import TMP_PREFIX
from studio.core.errors import ModelError, WorkspaceError
from studio.core.peft_config import PeftSettings, check_lora_shapes, check_peft_config
from studio.core.workspace import check_name

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "PICKLE_WEIGHTS", "STUDIO_JSON", "AdapterInfo", "find_adapter",
           "folder_chat_template", "folder_files", "list_adapters", "model_fingerprint", "read_adapter",
           "read_folder", "search_adapters"]


@dataclass
class AdapterInfo:
    name: str
    path: Path
    base_model: str = ""
    rank: int | None = None
    alpha: float | None = None
    targets: list[str] = field(default_factory=list)
    dataset: str = ""
    created: str = ""
    final_loss: float | None = None
    best_eval_loss: float | None = None
    size_bytes: int = 0
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    run_id: str = ""
    broken: str = ""                       # why the folder cannot be used; empty when fine
    studio: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": str(self.path), "base_model": self.base_model, "rank": self.rank,
            "alpha": self.alpha, "targets": self.targets, "dataset": self.dataset, "created": self.created,
            "final_loss": self.final_loss, "best_eval_loss": self.best_eval_loss,
            "size_bytes": self.size_bytes, "tags": self.tags, "notes": self.notes, "run_id": self.run_id or None,
            "broken": self.broken or None,
        }


VANISHED = "it vanished while the library was read (renamed or deleted)"
CHANGED = "it changed while the library was read (a file vanished): refresh the list"


def read_adapter(path: Path) -> AdapterInfo:
    """One library entry, never an exception: anything wrong with the folder is `broken` with a reason
    that names the file, the field and the bad value (the same checks an import makes)."""
    if path.name.startswith(TMP_PREFIX):
        return AdapterInfo(name=path.name, path=path, broken="left over from an interrupted write")
    return read_folder(path)


def read_folder(path: Path) -> AdapterInfo:
    """read_adapter for any folder, whatever its name (the importer checks its temporary copy)."""
    info = AdapterInfo(name=path.name, path=path)
    try:
        kind = entry_kind(path, follow=True)
        if kind != "a folder":
            info.broken = (("a link to nothing" if os.path.islink(path) else VANISHED) if kind == "missing" else
                           f"{'a file' if kind == 'file' else kind} where an adapter folder should be: move it "
                           f"out of {path.parent}")
            return info
        with OpenFolder(path) as folder:      # read relative to the open folder: a rename cannot split the read
            info.size_bytes = sum(size for _, size in folder.files())
            problems = _read_into(info, folder)
    except FileNotFoundError:
        problems = [VANISHED if not os.path.lexists(path) else CHANGED]
    except OSError as exc:
        problems = [f"unreadable: {exc.strerror or exc}"]
    if problems:
        info.broken = problems[0] + (f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})"
                                     if len(problems) > 1 else "")
    return info


def _read_into(info: AdapterInfo, folder: OpenFolder) -> list[str]:
    """Fill `info` from the folder's files; return what is wrong, most basic first."""
    problems: list[str] = []
    peft: PeftSettings | None = None
    kind = folder.kind(ADAPTER_CONFIG)
    if kind == "missing":
        problems.append(f"no {ADAPTER_CONFIG}: not a PEFT adapter folder")
    elif kind != "file":
        problems.append(f"{ADAPTER_CONFIG} is {kind}, not a file")
    else:
        try:
            peft = check_peft_config(folder.read_json(ADAPTER_CONFIG, KEPT_FILES[ADAPTER_CONFIG]))
        except ModelError as exc:
            problems.append(exc.message)
    if peft is not None:
        info.base_model, info.rank, info.alpha = peft.base_model, peft.r, peft.alpha
        # peft saves "all-linear" expanded to full module paths: show the layer names (a single string
        # is a name or a regular expression: shown whole).
        raw = peft.raw.get("target_modules")
        info.targets = [raw] if isinstance(raw, str) else sorted({t.rsplit(".", 1)[-1] for t in peft.targets})
    kind = folder.kind(ADAPTER_WEIGHTS)
    if kind == "missing":
        pickles = [p for p in PICKLE_WEIGHTS if folder.kind(p) == "file"]
        problems.append(f"weights are pickle ({pickles[0]}), which is refused by default" if pickles
                        else f"no {ADAPTER_WEIGHTS}: the weights are missing")
    elif kind != "file":
        problems.append(f"{ADAPTER_WEIGHTS} is {kind}, not a file")
    else:
        try:
            header = folder.read_header(ADAPTER_WEIGHTS)
            if peft is not None:
                check_lora_shapes(header, peft)
        except ModelError as exc:
            problems.append(exc.message)
    kind = folder.kind(STUDIO_JSON)
    if kind not in ("missing", "file"):
        problems.append(f"{STUDIO_JSON} is {kind}, not a file")
    elif kind == "file":
        try:
            studio, wrong = check_record(folder.read_json(STUDIO_JSON, KEPT_FILES[STUDIO_JSON]))
        except ModelError as exc:
            studio, wrong = {}, [exc.message]
        problems += wrong
        info.studio = studio
        _fill_from_record(info, studio)
    return problems


def _fill_from_record(info: AdapterInfo, studio: dict[str, Any]) -> None:
    """The table's columns from a checked record (every value here has its type: see adapter_record)."""
    base = studio.get("base_model") or {}
    metrics = studio.get("metrics") or {}
    info.base_model = base.get("name_or_path") or info.base_model
    info.dataset = (studio.get("dataset") or {}).get("path") or ""
    info.created = studio.get("created") or ""
    info.final_loss = _float(metrics.get("final_train_loss"))
    info.best_eval_loss = _float(metrics.get("best_eval_loss"))
    info.tags = list(studio.get("tags") or [])
    info.notes = studio.get("notes") or ""
    info.run_id = studio.get("run_id") or ""
    targets = ((studio.get("config") or {}).get("lora") or {}).get("targets")
    if targets:
        info.targets = [targets] if isinstance(targets, str) else list(targets)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def folder_files(folder: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every regular file under `folder`, links not followed; [] when the
    folder is gone (it may be renamed or deleted while it is read)."""
    try:
        with OpenFolder(folder) as opened:
            return opened.files()
    except OSError:
        return []


def list_adapters(adapters_dir: Path) -> list[AdapterInfo]:
    """Every entry of the adapters folder (hidden files aside), broken ones included; one removed or
    renamed while it is read is left out, as it would be a moment later. Each folder is read only
    when it changed since any process last listed it (core/adapter_index.py); the entries are
    shared with other listings: read-only."""
    from studio.core.adapter_index import adapter_cache, cached_adapter

    try:
        entries = sorted(adapters_dir.iterdir(), key=lambda p: p.name.lower())
    except OSError:      # no adapters folder yet (or it is not a folder)
        return []
    cache = adapter_cache(adapters_dir)
    found = []
    for path in entries:
        if path.name.startswith(".") and not path.is_dir():
            continue     # .DS_Store and the like
        info = read_adapter(path) if path.name.startswith(TMP_PREFIX) else cached_adapter(path, read_adapter, cache)
        if info.broken and not os.path.lexists(path):
            continue
        found.append(info)
    cache.retain({p.name for p in entries})
    cache.save()
    return found


def find_adapter(adapters_dir: Path, name: str) -> AdapterInfo:
    """The library adapter called `name`; a clear error (with near names) when there is none."""
    check_name(name, "adapter name")
    path = adapters_dir / name
    if not os.path.lexists(path):
        try:
            known = [p.name for p in adapters_dir.iterdir() if not p.name.startswith(".")]
        except OSError:
            known = []
        near = difflib.get_close_matches(name, known, n=3)
        raise WorkspaceError(f"no adapter {name!r} in {adapters_dir}",
                             hint=(f"did you mean {', '.join(near)}? " if near else "")
                             + "see `studio adapters list` for the names")
    return read_adapter(path)


SORT_KEYS = ("name", "created", "base_model", "rank", "final_loss", "best_eval_loss", "size_bytes")


def search_adapters(adapters: list[AdapterInfo], text: str = "", tags: list[str] | None = None,
                    base_model: str = "", sort: str = "name", descending: bool = False) -> list[AdapterInfo]:
    """Filter (text in name, base, dataset, tags or notes; every tag; base substring) and sort.

    Missing values (a broken adapter has no loss) sort last in either direction."""
    if sort not in SORT_KEYS:
        raise WorkspaceError(f"cannot sort adapters by {sort!r}", hint=f"use one of: {', '.join(SORT_KEYS)}")
    needle = text.casefold().strip()
    wanted = {t.casefold() for t in tags or []}
    found = []
    for a in adapters:
        haystack = " ".join([a.name, a.base_model, a.dataset, a.notes, *a.tags]).casefold()
        if needle and needle not in haystack:
            continue
        if wanted and not wanted <= {t.casefold() for t in a.tags}:
            continue
        if base_model and base_model.casefold() not in a.base_model.casefold():
            continue
        found.append(a)
    present = [a for a in found if getattr(a, sort) not in (None, "")]
    missing = [a for a in found if getattr(a, sort) in (None, "")]
    key = (lambda a: a.name.casefold()) if sort == "name" else (lambda a: getattr(a, sort))
    return sorted(present, key=key, reverse=descending) + missing


def model_fingerprint(folder: Path) -> str:
    """A cheap content hash of a model folder: config.json and the safetensors headers (which hold
    every tensor's name, shape, dtype and byte offsets), not the gigabytes of weights."""
    digest = hashlib.sha256()
    for name in sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".safetensors")):
        file = folder / name
        if file.suffix == ".safetensors":
            with open(file, "rb") as fh:
                head = fh.read(8)
                length = int.from_bytes(head, "little") if len(head) == 8 else 0
                digest.update(name.encode() + head + fh.read(min(length, 100_000_000)))
                fh.seek(0, 2)
                digest.update(str(fh.tell()).encode())
        elif name in ("config.json", "model.safetensors.index.json"):
            digest.update(name.encode() + file.read_bytes())
    return "sha256:" + digest.hexdigest()


def folder_chat_template(folder: Path) -> str | None:
    """The chat template saved with an adapter or checkpoint: studio.json's (what training used),
    else the tokenizer files saved beside the weights; None when there is none or it is unreadable."""
    try:
        studio = read_json_file(folder / STUDIO_JSON, KEPT_FILES[STUDIO_JSON])
        if isinstance(studio, dict) and isinstance(studio.get("chat_template"), str):
            return studio["chat_template"]
    except (OSError, ModelError):
        pass
    try:
        with open(folder / "chat_template.jinja", "rb") as fh:
            raw = fh.read(KEPT_FILES["chat_template.jinja"] + 1)
        if len(raw) <= KEPT_FILES["chat_template.jinja"]:
            return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    try:
        config = read_json_file(folder / "tokenizer_config.json", KEPT_FILES["tokenizer_config.json"])
    except (OSError, ModelError):
        return None
    template = config.get("chat_template") if isinstance(config, dict) else None
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t["name"]: t.get("template") for t in template
                 if isinstance(t, dict) and isinstance(t.get("name"), str)}
        template = named.get("default")
    return template if isinstance(template, str) else None

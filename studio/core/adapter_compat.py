"""Does an adapter belong to a base model? Decided from files alone, without torch.

Three kinds of evidence, strongest first:
- content hash: studio.json records `model_fingerprint` of the base it was trained on (config.json +
  safetensors headers); a local folder with the same hash is the same model;
- name: the folder or hub id in adapter_config.json (`base_model_name_or_path`) is one the
  workspace already knows (used by another adapter, a run, or the demo);
- shapes: every `lora_A` / `lora_B` tensor in the adapter's safetensors header must sit on a layer
  of the base with matching in/out features. This catches an adapter for another model family or
  size before peft fails with a size-mismatch traceback.

A base with the right shapes but a different hash is reported as "different": it loads, but the
adapter was trained on other weights (e.g. the base instead of the instruct model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from studio.core.adapter_files import ADAPTER_CONFIG, ADAPTER_WEIGHTS, KEPT_FILES, STUDIO_JSON, read_header_file, \
    read_json_file
from studio.core.adapter_record import check_record
from studio.core.errors import ModelError
from studio.core.library import list_adapters, model_fingerprint
from studio.core.model_info import find_model_folder, inspect_model, looks_like_path
from studio.core.peft_config import check_peft_config
from studio.core.workspace import Workspace

LORA_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>A|B)(?:\.[^.]+)?\.weight$")


def _model_folder(name: str) -> Path | None:
    """find_model_folder for a name read from a file: a name no file system call can take (too long,
    a user this machine does not have) is a base that is not here, never an exception."""
    try:
        return find_model_folder(name)
    except (OSError, ValueError, RuntimeError):
        return None
MAX_PROBLEMS = 5
OK_STATUSES = ("match", "fits")


@dataclass
class KnownBase:
    """A base model this workspace has used: by an adapter, a run, or the demo."""

    label: str
    path: Path | None = None
    hub_id: str = ""
    hashes: set[str] = field(default_factory=set)


def known_bases(ws: Workspace) -> list[KnownBase]:
    found: dict[str, KnownBase] = {}

    def add(name: str, resolved: str | None = None, digest: str | None = None) -> None:
        if not name:
            return
        folder = _model_folder(resolved) if resolved and _is_dir(resolved) else _model_folder(name)
        key = str(folder.resolve()) if folder else name.casefold()
        base = found.setdefault(key, KnownBase(label=name, path=folder.resolve() if folder else None,
                                               hub_id="" if looks_like_path(name) else name))
        if digest:
            base.hashes.add(digest)

    for adapter in list_adapters(ws.adapters_dir):     # studio holds checked values only (adapter_record)
        record = adapter.studio.get("base_model") or {}
        add(record.get("name_or_path") or adapter.base_model, record.get("resolved_path"), record.get("hash"))
    # The runs' configs come from the listing cache (core/run_index.py): YAML-parsing every
    # run.yaml here took 4.4 s per adapter card at 1,000 runs. A run.yaml that does not check
    # (no config in the listing) is still read raw for its model.
    from studio.core.runs import RUN_CONFIG, list_runs

    for info in list_runs(ws.runs_dir):
        if info.config is not None:
            add(info.config.model.name_or_path)
            continue
        try:
            model = (yaml.safe_load((info.path / RUN_CONFIG).read_text(encoding="utf-8")) or {}).get("model") or {}
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if isinstance(model, dict) and isinstance(model.get("name_or_path"), str):
            add(model["name_or_path"])
    demo = ws.demo_dir / "base-model"
    if (demo / "config.json").is_file():
        add(str(demo))
    return list(found.values())


def _is_dir(name: str) -> bool:
    try:
        return Path(name).is_dir()
    except (OSError, ValueError):
        return False


def adapter_tensors(adapter_folder: Path) -> dict[str, list[int]]:
    """name -> shape from the adapter's checked safetensors header (ModelError when it is damaged)."""
    try:
        header = read_header_file(adapter_folder / ADAPTER_WEIGHTS)
    except OSError as exc:
        raise ModelError(f"cannot read {ADAPTER_WEIGHTS}: {exc.strerror or exc}") from None
    return {name: shape for name, (_dtype, shape) in header.tensors.items()}


def shape_problems(tensors: dict[str, list[int]], base_folder: Path) -> list[str]:
    """Why the adapter's LoRA tensors (`adapter_tensors`) do not fit the base's layers (empty when they fit)."""
    info = inspect_model(base_folder)
    if "quantization_config" in info.config:
        return []  # packed quantized weights do not show their logical shapes
    problems: list[str] = []
    matched = checked = 0
    for key, shape in tensors.items():
        m = LORA_KEY.match(key)
        if not m or len(shape) != 2:
            continue
        checked += 1
        module = m.group("module")
        base = info.tensors.get(module + ".weight")
        if base is None or len(base[1]) != 2:
            problems.append(f"layer {module} does not exist in the base")
            continue
        matched += 1
        out_features, in_features = base[1]
        if m.group("part") == "A" and shape[1] != in_features:
            problems.append(f"{module}: the adapter expects {shape[1]} inputs, the base layer has {in_features}")
        elif m.group("part") == "B" and shape[0] != out_features:
            problems.append(f"{module}: the adapter expects {shape[0]} outputs, the base layer has {out_features}")
    if checked and not matched:
        return [f"none of the adapter's {checked} LoRA tensors sits on a layer of this base "
                f"(e.g. {problems[0].split(' does not')[0]}): it was made for another model family"]
    if len(problems) > MAX_PROBLEMS:
        problems = problems[:MAX_PROBLEMS] + [f"... and {len(problems) - MAX_PROBLEMS} more"]
    return problems


@dataclass
class BaseCheck:
    """How an adapter relates to a base model on this machine.

    status: match (same model: hash, or a name the workspace knows; shapes fit), fits (shapes fit,
    identity not confirmed), different (shapes fit but the recorded hash differs), mismatch
    (shapes do not fit: it cannot load), unknown (the base is not on this machine)."""

    status: str
    claimed: str
    base_path: str = ""
    how: str = ""
    message: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ok": self.ok, "claimed": self.claimed, "base_path": self.base_path or None,
                "how": self.how or None, "message": self.message, "problems": self.problems}


def claimed_base(adapter_folder: Path) -> tuple[str, str]:
    """(base model name or path, recorded content hash) from studio.json, else adapter_config.json.
    Only values of the right type are taken; a damaged file gives ("", "") rather than an error."""
    name, digest = "", ""
    try:
        record, _problems = check_record(read_json_file(adapter_folder / STUDIO_JSON, KEPT_FILES[STUDIO_JSON]))
        base = record.get("base_model") or {}
        name, digest = base.get("resolved_path") or base.get("name_or_path") or "", base.get("hash") or ""
    except (OSError, ModelError):
        pass
    if not name:
        try:
            name = check_peft_config(read_json_file(adapter_folder / ADAPTER_CONFIG,
                                                    KEPT_FILES[ADAPTER_CONFIG])).base_model
        except (OSError, ModelError):
            pass
    return name, digest


def check_base(adapter_folder: Path, ws: Workspace | None = None, given: str = "") -> BaseCheck:
    """Compare the adapter with `given` (a model folder or hub id), else with the base it names."""
    claimed, digest = claimed_base(adapter_folder)
    try:
        tensors = adapter_tensors(adapter_folder)
    except ModelError as exc:
        return BaseCheck("unknown", claimed, message=f"the adapter's weights cannot be read, so they were not "
                         f"checked against a base model: {exc.message}")
    bases = known_bases(ws) if ws else []
    folder: Path | None = None
    how = ""
    if given:
        folder = find_model_folder(given)
        if folder is None:
            return BaseCheck("unknown", claimed, message=f"the base model {given!r} is not on this machine "
                             "(not a folder, not in the Hugging Face cache)")
    else:
        if digest:
            # The folder the adapter names comes first when it holds those weights: which copy is
            # found must not depend on what else the library holds (the import banner and the
            # card named different paths for one adapter).
            named = _model_folder(claimed) if claimed else None
            if named is not None and _hash(named.resolve()) == digest:
                folder, how = named.resolve(), "content hash"
            for base in bases if folder is None else []:
                if base.path and (digest in base.hashes or _hash(base.path) == digest):
                    folder, how = base.path, "content hash"
                    break
        if folder is None and claimed:
            folder = _model_folder(claimed)
            if folder is not None:
                folder = folder.resolve()
                if any(b.path == folder for b in bases):
                    how = "hub id" if not looks_like_path(claimed) else "path"
    if folder is None and claimed and not looks_like_path(claimed):
        known = next((b for b in bases if b.hub_id.casefold() == claimed.casefold()), None)
        if known is not None:
            return BaseCheck("match", claimed, "", "hub id", message=(
                f"base model {claimed} is used by this workspace (matched by hub id); it is not downloaded, "
                "so the layer shapes were not checked"))
    if folder is None:
        names = ", ".join(b.label for b in bases[:5]) or "none yet"
        return BaseCheck("unknown", claimed, message=(
            f"the adapter was made for {claimed or 'an unnamed base model'}, which is not on this machine "
            f"and not among this workspace's base models ({names})"))
    folder = folder.resolve()
    try:
        problems = shape_problems(tensors, folder)
    except ModelError as exc:
        return BaseCheck("unknown", claimed, str(folder), message=f"cannot read the base model: {exc.message}")
    if problems:
        return BaseCheck("mismatch", claimed, str(folder), "shapes", problems=problems, message=(
            f"the adapter does not fit {folder}: {problems[0]}"))
    if digest and how != "content hash":
        actual = _hash(folder)
        if actual == digest:
            how = "content hash"
        else:
            return BaseCheck("different", claimed, str(folder), "shapes", message=(
                f"{folder} has the right layer shapes but is not the model the adapter was trained on "
                "(its content hash differs): it will load, but the answers may be poor"))
    if how:
        named = "" if _same_folder(claimed, folder) else f"; the adapter names {claimed}"
        return BaseCheck("match", claimed, str(folder), how, message=f"base model {folder} (matched by {how}{named})")
    return BaseCheck("fits", claimed, str(folder), "shapes", message=(
        f"the adapter's layers fit {folder}; it names {claimed or 'no base'}, which this workspace has not used before"))


def _same_folder(name: str, folder: Path) -> bool:
    """Does the name (a path or hub id) the adapter records lead to this folder?"""
    found = _model_folder(name) if name else None
    try:
        return found is not None and found.resolve() == folder.resolve()
    except (OSError, RuntimeError):
        return False


def _hash(folder: Path) -> str:
    try:
        return model_fingerprint(folder)
    except OSError:
        return ""

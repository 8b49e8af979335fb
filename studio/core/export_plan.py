"""Everything about an export that can be checked before a worker starts: no torch.

`plan_export` turns what the user typed (an adapter name or folder, an output folder, a dtype, a
shard size) into an `ExportPlan`, or raises a StudioError that names the problem and the fix:
an unknown adapter, a base model that is not on this machine or is not the one the adapter was
trained on, an output folder that already exists, too little disk space. It runs in the CLI (and
later the GUI's Export dialog) in milliseconds, so bad input never costs the ten seconds a
worker needs to import torch, and nothing is written before it passes.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.config import ModelOptions
from studio.core.errors import ConfigError, ModelError, WorkspaceError
from studio.core.library import ADAPTER_CONFIG, AdapterInfo, list_adapters, model_fingerprint, read_adapter
from studio.core.model_info import check_model_safety, find_model_folder, inspect_model, looks_like_path
from studio.core.workspace import Workspace, check_name

EXPORT_DTYPES = ("auto", "bf16", "fp16", "fp32")
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
CONFIG_DTYPES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
DEFAULT_SHARD_SIZE = "5GB"
SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
              "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
EXPORT_INFO = "studio-export.json"


@dataclass
class BaseModelRef:
    """The base model an adapter needs: where it is, and what it must hash to."""

    source: str                      # a local folder or a hub id
    revision: str = ""
    folder: Path | None = None       # the local folder, when on this machine
    expected_hash: str | None = None
    num_params: int | None = None
    stored_dtype: str | None = None  # fp32/bf16/fp16 from config.json


@dataclass
class ExportPlan:
    adapter: AdapterInfo
    base: BaseModelRef
    out: Path
    dtype: str
    shard_size: int
    verify: bool = True
    keep_failed: bool = False
    device: str = "cpu"
    trust_remote_code: bool = False
    prompts_file: Path | None = None
    warnings: list[str] = field(default_factory=list)
    versioned: bool = False          # `out` was chosen by us: take the next free version if it is taken meanwhile

    @property
    def estimated_bytes(self) -> int | None:
        return self.base.num_params * DTYPE_BYTES[self.dtype] if self.base.num_params else None

    def worker_args(self) -> list[str]:
        args = ["export", "--adapter", str(self.adapter.path), "--base", self.base.source,
                "--out", str(self.out), "--dtype", self.dtype, "--shard-size", str(self.shard_size),
                "--device", self.device]
        if self.base.revision:
            args += ["--revision", self.base.revision]
        if self.prompts_file is not None:
            args += ["--prompts", str(self.prompts_file)]
        if not self.verify:
            args.append("--no-verify")
        if self.keep_failed:
            args.append("--keep-failed")
        if self.trust_remote_code:
            args.append("--trust-remote-code")
        if self.versioned:
            args.append("--next-free-name")
        return args


def parse_size(text: str | int, what: str = "--shard-size") -> int:
    """'5GB' -> 5_000_000_000 and '2GiB' -> 2*2**30, the same units transformers uses."""
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)\s*", str(text).upper())
        if not match or match.group(2) not in SIZE_UNITS:
            raise ConfigError(f"{what} {text!r} is not a size", hint=f"write it like 5GB, 500MB or 2GiB ({what})")
        value = int(float(match.group(1)) * SIZE_UNITS[match.group(2)])
    if value < 1024:
        raise ConfigError(f"{what} {text!r} is too small: it must be at least 1KB",
                          hint=f"pass a size such as {DEFAULT_SHARD_SIZE}")
    return value


def decimal_size(n: int) -> str:
    """Sizes as the user writes them (5GB = 5 x 10^9 bytes), for messages about --shard-size."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= factor:
            return f"{n / factor:.3g}{unit}"
    return f"{n}B"


def find_adapter(workspace: Workspace, ref: str) -> AdapterInfo:
    """A library name, or a path to any PEFT adapter folder; it must be usable."""
    library_path = workspace.adapters_dir / ref
    path = Path(ref).expanduser()
    if "/" not in ref and "\\" not in ref and library_path.is_dir():
        info = read_adapter(library_path)
    elif path.is_dir():
        info = read_adapter(path.resolve())
    elif looks_like_path(ref) or "/" in ref:
        raise WorkspaceError(f"adapter folder {ref} does not exist", hint="check the path given to --adapter")
    else:
        check_name(ref, "adapter name")
        names = [a.name for a in list_adapters(workspace.adapters_dir)]
        close = difflib.get_close_matches(ref, names, n=3)
        raise WorkspaceError(
            f"no adapter named {ref!r} in {workspace.adapters_dir}",
            hint=(f"did you mean {', '.join(close)}? " if close else "")
            + "see `studio adapters list`, or pass the path of a PEFT adapter folder")
    if info.broken:
        raise WorkspaceError(f"adapter {info.path} cannot be used: {info.broken}",
                             hint="pick another adapter, or train it again")
    return info


def resolve_base(adapter: AdapterInfo, override: str = "", trust_remote_code: bool = False,
                 allow_mismatch: bool = False) -> BaseModelRef:
    """The adapter's base model, found on disk and checked against the hash in its lineage."""
    lineage = adapter.studio.get("base_model", {}) if adapter.studio else {}
    peft_config = read_json(adapter.path / ADAPTER_CONFIG)
    recorded = str(lineage.get("name_or_path") or peft_config.get("base_model_name_or_path") or "")
    revision = str(lineage.get("revision") or peft_config.get("revision") or "")
    if override:
        candidates = [override]
    else:
        candidates = [c for c in (lineage.get("resolved_path"), recorded,
                                  peft_config.get("base_model_name_or_path")) if c]
    if not candidates:
        raise ModelError(f"adapter {adapter.name} does not say which base model it was trained on",
                         hint="pass --base with the base model folder or hub id")
    folder = None
    for candidate in candidates:
        folder = find_model_folder(str(candidate), "" if override else revision)
        if folder is not None:
            break
    source = str(folder.resolve()) if folder is not None else str(candidates[0])
    if folder is None and (override or looks_like_path(source)):
        raise ModelError(
            f"the base model of adapter {adapter.name} is not on this machine: {source} does not exist",
            hint="pass --base DIR with a copy of " + (recorded or source)
                 + (f" (it must match {lineage['hash'][:19]}...)" if lineage.get("hash") else ""))
    ref = BaseModelRef(source=source, revision=revision, folder=folder, expected_hash=lineage.get("hash"))
    if folder is None:
        return ref  # a hub id that is not cached: the worker downloads it
    info = inspect_model(folder)
    check_model_safety(info, ModelOptions(name_or_path=source, trust_remote_code=trust_remote_code))
    ref.num_params = info.num_params
    ref.stored_dtype = CONFIG_DTYPES.get(str(info.text_config.get("dtype") or info.config.get("torch_dtype")))
    if ref.expected_hash and not allow_mismatch:
        actual = model_fingerprint(folder)
        if actual != ref.expected_hash:
            raise ModelError(
                f"{folder} is not the base model adapter {adapter.name} was trained on: its config.json or "
                f"weight layout differs (hash {actual[:19]}... , the adapter's lineage says "
                f"{ref.expected_hash[:19]}...)",
                hint="pass --base with the original base model; if you are sure it is the same model "
                     "saved differently, pass --allow-base-mismatch (verification still compares the "
                     "merged model with this base + adapter)")
    return ref


def pick_dtype(choice: str, base: BaseModelRef) -> str:
    """auto keeps the base model's stored precision (bf16 when unknown); never a quantized one."""
    if choice not in EXPORT_DTYPES:
        raise ConfigError(f"--dtype {choice!r} is not one of {', '.join(EXPORT_DTYPES)}",
                          hint="pass --dtype bf16, fp16 or fp32")
    if choice != "auto":
        return choice
    return base.stored_dtype or "bf16"


def choose_out(workspace: Workspace, name: str, out: str | Path | None, suffix: str = "") -> Path:
    """--out as given (refused when it holds anything), else a free <home>/exports/<name>[-vN]."""
    if out:
        path = Path(out).expanduser().resolve()
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise WorkspaceError(f"{path} already exists; an export never overwrites a folder or file",
                                 hint="choose another --out, or move that folder away first")
        if suffix and Path(str(path) + suffix).exists():
            raise WorkspaceError(f"{path}{suffix} already exists; an export never overwrites a file",
                                 hint="choose another --out, or move that file away first")
        return path
    check_name(name, "export name")

    def taken(path: Path) -> bool:
        return path.exists() or bool(suffix) and Path(str(path) + suffix).exists()

    candidate, n = workspace.exports_dir / name, 1
    while taken(candidate):
        n += 1
        candidate = workspace.exports_dir / f"{name}-v{n}"
    return candidate


def check_disk_space(out: Path, needed: int | None) -> None:
    if not needed:
        return
    probe = out
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed * 1.05 + 50 * 2**20:
        raise WorkspaceError(
            f"not enough disk space for the export: it needs about {needed / 1e9:.1f} GB, "
            f"{probe} has {free / 1e9:.1f} GB free",
            hint="free some space, pass --out on a bigger disk, or export with --dtype bf16")


def verification_prompts_file(adapter: AdapterInfo) -> Path | None:
    """The adapter's held-out data when it is still on disk, else its training data."""
    dataset = adapter.studio.get("dataset", {}) if adapter.studio else {}
    for key in ("eval_path", "path"):
        value = dataset.get(key)
        if value and Path(value).is_file():
            return Path(value)
    return None


def plan_export(workspace: Workspace, adapter_ref: str, *, out: str | Path | None = None, dtype: str = "auto",
                shard_size: str | int = DEFAULT_SHARD_SIZE, verify: bool = True, keep_failed: bool = False,
                base: str = "", device: str = "cpu", trust_remote_code: bool = False,
                allow_base_mismatch: bool = False) -> ExportPlan:
    """Check everything that can be checked without torch; raises StudioError, writes nothing."""
    shard_bytes = parse_size(shard_size)
    if device not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"--device {device!r} is not one of cpu, cuda, auto", hint="pass --device cpu or cuda")
    adapter = find_adapter(workspace, adapter_ref)
    base_ref = resolve_base(adapter, base, trust_remote_code, allow_base_mismatch)
    chosen = pick_dtype(dtype, base_ref)
    target = choose_out(workspace, adapter.name, out)
    plan = ExportPlan(adapter=adapter, base=base_ref, out=target, dtype=chosen, shard_size=shard_bytes,
                      verify=verify, keep_failed=keep_failed, device=device,
                      trust_remote_code=trust_remote_code, prompts_file=verification_prompts_file(adapter),
                      versioned=not out)
    check_disk_space(target, plan.estimated_bytes)
    quant = adapter.studio.get("base_model", {}).get("quant") if adapter.studio else None
    if quant in ("4bit", "8bit"):
        plan.warnings.append(f"the adapter was trained on a {quant} base; it is merged into the base loaded "
                             f"at full precision ({chosen}), never into quantized weights")
    if verify and plan.prompts_file is None:
        plan.warnings.append("the adapter's dataset is not on disk: verification uses built-in prompts")
    return plan


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

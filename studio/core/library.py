"""The adapter library: every folder under <home>/adapters is one adapter.

An adapter is a standard PEFT folder (adapter_config.json + adapter_model.safetensors) that
any peft user can load, plus `studio.json` with its lineage: base model and revision/hash,
dataset fingerprint, the full run config, metrics, loss history, chat template, run id.
A folder that is damaged or half-written is listed as broken with the reason; it never stops
the listing.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.atomic import TMP_PREFIX
from studio.core.errors import WorkspaceError
from studio.core.workspace import check_name

STUDIO_JSON = "studio.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLE_WEIGHTS = ("adapter_model.bin", "adapter_model.pt")


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


def read_adapter(path: Path) -> AdapterInfo:
    info = AdapterInfo(name=path.name, path=path)
    if path.name.startswith(TMP_PREFIX):
        info.broken = "left over from an interrupted write"
        return info
    try:
        info.size_bytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError as exc:
        info.broken = f"unreadable folder: {exc.strerror}"
        return info
    config_path = path / ADAPTER_CONFIG
    if not config_path.is_file():
        info.broken = f"no {ADAPTER_CONFIG}: not a PEFT adapter folder"
        return info
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError) as exc:
        info.broken = f"{ADAPTER_CONFIG} is not valid JSON ({exc})"
        return info
    info.base_model = str(config.get("base_model_name_or_path") or "")
    info.rank = config.get("r")
    info.alpha = config.get("lora_alpha")
    targets = config.get("target_modules") or []
    # peft saves "all-linear" expanded to full module paths: show the layer names.
    info.targets = [targets] if isinstance(targets, str) else sorted({t.rsplit(".", 1)[-1] for t in targets})
    if not (path / ADAPTER_WEIGHTS).is_file():
        pickles = [p for p in PICKLE_WEIGHTS if (path / p).is_file()]
        info.broken = (f"weights are pickle ({pickles[0]}), which is refused by default"
                       if pickles else f"no {ADAPTER_WEIGHTS}: the weights are missing")
    studio_path = path / STUDIO_JSON
    if studio_path.is_file():
        try:
            studio = json.loads(studio_path.read_text(encoding="utf-8"))
            if not isinstance(studio, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            info.broken = info.broken or f"{STUDIO_JSON} is not valid JSON ({exc})"
            return info
        info.studio = studio
        info.base_model = studio.get("base_model", {}).get("name_or_path") or info.base_model
        info.dataset = studio.get("dataset", {}).get("path", "")
        info.created = studio.get("created", "")
        metrics = studio.get("metrics", {})
        info.final_loss = metrics.get("final_train_loss")
        info.best_eval_loss = metrics.get("best_eval_loss")
        info.tags = [str(t) for t in studio.get("tags", []) if isinstance(t, str)]
        info.notes = str(studio.get("notes") or "")
        info.run_id = str(studio.get("run_id") or "")
        info.targets = list(studio.get("config", {}).get("lora", {}).get("targets") or info.targets)
    return info


def list_adapters(adapters_dir: Path) -> list[AdapterInfo]:
    if not adapters_dir.is_dir():
        return []
    return [read_adapter(p) for p in sorted(adapters_dir.iterdir(), key=lambda p: p.name.lower()) if p.is_dir()]


def find_adapter(adapters_dir: Path, name: str) -> AdapterInfo:
    """The library adapter called `name`; a clear error (with near names) when there is none."""
    check_name(name, "adapter name")
    path = adapters_dir / name
    if not path.is_dir():
        known = [p.name for p in adapters_dir.iterdir() if p.is_dir() and not p.name.startswith(".")] \
            if adapters_dir.is_dir() else []
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
    else the tokenizer files saved beside the weights; None when there is none."""
    try:
        studio = json.loads((folder / STUDIO_JSON).read_text(encoding="utf-8"))
        if isinstance(studio, dict) and isinstance(studio.get("chat_template"), str):
            return studio["chat_template"]
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    try:
        template = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template")
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return None
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) else None

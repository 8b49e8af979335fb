"""The adapter library: every folder under <home>/adapters is one adapter.

An adapter is a standard PEFT folder (adapter_config.json + adapter_model.safetensors) that
any peft user can load, plus `studio.json` with its lineage: base model and revision/hash,
dataset fingerprint, the full run config, metrics, loss history, chat template, run id.
A folder that is damaged or half-written is listed as broken with the reason; it never stops
the listing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.atomic import TMP_PREFIX

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
    broken: str = ""                       # why the folder cannot be used; empty when fine
    studio: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": str(self.path), "base_model": self.base_model, "rank": self.rank,
            "alpha": self.alpha, "targets": self.targets, "dataset": self.dataset, "created": self.created,
            "final_loss": self.final_loss, "best_eval_loss": self.best_eval_loss,
            "size_bytes": self.size_bytes, "tags": self.tags, "broken": self.broken or None,
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
        info.tags = list(studio.get("tags", []))
        info.targets = list(studio.get("config", {}).get("lora", {}).get("targets") or info.targets)
    return info


def list_adapters(adapters_dir: Path) -> list[AdapterInfo]:
    if not adapters_dir.is_dir():
        return []
    return [read_adapter(p) for p in sorted(adapters_dir.iterdir(), key=lambda p: p.name.lower()) if p.is_dir()]


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

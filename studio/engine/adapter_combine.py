"""A weighted combination of adapters that share a base, saved as a new adapter in the library.

peft's `add_weighted_adapter` does the combining; it needs the adapters attached to a model, so
the base is loaded once, at fp32: the new adapter's factors take the dtype of the base layer
they sit on, and fp32 keeps them exact (the trained adapters are fp32 too). The base weights
themselves are never read.

peft folds each parent's scale (alpha/r, or alpha/sqrt(r) with rsLoRA) into the new factors and
gives the new adapter alpha = r, so its own scale must be exactly 1; with rsLoRA parents peft
would scale by sqrt(r) instead, so the new adapter is saved as plain LoRA with scale 1.

Afterwards every adapted layer is checked: the new update B @ A is compared with the exact
weighted sum of the parents' updates (`relative_error`). For `cat` that must be rounding noise;
for `svd` it is the truncation error; for the pruning methods it is what they drop by design.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import studio
from studio.core.atomic import atomic_dir
from studio.core.config import ModelOptions
from studio.core.errors import ModelError
from studio.core.export_plan import read_json
from studio.core.library import ADAPTER_CONFIG, STUDIO_JSON
from studio.engine.stages import Stages
from studio.engine.worker_io import Controls, Emitter

NEW = "combined"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
                   "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json")
EXACT_TOLERANCE = 1e-4


def combine_adapters(parents: list[tuple[Path, float]], base: str, out: Path, emitter: Emitter, controls: Controls, *,
                     combination: str = "cat", density: float | None = None, svd_rank: int | None = None,
                     revision: str = "", trust_remote_code: bool = False) -> dict[str, Any]:
    import torch
    from peft import PeftModel

    from studio.engine.model_loading import load_model, resolve_source

    stages = Stages(emitter)
    options = ModelOptions(name_or_path=base, revision=revision, trust_remote_code=trust_remote_code)
    stages.enter("load_model", f"loading {base} (fp32, for the structure the adapters attach to)")
    model = load_model(resolve_source(options), options, "cpu", quant="none", dtype=torch.float32)
    stages.enter("load_adapters", f"attaching {len(parents)} adapters")
    names = [f"parent{i}" for i in range(len(parents))]
    try:
        model = PeftModel.from_pretrained(model, str(parents[0][0]), adapter_name=names[0])
        for name, (path, _) in zip(names[1:], parents[1:]):
            model.load_adapter(str(path), adapter_name=name)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelError(f"the adapters do not fit {base}: {str(exc).splitlines()[0][:300]}",
                         hint="combine adapters trained on this base model") from None
    if controls.cancel.is_set():
        raise KeyboardInterrupt

    stages.enter("combine", f"{combination} combination of " + ", ".join(f"{p.name} x {w:g}" for p, w in parents))
    torch.manual_seed(0)  # dare_* drop at random: the same inputs give the same adapter
    weights = [w for _, w in parents]
    try:
        model.add_weighted_adapter(names, weights, NEW, combination_type=combination, density=density,
                                   svd_rank=svd_rank)
    except ValueError as exc:
        raise ModelError(f"peft cannot combine these adapters: {exc}", hint="try --combination cat") from None
    layers = _fix_scale(model)
    model.peft_config[NEW].use_rslora = False

    stages.enter("check", f"comparing the new update with the exact weighted sum on {len(layers)} layers")
    relative_error = _relative_error(layers, names, weights)
    if combination == "cat" and relative_error > EXACT_TOLERANCE:
        raise RuntimeError(f"cat combination is not the exact weighted sum (relative error {relative_error:.3g})")

    stages.enter("save", f"saving {out.name} to the library")
    config = model.peft_config[NEW]
    lineage = _lineage(parents, out.name, combination, density, svd_rank, relative_error, config)
    with atomic_dir(out) as tmp:
        model.save_pretrained(str(tmp / "peft"), selected_adapters=[NEW])
        saved = tmp / "peft" / NEW if (tmp / "peft" / NEW).is_dir() else tmp / "peft"
        for file in saved.iterdir():
            shutil.move(str(file), tmp / file.name)
        shutil.rmtree(tmp / "peft")
        _point_base(tmp, parents[0][0])
        for name in TOKENIZER_FILES:  # the parents' tokenizer and chat template travel with the adapter
            if (parents[0][0] / name).is_file():
                shutil.copy2(parents[0][0] / name, tmp / name)
        (tmp / STUDIO_JSON).write_text(json.dumps(lineage, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"status": "completed", "adapter": str(out), "adapter_name": out.name, "rank": config.r,
            "relative_error": relative_error, "layers": len(layers)}


def _fix_scale(model: Any) -> list[Any]:
    """The adapted layers; the new adapter's scale is 1 (peft put the parents' scales into A/B)."""
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and NEW in m.lora_A]
    for layer in layers:
        layer.scaling[NEW] = 1.0
        layer.use_rslora[NEW] = False
    return layers


def _relative_error(layers: list[Any], names: list[str], weights: list[float]) -> float:
    """max over layers of |new update - sum(w_i * parent update)|_F / |sum(...)|_F."""
    import torch

    worst = 0.0
    with torch.no_grad():
        for layer in layers:
            exact = sum(w * layer.get_delta_weight(n) for n, w in zip(names, weights) if n in layer.lora_A)
            if not isinstance(exact, torch.Tensor):
                continue
            norm = float(exact.norm())
            error = float((layer.get_delta_weight(NEW) - exact).norm())
            worst = max(worst, error / norm if norm > 0 else error)
    return worst


def _point_base(folder: Path, first_parent: Path) -> None:
    """The new adapter names the same base as its parents (peft wrote the path it loaded from)."""
    parent = json.loads((first_parent / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    path = folder / ADAPTER_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = parent.get("base_model_name_or_path")
    config["revision"] = parent.get("revision")
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _lineage(parents: list[tuple[Path, float]], name: str, combination: str, density: float | None,
             svd_rank: int | None, relative_error: float, config: Any) -> dict[str, Any]:
    records = [read_json(path / STUDIO_JSON) for path, _ in parents]
    first = records[0]
    parent_targets = [rec.get("config", {}).get("lora", {}).get("targets") for rec in records]
    targets = config.target_modules
    if parent_targets[0] and all(t == parent_targets[0] for t in parent_targets):
        targets = parent_targets[0]  # e.g. all-linear, rather than peft's expanded module paths
    return {
        "studio_version": studio.__version__,
        "name": name,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_id": None,
        "base_model": first.get("base_model", {}),
        "dataset": {},
        "config": {"lora": {"rank": config.r, "alpha": config.lora_alpha, "dropout": 0.0,
                            "targets": [targets] if isinstance(targets, str) else
                            list(targets) if targets == parent_targets[0] else
                            sorted({str(t).rsplit(".", 1)[-1] for t in targets}),
                            "rslora": False, "dora": False}},
        "metrics": {},
        "parents": [{"name": rec.get("name") or path.name, "path": str(path), "weight": weight,
                     "created": rec.get("created"), "run_id": rec.get("run_id")}
                    for (path, weight), rec in zip(parents, records)],
        "combination": {"type": combination, "density": density, "svd_rank": svd_rank,
                        "relative_error": relative_error},
        "chat_template": first.get("chat_template"),
        "tags": ["combined"],
        "notes": "",
    }


"""Adapter-only export: the PEFT folder (optionally zipped) with its studio.json, to serve elsewhere.

vLLM (`--enable-lora --lora-modules name=DIR`) and peft (`PeftModel.from_pretrained(base, DIR)`)
load the folder as it is. What does not travel is a local path: adapters trained on a hub model
record the local cache folder in `base_model_name_or_path`, so the copy gets the hub id (and
revision) from the lineage instead; an adapter of a local base keeps the path, and the result
says that the base must be copied too. No torch: a copy and a zip.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from studio.core.atomic import TMP_PREFIX, atomic_dir
from studio.core.export_plan import choose_out, find_adapter
from studio.core.library import ADAPTER_CONFIG
from studio.core.model_info import looks_like_path
from studio.core.workspace import Workspace

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def export_adapter(workspace: Workspace, ref: str, out: str | Path | None = None,
                   zip_it: bool = False) -> dict[str, Any]:
    info = find_adapter(workspace, ref)
    if zip_it and out and str(out).lower().endswith(".zip"):
        out = str(out)[:-4]
    target = choose_out(workspace, f"{info.name}-adapter", out, suffix=".zip" if zip_it else "")
    base, notes = _portable_base(info.studio, info.path)
    if zip_it:
        result = target.parent / (target.name + ".zip")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=TMP_PREFIX, dir=target.parent) as scratch:
            folder = Path(scratch) / target.name
            folder.mkdir()
            files = _copy_adapter(info.path, folder, base)
            partial = Path(scratch) / "adapter.zip"
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name in files:
                    archive.write(folder / name, f"{target.name}/{name}")
            if result.exists():
                raise FileExistsError(f"{result} already exists")
            os.replace(partial, result)
    else:
        result = target
        if target.is_dir():
            target.rmdir()  # empty (choose_out refuses anything else)
        with atomic_dir(target) as tmp:
            files = _copy_adapter(info.path, tmp, base)
    return {"status": "completed", "adapter": info.name, "out": str(result), "files": files,
            "base_model": base, "notes": notes, "size_bytes": result.stat().st_size if zip_it else
            sum((result / f).stat().st_size for f in files)}


def _copy_adapter(source: Path, dest: Path, base: str) -> list[str]:
    """Every file of the adapter folder except pickles; adapter_config.json points at `base`."""
    copied = []
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.suffix in PICKLE_SUFFIXES or path.name.startswith(TMP_PREFIX):
            continue
        shutil.copy2(path, dest / path.name)
        copied.append(path.name)
    config_path = dest / ADAPTER_CONFIG
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return copied


def _portable_base(lineage: dict[str, Any], adapter: Path) -> tuple[str, list[str]]:
    """The base name another machine can resolve: the hub id when the adapter was trained on one."""
    recorded = str(lineage.get("base_model", {}).get("name_or_path") or "")
    if recorded and not looks_like_path(recorded):
        return recorded, [f"base_model_name_or_path is the hub id {recorded}, so peft and vLLM find the base "
                          "on any machine"]
    config = json.loads((adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    base = recorded or str(config.get("base_model_name_or_path") or "")
    return base, [f"the base model is the local folder {base}: copy it to the other machine too, and "
                  "load it with PeftModel.from_pretrained(base_model, adapter_folder) or vLLM's --model"]

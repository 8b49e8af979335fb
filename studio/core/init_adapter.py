"""Checks on `train.init_adapter`, the library adapter a run starts from (e.g. SFT before DPO).

Checked before any worker starts: the adapter exists in this workspace, is not damaged, and was
made for the run's base model (the same content hash, or at least layers of the same shapes).
A run on another base would load the adapter's weights onto layers they were not trained for.
"""

from __future__ import annotations

from studio.core.adapter_compat import check_base
from studio.core.config import RunConfig
from studio.core.errors import ModelError
from studio.core.library import AdapterInfo, find_adapter
from studio.core.model_info import find_model_folder
from studio.core.workspace import Workspace, check_name


def check_init_adapter(config: RunConfig, workspace: Workspace) -> AdapterInfo | None:
    """The adapter named by train.init_adapter, checked; None when the run starts a fresh LoRA."""
    name = config.train.init_adapter
    if not name:
        return None
    check_name(name, "init adapter name (--init-adapter)")
    info = find_adapter(workspace.adapters_dir, name)
    if info.broken:
        raise ModelError(f"the init adapter {name} cannot be used: {info.broken}",
                         hint="repair or re-import it (`studio adapters list` shows why), or pick another")
    if find_model_folder(config.model.name_or_path, config.model.revision) is None:
        return info       # a hub id not downloaded yet: the worker loads it and peft checks the shapes
    check = check_base(info.path, workspace, given=config.model.name_or_path)
    if check.status in ("mismatch", "different"):
        raise ModelError(f"the init adapter {name} was not trained on {config.model.name_or_path}: {check.message}",
                         hint=f"use the base it was trained on ({check.claimed or 'see studio adapters show'}) "
                              "with --model, or start a fresh adapter without --init-adapter")
    return info

"""Turning a config into a run folder, after the checks that need no torch.

The CLI and the GUI both call `precheck` before starting a worker, so a typo in a path, a
dataset with broken rows or a target module the model lacks is reported in a fraction of a
second instead of after the ten seconds it takes a worker to import torch. The worker checks
again (the files may change in between); these checks are for fast feedback.
"""

from __future__ import annotations

from pathlib import Path

from studio.core.config import RunConfig
from studio.core.config_io import save_config
from studio.core.datasets import ImportReport, import_options, require_clean
from studio.core.errors import ModelError
from studio.core.init_adapter import check_init_adapter
from studio.core.model_info import (ModelInfo, check_model_safety, find_model_folder, inspect_model, looks_like_path,
                                    read_chat_template)
from studio.core.runs import RUN_CONFIG
from studio.core.tracking import check_trackers
from studio.core.workspace import Workspace, check_name, default_home, slug


def default_name(config: RunConfig) -> str:
    model = slug(Path(config.model.name_or_path.rstrip("/\\")).name or "model", 30)
    data = slug(Path(config.data.path).stem or "data", 30)
    return f"{model}-{data}"


def precheck(config: RunConfig, workspace: Workspace | None = None) -> tuple[ImportReport, ModelInfo | None]:
    """Validate config, data and (when on disk) the model; raises StudioError on the first problem."""
    config.validate()
    check_trackers(list(config.train.report_to))   # a missing tracker package, before the worker starts
    if config.name:
        check_name(config.name, "adapter name (--name)")
    objective = config.train.objective
    report = import_options(config.data, objective=objective)
    require_clean(report, config.data.skip_bad_rows)
    if config.data.eval_path:
        require_clean(import_options(config.data, config.data.eval_path, objective=objective),
                      config.data.skip_bad_rows)
    init = check_init_adapter(config, workspace or Workspace(default_home().resolve()))
    if config.model.chat_template:
        read_chat_template(config.model.chat_template)
    folder = find_model_folder(config.model.name_or_path, config.model.revision)
    if folder is None:
        if looks_like_path(config.model.name_or_path):
            raise ModelError(f"model folder {config.model.name_or_path} does not exist",
                             hint="check the path given to --model")
        return report, None  # a hub id: the worker downloads it
    info = inspect_model(folder)
    check_model_safety(info, config.model)
    if init is None:  # a run that continues an adapter keeps its targets
        info.check_targets(list(config.lora.targets))
    return report, info


def create_run(workspace: Workspace, config: RunConfig) -> Path:
    """A new run folder holding the resolved config; the worker does the rest."""
    if not config.name:
        config.name = default_name(config)
    for section in (config.data,):
        section.path = str(Path(section.path).expanduser().resolve())
        if section.eval_path:
            section.eval_path = str(Path(section.eval_path).expanduser().resolve())
    if config.model.chat_template:
        config.model.chat_template = str(Path(config.model.chat_template).expanduser().resolve())
    model_path = Path(config.model.name_or_path).expanduser()
    if model_path.exists():
        config.model.name_or_path = str(model_path.resolve())
    run_dir = workspace.new_run_dir(config.name)
    run_id = run_dir.name
    save_config(config, run_dir / RUN_CONFIG,
                header=f"LoRA Studio run {run_id}\nRepeat it with: studio train --config {run_dir / RUN_CONFIG}")
    return run_dir

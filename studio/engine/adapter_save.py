"""Writing the finished adapter into the library: PEFT folder + tokenizer + studio.json, atomically."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import studio
from studio.core.atomic import atomic_dir
from studio.core.config import RunConfig
from studio.core.config_io import config_to_dict
from studio.core.library import STUDIO_JSON, model_fingerprint
from studio.core.objective_summary import objective_of_config
from studio.core.run_history import RunHistory
from studio.core.workspace import Workspace
from studio.engine import failpoints

HISTORY_POINTS = 200


def save_adapter(model: Any, tokenizer: Any, config: RunConfig, run_dir: Path, source: str, data_print: str,
                 stats: dict[str, Any], history: RunHistory, state: Any, train_seconds: float,
                 train_metrics: dict[str, Any], system_prompt: dict[str, Any] | None = None) -> Path:
    """Save under a free name (name, name-v2, ...); never replaces an existing adapter. `system_prompt`:
    what core.datasets.system_prompts found the run trained with (None: none), offered again by chat."""
    workspace = Workspace(run_dir.parent.parent)
    lineage = lineage_record(config, run_dir, source, data_print, stats, history, state, train_seconds,
                             train_metrics, tokenizer)
    lineage["system_prompt"] = system_prompt
    for _ in range(100):
        name = workspace.free_adapter_name(config.name)
        try:
            with atomic_dir(workspace.adapter_dir(name), owner=run_dir.name) as tmp:
                model.save_pretrained(str(tmp), selected_adapters=["default"])  # not TRL's frozen "ref" copy
                failpoints.hit("kill_in_adapter_save")
                tokenizer.save_pretrained(str(tmp))
                _point_base_at_source(tmp, config, source)
                lineage["name"] = name
                (tmp / STUDIO_JSON).write_text(json.dumps(lineage, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
            return workspace.adapter_dir(name)
        except FileExistsError:  # another run took the name between the check and the rename
            continue
    raise RuntimeError("could not find a free adapter name")


def _point_base_at_source(folder: Path, config: RunConfig, source: str) -> None:
    """peft records the path it loaded from; keep the name the user gave (a hub id stays a hub id,
    a local folder becomes absolute so the adapter loads from anywhere)."""
    path = folder / "adapter_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    local = Path(source)
    data["base_model_name_or_path"] = str(local.resolve()) if local.exists() else config.model.name_or_path
    if config.model.revision:
        data["revision"] = config.model.revision
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def lineage_record(config: RunConfig, run_dir: Path, source: str, data_print: str, stats: dict[str, Any],
                   history: RunHistory, state: Any, train_seconds: float, train_metrics: dict[str, Any],
                   tokenizer: Any) -> dict[str, Any]:
    local = Path(source)
    steps, losses = history.points("loss")
    eval_steps, eval_losses = history.points("eval_loss")
    stride = max(1, len(steps) // HISTORY_POINTS)
    return {
        "studio_version": studio.__version__,
        "name": config.name,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_id": run_dir.name,
        "base_model": {
            "name_or_path": config.model.name_or_path,
            "resolved_path": str(local.resolve()) if local.exists() else None,
            "revision": config.model.revision or _hub_commit(local),
            "hash": model_fingerprint(local) if local.is_dir() else None,
            "quant": config.model.quant,
        },
        "dataset": {
            "path": str(Path(config.data.path).expanduser().resolve()),
            "eval_path": str(Path(config.data.eval_path).expanduser().resolve()) if config.data.eval_path else None,
            "format": config.data.format,
            "fingerprint": data_print,
            "train_examples": stats.get("tokens", {}).get("examples"),
        },
        "objective": objective_record(config, run_dir),
        "config": config_to_dict(config),
        "metrics": {
            "final_train_loss": losses[-1] if losses else None,
            "best_eval_loss": min(eval_losses) if eval_losses else None,
            "final_eval_loss": eval_losses[-1] if eval_losses else None,
            "steps": state.global_step,
            "epochs": round(state.epoch or 0.0, 3),
            "train_seconds": round(train_seconds, 1),
            "train_tokens": state.num_input_tokens_seen,
            **_preference_figures(history),
        },
        "loss_history": [[s, round(v, 5)] for s, v in list(zip(steps, losses))[::stride]],
        "eval_history": [[s, round(v, 5)] for s, v in zip(eval_steps, eval_losses)],
        "chat_template": getattr(tokenizer, "chat_template", None),
        "tags": [],
        "notes": "",
    }


def objective_record(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """What the adapter was trained for (core.objective_summary's block), with the run id and the
    objective of the adapter it started from, read from that adapter's studio.json."""
    record = objective_of_config(config)
    if config.train.init_adapter:
        folder = Workspace(run_dir.parent.parent).adapter_dir(config.train.init_adapter)
        try:
            previous = json.loads((folder / STUDIO_JSON).read_text(encoding="utf-8"))
            record["init_adapter"].update(run_id=previous.get("run_id"),
                                          objective=(previous.get("objective") or {}).get("name", "sft"))
        except (OSError, ValueError, AttributeError):
            pass
    return record


def _preference_figures(history: RunHistory) -> dict[str, Any]:
    """The last train and eval preference accuracy and reward margin, when the objective logs them."""
    out = {}
    for key in ("pref_accuracy", "reward_margin", "eval_pref_accuracy", "eval_reward_margin"):
        _steps, values = history.points(key)
        if values:
            out["final_" + key] = round(values[-1], 4)
    return out


def _hub_commit(path: Path) -> str | None:
    """A hub cache snapshot folder is named by its commit hash."""
    parts = path.resolve().parts if path.exists() else ()
    if len(parts) >= 2 and parts[-2] == "snapshots":
        return parts[-1]
    return None

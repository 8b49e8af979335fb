"""Experiment trackers (train.report_to): where each one writes, checked and shown without torch.

The logging itself is transformers' own TensorBoardCallback, MLflowCallback and WandbCallback
(`TrainingArguments(report_to=...)`); studio only points them at the workspace through the
environment variables those callbacks read, and records where they wrote in the run folder:

    tensorboard  TENSORBOARD_LOGGING_DIR = <run>/tensorboard
    mlflow       MLFLOW_TRACKING_URI = <home>/mlruns (a file store) unless the user set one;
                 MLFLOW_EXPERIMENT_NAME = lora-studio; the MLflow run is named by the run id
    wandb        WANDB_MODE = offline unless the user set it (no login, no network),
                 WANDB_DIR = <run>, WANDB_PROJECT = lora-studio

A variable the user has set is never overridden, so a team's MLflow server or an online W&B
project works by setting the tracker's usual variables. MLflow 3 refuses file stores unless
MLFLOW_ALLOW_FILE_STORE is true; studio opts in for the workspace store only, because a file
store needs nothing beyond mlflow-skinny (a database store needs SQLAlchemy and Alembic).

The worker writes `<run>/tracking.json` once training begins (tracker -> where, run ids), which is
what `studio runs show` and the Runs page read; resuming a run continues the same MLflow / W&B run
from the ids recorded there. This module imports no tracker: `find_spec` only, so the GUI can
check a config in a millisecond.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from studio.core.errors import ConfigError

TRACKERS = ("tensorboard", "mlflow", "wandb")
RECORD = "tracking.json"
EXPERIMENT = "lora-studio"
MLRUNS = "mlruns"
TITLES = {"tensorboard": "TensorBoard", "mlflow": "MLflow", "wandb": "W&B"}
# Tracker -> (modules any one of which makes it usable, what to install).
PACKAGES = {
    "tensorboard": (("tensorboard", "tensorboardX"), "pip install tensorboard"),
    "mlflow": (("mlflow",), "pip install mlflow-skinny  (or the full `mlflow` for its web UI)"),
    "wandb": (("wandb",), "pip install wandb"),
}


def check_trackers(trackers: list[str]) -> None:
    """Raise a ConfigError naming the package to install for the first tracker that is missing.

    Called before a worker starts (run_setup.precheck) and again in the worker, so the user
    gets this message instead of transformers' RuntimeError from deep inside Trainer()."""
    for tracker in trackers:
        if tracker not in PACKAGES:
            raise ConfigError(f"train.report_to: unknown tracker {tracker!r}",
                              hint=f"use one or more of {', '.join(TRACKERS)} (e.g. --report-to mlflow)")
        modules, install = PACKAGES[tracker]
        if not any(_installed(m) for m in modules):
            raise ConfigError(f"train.report_to includes {tracker}, but {modules[0]} is not installed "
                              "in this Python environment",
                              hint=f"{install}; or drop {tracker} from --report-to")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):        # a broken leftover install
        return False


def workspace_store(home: Path) -> Path:
    """The workspace's own MLflow file store."""
    return home / MLRUNS


def tracking_environment(trackers: list[str], run_dir: Path, home: Path, environ: Mapping[str, str],
                         record: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The environment variables to set for the trackers, leaving alone those already set.

    `record` is the run's tracking.json from an earlier attempt: on resume the MLflow run and the
    W&B run recorded there are continued (MLFLOW_RUN_ID, WANDB_RUN_ID), not started anew."""
    record = record or {}
    out: dict[str, str] = {}

    def default(key: str, value: str) -> None:
        if not environ.get(key):
            out[key] = value

    if "tensorboard" in trackers:
        default("TENSORBOARD_LOGGING_DIR", str(run_dir / "tensorboard"))
    if "mlflow" in trackers:
        if not environ.get("MLFLOW_TRACKING_URI"):
            out["MLFLOW_TRACKING_URI"] = workspace_store(home).resolve().as_uri()
            default("MLFLOW_ALLOW_FILE_STORE", "true")
        default("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
        if (record.get("mlflow") or {}).get("run_id"):
            default("MLFLOW_RUN_ID", record["mlflow"]["run_id"])
    if "wandb" in trackers:
        default("WANDB_MODE", "offline")
        default("WANDB_DIR", str(run_dir))
        default("WANDB_PROJECT", EXPERIMENT)
        if (record.get("wandb") or {}).get("run_id"):
            default("WANDB_RUN_ID", record["wandb"]["run_id"])
            default("WANDB_RESUME", "allow")
    return out


def flat_config(config: Any) -> dict[str, str]:
    """The run config as MLflow params: `lora.rank`, `train.lr`, ...; lists joined with commas,
    so every value is the text the user would write on the command line."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                out[f"{f.name}.{sub.name}"] = _text(getattr(value, sub.name))
        else:
            out[f.name] = _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def read_record(run_dir: Path) -> dict[str, Any]:
    """What the worker recorded in tracking.json ({} when it has not, or the file is unreadable)."""
    try:
        data = json.loads((run_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclasses.dataclass(frozen=True)
class TrackingLink:
    """One place a tracker wrote a run: a local folder or a URL to open, and how to view it."""

    tracker: str
    title: str
    target: str          # a folder path, or a URL when the tracker is a server
    local: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def tracking_links(run_dir: Path) -> list[TrackingLink]:
    """Where the run's trackers wrote, from tracking.json; a TensorBoard folder is also found
    without it (runs from before the record existed)."""
    record = read_record(run_dir)
    links: list[TrackingLink] = []
    board = (record.get("tensorboard") or {}).get("dir") or (
        str(run_dir / "tensorboard") if (run_dir / "tensorboard").is_dir() else "")
    if board:
        links.append(TrackingLink("tensorboard", TITLES["tensorboard"], board, True,
                                  f"view with: tensorboard --logdir {board}"))
    if record.get("mlflow"):
        links.append(_mlflow_link(record["mlflow"]))
    if record.get("wandb"):
        links.append(_wandb_link(record["wandb"]))
    return links


def _mlflow_link(m: Mapping[str, Any]) -> TrackingLink:
    uri = str(m.get("tracking_uri") or "")
    what = f"experiment {m.get('experiment')}, run {m.get('run_name')} ({m.get('run_id')})"
    if m.get("artifact_uri"):
        what += "; adapter logged as artifact 'adapter'"
    folder = store_folder(uri)
    if folder is not None:
        # MLflow 3 opens a file store only with this opt-in (see the module docstring).
        return TrackingLink("mlflow", TITLES["mlflow"], str(folder), True,
                            f"{what}; view with: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {uri}")
    target = uri.rstrip("/")
    if target.startswith(("http://", "https://")) and m.get("experiment_id") and m.get("run_id"):
        target += f"/#/experiments/{m['experiment_id']}/runs/{m['run_id']}"
    return TrackingLink("mlflow", TITLES["mlflow"], target, False, what)


def _wandb_link(w: Mapping[str, Any]) -> TrackingLink:
    folder = str(w.get("dir") or "")
    if w.get("mode") == "offline" or not w.get("url"):
        return TrackingLink("wandb", TITLES["wandb"], folder, True,
                            f"offline run {w.get('run_id')} of project {w.get('project')}; "
                            f"upload with: wandb sync {folder}")
    return TrackingLink("wandb", TITLES["wandb"], str(w["url"]), False,
                        f"run {w.get('run_id')} of project {w.get('project')}; files in {folder}")


def store_folder(uri: str) -> Path | None:
    """The folder of a file-store tracking URI (file:///..., or a plain path); None for servers
    and databases."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(unquote(parsed.path)))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):  # C:\ on Windows
        return Path(uri) if uri else None
    return None

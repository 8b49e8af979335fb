"""The worker's side of train.report_to: environment for transformers' tracker callbacks, the
run config as params, the final adapter as an MLflow artifact, and tracking.json.

transformers' MLflowCallback / WandbCallback / TensorBoardCallback do the logging (metrics every
`log_every` steps, TrainingArguments and the model config as params). What they cannot know is
studio's own config and run id, so `TrackingCallback` runs after them at train begin and adds
`lora.rank`, `train.lr`, ... to the run they opened, and records where it is (core/tracking.py
reads that record for the Runs page and `studio runs show`).

The adapter artifact is the saved library folder (PEFT files + studio.json), logged once the run
completes. HF_MLFLOW_LOG_ARTIFACTS is not used: it logs every whole checkpoint (optimizer state
included) as a pyfunc model, which is large and needs the full mlflow package.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from studio.core.atomic import atomic_write_json
from studio.core.config import RunConfig
from studio.core.tracking import RECORD, check_trackers, flat_config, read_record, tracking_environment
from studio.engine.worker_io import Emitter


def prepare_environment(config: RunConfig, run_dir: Path) -> dict[str, str]:
    """Check the trackers are installed and point them at the workspace; returns what was set.

    The callbacks read these variables when the Trainer creates them, so this runs before it."""
    trackers = list(config.train.report_to)
    check_trackers(trackers)
    home = run_dir.resolve().parent.parent          # <home>/runs/<run-id>
    values = tracking_environment(trackers, run_dir.resolve(), home, os.environ, read_record(run_dir))
    os.environ.update(values)
    return values


class TrackingCallback(TrainerCallback):
    """Adds studio's config to the tracker runs transformers opened, and records them.

    Added after the Trainer is built, so its on_train_begin runs after the integrations' own
    (which open the MLflow / W&B run there)."""

    def __init__(self, config: RunConfig, run_dir: Path, emitter: Emitter) -> None:
        self.config = config
        self.run_dir = run_dir
        self.emitter = emitter

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        trackers = self.config.train.report_to
        record: dict[str, Any] = {}
        if "tensorboard" in trackers:
            record["tensorboard"] = {"dir": os.environ.get("TENSORBOARD_LOGGING_DIR", "")}
        for name, describe in (("mlflow", self._mlflow_run), ("wandb", self._wandb_run)):
            if name in trackers:
                record[name] = _unless_it_fails(self.emitter, name, "adding the run config", describe, {})
        previous = read_record(self.run_dir)        # keep an artifact logged by an earlier attempt
        for name, entry in record.items():
            if entry and (previous.get(name) or {}).get("artifact_uri") and entry.get("run_id") == \
                    previous[name].get("run_id"):
                entry["artifact_uri"] = previous[name]["artifact_uri"]
        atomic_write_json(self.run_dir / RECORD, record)
        self.emitter.emit("log", message="tracking: " + "; ".join(
            f"{name} -> {where}" for name, where in _where(record).items()), tracking=record)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # WandbCallback leaves its run open until the process exits; closing it here writes the
        # offline run's summary now, before the adapter is saved, so it is complete on disk.
        if "wandb" in self.config.train.report_to and state.is_world_process_zero:
            import wandb

            if wandb.run is not None:
                wandb.finish()

    def _mlflow_run(self) -> dict[str, Any]:
        import mlflow

        run = mlflow.active_run()
        if run is None:                     # DISABLE_MLFLOW_INTEGRATION, or another rank
            return {}
        mlflow.log_params(flat_config(self.config), synchronous=True)
        mlflow.set_tags({"studio.run_id": self.run_dir.name, "studio.run_dir": str(self.run_dir.resolve()),
                         "studio.objective": self.config.train.objective})
        experiment = mlflow.get_experiment(run.info.experiment_id)
        return {"tracking_uri": mlflow.get_tracking_uri(), "experiment": experiment.name,
                "experiment_id": run.info.experiment_id, "run_id": run.info.run_id,
                "run_name": run.info.run_name}

    def _wandb_run(self) -> dict[str, Any]:
        import wandb

        run = wandb.run
        if run is None:
            return {}
        run.config.update({"studio": dataclasses.asdict(self.config)}, allow_val_change=True)
        folder = Path(run.dir).parent if Path(run.dir).name == "files" else Path(run.dir)
        return {"dir": str(folder), "mode": "offline" if run.offline else "online", "run_id": run.id,
                "project": run.project, "url": None if run.offline else run.url}


def log_adapter(run_dir: Path, adapter: Path, emitter: Emitter) -> None:
    """Log the saved adapter folder as the MLflow run's `adapter` artifact.

    MLflowCallback has ended the run by now (at train end); the client logs to it by id, which
    works for a finished run in any store. A tracker that fails here (a server gone away) is a
    warning: the adapter is in the library already, and the run completed."""
    record = read_record(run_dir)
    entry = record.get("mlflow") or {}
    if not entry.get("run_id"):
        return

    def upload() -> None:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=entry["tracking_uri"])
        client.log_artifacts(entry["run_id"], str(adapter), artifact_path="adapter")
        entry["artifact_uri"] = client.get_run(entry["run_id"]).info.artifact_uri.rstrip("/") + "/adapter"
        atomic_write_json(run_dir / RECORD, record)
        emitter.emit("log", message=f"tracking: adapter logged to MLflow run {entry['run_id']} "
                                    f"as {entry['artifact_uri']}")

    _unless_it_fails(emitter, "mlflow", "logging the adapter", upload, None)


def _unless_it_fails(emitter: Emitter, tracker: str, doing: str, action: Any, fallback: Any) -> Any:
    """Run a tracker call; if it raises, warn and go on. Trackers are a copy of what the run
    folder holds, so a store or server that fails must not cost the user the training run."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - any tracker error; the message says which and why
        emitter.emit("warning", kind="tracking", message=f"{tracker}: {doing} failed ({type(exc).__name__}: "
                                                         f"{str(exc).splitlines()[0] if str(exc) else ''}); "
                                                         "the run goes on, its folder has everything")
        return fallback


def _where(record: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, entry in record.items():
        if not entry:
            out[name] = "not started (the integration is disabled)"
        elif name == "tensorboard":
            out[name] = entry["dir"]
        elif name == "mlflow":
            out[name] = f"{entry['tracking_uri']} (experiment {entry['experiment']}, run {entry['run_name']})"
        else:
            out[name] = f"{entry['dir']} ({entry['mode']})"
    return out

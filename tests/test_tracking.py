"""Experiment tracking (train.report_to): the workspace's MLflow store, W&B offline, TensorBoard,
what `studio runs show` prints, and the error when a tracker is not installed.

The trained tests run one real 2-step training of the tiny model with all three trackers and read
the results back with the trackers' own clients. They need the optional packages (the test
extras): mlflow-skinny, wandb and tensorboard; without one they skip and say which.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import last_json, studio, write_jsonl
from studio.cli import main
from studio.core.config import RunConfig
from studio.core.errors import ConfigError
from studio.core.run_setup import precheck
from studio.core.tracking import (RECORD, check_trackers, flat_config, store_folder, tracking_environment,
                                  tracking_links)

# Variables a developer's shell may hold; each would send the test's runs somewhere else.
TRACKER_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_ALLOW_FILE_STORE",
                     "TENSORBOARD_LOGGING_DIR", "WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "WANDB_RUN_ID",
                     "WANDB_RESUME", "WANDB_API_KEY", "DISABLE_MLFLOW_INTEGRATION", "HF_MLFLOW_LOG_ARTIFACTS")


def need(module: str, package: str) -> None:
    pytest.importorskip(module, reason=f"{package} is not installed (pip install {package}, or the "
                                       "project's test extras)")


# ---- without training ---------------------------------------------------------------------------------
def test_environment_points_trackers_at_the_workspace(tmp_path: Path) -> None:
    home, run = tmp_path / "home", tmp_path / "home" / "runs" / "r1"
    env = tracking_environment(["mlflow", "wandb", "tensorboard"], run, home, {})
    assert env["MLFLOW_TRACKING_URI"] == (home / "mlruns").resolve().as_uri()
    assert store_folder(env["MLFLOW_TRACKING_URI"]) == (home / "mlruns").resolve()
    assert env["MLFLOW_EXPERIMENT_NAME"] == "lora-studio" and env["MLFLOW_ALLOW_FILE_STORE"] == "true"
    assert env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == str(run)
    assert env["TENSORBOARD_LOGGING_DIR"] == str(run / "tensorboard")
    assert "MLFLOW_RUN_ID" not in env and "WANDB_RUN_ID" not in env
    assert tracking_environment([], run, home, {}) == {}


def test_users_own_tracker_settings_win_and_resume_continues_the_runs(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    user = {"MLFLOW_TRACKING_URI": "http://mlflow.example:5000", "WANDB_MODE": "online",
            "MLFLOW_EXPERIMENT_NAME": "team"}
    env = tracking_environment(["mlflow", "wandb"], run, tmp_path, user)
    assert not set(env) & set(user)
    assert "MLFLOW_ALLOW_FILE_STORE" not in env          # only the workspace's own store opts in
    record = {"mlflow": {"run_id": "abc123"}, "wandb": {"run_id": "w1"}}
    resumed = tracking_environment(["mlflow", "wandb"], run, tmp_path, {}, record)
    assert resumed["MLFLOW_RUN_ID"] == "abc123"
    assert resumed["WANDB_RUN_ID"] == "w1" and resumed["WANDB_RESUME"] == "allow"


def test_config_becomes_flat_params() -> None:
    config = RunConfig()
    config.lora.rank, config.lora.targets = 8, ["q_proj", "v_proj"]
    params = flat_config(config)
    assert params["lora.rank"] == "8" and params["lora.targets"] == "q_proj,v_proj"
    assert params["train.lr"] == str(config.train.lr) and params["data.columns"] == "{}"
    assert all(isinstance(v, str) for v in params.values())


def test_unknown_or_repeated_tracker_is_a_config_error() -> None:
    config = RunConfig()
    config.model.name_or_path, config.data.path = "m", "d.jsonl"
    config.train.report_to = ["comet"]
    with pytest.raises(ConfigError, match="unknown tracker 'comet'") as err:
        config.validate()
    assert "wandb" in err.value.hint
    config.train.report_to = ["mlflow", "mlflow"]
    with pytest.raises(ConfigError, match="twice"):
        config.validate()


def test_missing_tracker_package_stops_before_the_worker(monkeypatch: pytest.MonkeyPatch, home: Path,
                                                         tiny_model: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    import studio.core.tracking as tracking

    monkeypatch.setattr(tracking, "_installed", lambda module: module not in ("mlflow", "wandb"))
    with pytest.raises(ConfigError, match="mlflow is not installed") as err:
        check_trackers(["tensorboard", "mlflow"])
    assert "pip install mlflow-skinny" in err.value.hint

    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "completion": "b"}] * 4)
    config = RunConfig()
    config.model.name_or_path, config.data.path = str(tiny_model), str(data)
    config.train.report_to = ["wandb"]
    with pytest.raises(ConfigError, match="wandb is not installed"):
        precheck(config)
    code = main(["train", "--model", str(tiny_model), "--data", str(data), "--report-to", "mlflow", "--json"])
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert code == 2 and error["kind"] == "config" and "pip install mlflow-skinny" in error["hint"]
    assert not (home / "runs").is_dir() or not any((home / "runs").iterdir())    # no run, no worker


def test_links_of_a_server_run_and_an_old_tensorboard_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "tensorboard").mkdir(parents=True)       # written before tracking.json existed
    (run / RECORD).write_text(json.dumps({"mlflow": {
        "tracking_uri": "http://mlflow.example:5000", "experiment": "team", "experiment_id": "7",
        "run_id": "abc", "run_name": "r"}}))
    links = {link.tracker: link for link in tracking_links(run)}
    assert links["tensorboard"].local and links["tensorboard"].target == str(run / "tensorboard")
    assert not links["mlflow"].local
    assert links["mlflow"].target == "http://mlflow.example:5000/#/experiments/7/runs/abc"


def test_a_tracker_failing_after_training_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need("mlflow", "mlflow-skinny")
    from helpers import EventRecorder
    from studio.engine.tracking import log_adapter

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run, adapter = tmp_path / "run", tmp_path / "adapter"
    run.mkdir()
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (run / RECORD).write_text(json.dumps({"mlflow": {"tracking_uri": (tmp_path / "mlruns").as_uri(),
                                                     "run_id": "0" * 32}}))     # no such MLflow run
    events = EventRecorder()
    log_adapter(run, adapter, events)           # returns: the run completed, the adapter is saved
    warning = events.of_type("warning")[0]
    assert warning["kind"] == "tracking" and "mlflow: logging the adapter failed" in warning["message"]
    assert "artifact_uri" not in json.loads((run / RECORD).read_text())["mlflow"]


# ---- one real training with all three trackers ---------------------------------------------------------
@pytest.fixture(scope="module")
def tracked_run(tiny_model: Path, demo_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 2-step run with --report-to mlflow,wandb,tensorboard in a fresh workspace."""
    need("mlflow", "mlflow-skinny")
    need("wandb", "wandb")
    need("tensorboard", "tensorboard")
    root = tmp_path_factory.mktemp("tracking")
    data = write_jsonl(root / "train.jsonl", demo_data[0].read_text().splitlines()[:24])
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        for name in TRACKER_VARIABLES:
            mp.delenv(name, raising=False)
        result = studio("train", "--model", str(tiny_model), "--data", str(data), "--max-steps", "2",
                        "--batch-size", "4", "--eval-split", "0", "--save-every", "0", "--name", "tracked",
                        "--report-to", "mlflow,wandb,tensorboard", "--json", home=home)
        assert result.returncode == 0, result.stderr + result.stdout
        out = last_json(result.stdout)
        shown = studio("runs", "show", out["run_id"], home=home)
        shown_json = studio("runs", "show", out["run_id"], "--json", home=home)
    assert out["status"] == "completed"
    return {"home": home, "out": out, "run_dir": Path(out["run_dir"]), "shown": shown,
            "shown_json": last_json(shown_json.stdout)}


@pytest.mark.slow
def test_mlflow_store_holds_config_params_loss_and_the_adapter(tracked_run: dict,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    home, run_dir = tracked_run["home"], tracked_run["run_dir"]
    record = json.loads((run_dir / RECORD).read_text())["mlflow"]
    assert record["tracking_uri"] == (home / "mlruns").resolve().as_uri()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")      # MLflow 3 opens file stores only so
    client = MlflowClient(tracking_uri=record["tracking_uri"])
    experiment = client.get_experiment_by_name("lora-studio")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [record["run_id"]]
    run = runs[0]
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    params = run.data.params
    assert params["lora.rank"] == "16" and params["train.max_steps"] == "2"
    assert params["train.report_to"] == "mlflow,wandb,tensorboard" and params["name"] == "tracked"
    assert params["learning_rate"]                     # transformers' own TrainingArguments params too
    assert run.data.tags["studio.run_id"] == run_dir.name
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2] and all(m.value > 0 for m in losses)
    artifacts = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert {"adapter_config.json", "adapter_model.safetensors", "studio.json"} <= artifacts
    assert not any("checkpoint" in a.path for a in client.list_artifacts(run.info.run_id))


@pytest.mark.slow
def test_wandb_runs_offline_in_the_run_folder(tracked_run: dict) -> None:
    run_dir = tracked_run["run_dir"]
    record = json.loads((run_dir / RECORD).read_text())["wandb"]
    assert record["mode"] == "offline" and record["project"] == "lora-studio" and record["url"] is None
    folder = Path(record["dir"])
    assert folder.parent == run_dir / "wandb" and folder.name.startswith("offline-run-")
    # The run's records (binary protobuf): the loss series, studio's run id as the name, its config.
    stream = (folder / f"run-{record['run_id']}.wandb").read_bytes()
    assert b"train/loss" in stream and run_dir.name.encode() in stream and b'"rank"' in stream


@pytest.mark.slow
def test_tensorboard_events_and_runs_show_paths(tracked_run: dict) -> None:
    run_dir = tracked_run["run_dir"]
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    text = tracked_run["shown"].stdout
    record = json.loads((run_dir / RECORD).read_text())
    assert f"tensorboard    {run_dir / 'tensorboard'}" in text
    assert f"mlflow         {tracked_run['home'] / 'mlruns'}" in text and record["mlflow"]["run_id"] in text
    assert "mlflow ui --backend-store-uri" in text and f"wandb sync {record['wandb']['dir']}" in text
    shown = {t["tracker"]: t for t in tracked_run["shown_json"]["run"]["tracking"]}
    assert shown["mlflow"]["target"] == str(tracked_run["home"] / "mlruns") and shown["mlflow"]["local"]
    assert shown["wandb"]["target"] == record["wandb"]["dir"]

"""Crashes, cancels, full disks and races: the run is reported truthfully and nothing is lost.

Each test runs the real training worker on the tiny model. Failures that cannot be timed from
outside (a kill in the middle of writing the adapter, a disk that fills during a checkpoint) are
triggered with failpoints (studio/engine/failpoints.py); the kill -9 test uses a real SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from helpers import last_json, studio, write_jsonl
from studio.core.config import RunConfig
from studio.core.library import list_adapters
from studio.core.run_history import RunHistory
from studio.core.run_setup import create_run
from studio.core.runs import COMPLETE_MARK, EVENTS, checkpoints, load_run
from studio.core.worker_process import WorkerProcess
from studio.core.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture()
def data(demo_data, tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", demo_data[0].read_text().splitlines()[:120])


def new_run(home: Path, tiny_model: Path, data: Path, name: str, **train: int) -> Path:
    config = RunConfig(name=name)
    config.model.name_or_path = str(tiny_model)
    config.data.path = str(data)
    config.data.eval_split = 0
    config.lora.dropout = 0.0
    config.train.lr, config.train.batch_size, config.train.save_every = 3e-3, 8, 5
    for key, value in train.items():
        setattr(config.train, key, value)
    return create_run(Workspace.open(home), config)


def run_worker(run_dir: Path, *extra: str, failpoints: str = "") -> tuple[int, list[dict]]:
    if failpoints:
        os.environ["STUDIO_FAILPOINTS"] = failpoints
    try:
        worker = WorkerProcess(["train", "--run-dir", str(run_dir), *extra])
    finally:
        os.environ.pop("STUDIO_FAILPOINTS", None)
    events = list(worker.events())
    return worker.wait(), events


def losses(run_dir: Path) -> tuple[list[int], list[float]]:
    return RunHistory.from_file(run_dir / EVENTS).points("loss")


def test_sigkill_mid_run_then_resume_matches_uninterrupted(home: Path, tiny_model: Path, data: Path) -> None:
    reference = new_run(home, tiny_model, data, "reference", max_steps=30)
    assert run_worker(reference)[0] == 0

    killed = new_run(home, tiny_model, data, "killed", max_steps=30)
    worker = WorkerProcess(["train", "--run-dir", str(killed)])
    for event in worker.events():
        if event["type"] == "progress" and event.get("step", 0) >= 13:
            os.kill(worker.proc.pid, signal.SIGKILL)
            break
    assert worker.wait() == -signal.SIGKILL
    info = load_run(killed)
    assert info.status == "failed" and info.history.error["kind"] == "crashed"
    assert checkpoints(killed)[-1].name == "checkpoint-10"
    assert "studio train --resume" in info.history.error["hint"]

    code, events = run_worker(killed, "--resume")
    assert code == 0 and events[-1]["status"] == "completed"
    assert Path(events[-1]["adapter"], "adapter_model.safetensors").is_file()
    ref_steps, ref_loss = losses(reference)
    steps, loss = losses(killed)
    assert steps == ref_steps == list(range(1, 31))
    assert RunHistory.from_file(killed / EVENTS).attempts == 2
    # Same data order, optimizer and schedule after resume: the curves agree within CPU float noise.
    tail = [abs(a - b) for a, b in zip(loss[15:], ref_loss[15:])]
    assert sum(tail) / len(tail) < 0.1 * (sum(ref_loss[15:]) / len(tail)), (loss, ref_loss)


def test_kill_while_writing_adapter_leaves_no_adapter(home: Path, tiny_model: Path, data: Path) -> None:
    run_dir = new_run(home, tiny_model, data, "cut", max_steps=10)
    code, events = run_worker(run_dir, failpoints="kill_in_adapter_save")
    assert code == 137 and not [e for e in events if e["type"] == "done"]
    adapters = list_adapters(Workspace.open(home).adapters_dir)
    assert [a.name for a in adapters if not a.broken] == []
    assert all(a.name.startswith(".tmp-") and "interrupted" in a.broken for a in adapters)
    assert load_run(run_dir).status == "failed"
    code, events = run_worker(run_dir, "--resume")  # the final checkpoint is complete: only the save re-runs
    assert code == 0 and events[-1]["adapter_name"] == "cut"


def test_out_of_memory_is_explained_and_resumable(home: Path, tiny_model: Path, data: Path) -> None:
    run_dir = new_run(home, tiny_model, data, "oom", max_steps=12)
    code, events = run_worker(run_dir, failpoints="oom_at_step:7")
    error = next(e for e in events if e["type"] == "error")
    assert code == 1 and error["kind"] == "oom" and events[-1]["status"] == "failed"
    for fix in ("--batch-size", "--max-len", "--quant 4bit", "--grad-checkpointing", "--resume"):
        assert fix in error["hint"]
    assert [c.name for c in checkpoints(run_dir)] == ["checkpoint-5"]
    code, events = run_worker(run_dir, "--resume")
    assert code == 0 and events[-1]["step"] == 12


def test_disk_full_while_checkpointing_keeps_the_previous_one(home: Path, tiny_model: Path, data: Path) -> None:
    run_dir = new_run(home, tiny_model, data, "full-disk", max_steps=12)
    code, events = run_worker(run_dir, failpoints="enospc_in_checkpoint:10")
    error = next(e for e in events if e["type"] == "error")
    assert code == 1 and error["kind"] == "disk" and "resume" in error["hint"]
    assert "checkpoint-10" in error["message"]
    assert [c.name for c in checkpoints(run_dir)] == ["checkpoint-5"]
    assert (run_dir / "checkpoints" / "checkpoint-5" / COMPLETE_MARK).is_file()
    assert not (run_dir / "checkpoints" / "checkpoint-10" / COMPLETE_MARK).exists()
    code, events = run_worker(run_dir, "--resume")
    assert code == 0 and events[-1]["status"] == "completed"
    assert not (run_dir / "checkpoints" / "checkpoint-10").exists() or \
        (run_dir / "checkpoints" / "checkpoint-10" / COMPLETE_MARK).is_file()


def test_stuck_worker_is_force_stopped_after_cancel(home: Path, tiny_model: Path, data: Path) -> None:
    run_dir = new_run(home, tiny_model, data, "stuck", max_steps=400, save_every=0)
    os.environ["STUDIO_FAILPOINTS"] = "hang_on_cancel"
    try:
        worker = WorkerProcess(["train", "--run-dir", str(run_dir)])
    finally:
        os.environ.pop("STUDIO_FAILPOINTS")
    started = None
    for event in worker.events():
        if event["type"] == "progress" and event.get("step", 0) >= 3 and started is None:
            started = time.monotonic()
            worker.cancel(force_after_s=3)
    assert worker.wait() == -signal.SIGKILL
    assert time.monotonic() - started < 15
    assert load_run(run_dir).status == "failed"   # never "completed"


def test_two_studios_on_one_workspace(home: Path, tiny_model: Path, data: Path) -> None:
    import subprocess
    import sys

    from helpers import ROOT

    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "studio", "train", "--model", str(tiny_model), "--data", str(data),
            "--max-steps", "3", "--eval-split", "0", "--name", "twin", "--json"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [last_json(p.communicate(timeout=600)[0]) for p in procs]
    assert sorted(o["adapter_name"] for o in outs) == ["twin", "twin-v2"]
    assert len({o["run_id"] for o in outs}) == 2
    assert all(not a.broken for a in list_adapters(Workspace.open(home).adapters_dir))
    # A second worker on a run that is being trained is refused by the run's lock.
    run_dir = Path(outs[0]["run_dir"])
    from filelock import FileLock

    with FileLock(str(run_dir / "worker.lock")):
        result = subprocess.run([sys.executable, "-m", "studio.engine", "train", "--run-dir", str(run_dir)],
                                capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "already being trained" in result.stderr


def test_cli_reports_a_crash_as_failed_never_completed(home: Path, tiny_model: Path, data: Path) -> None:
    os.environ["STUDIO_FAILPOINTS"] = "kill_at_step:4"
    try:
        result = studio("train", "--model", str(tiny_model), "--data", str(data), "--max-steps", "8",
                        "--save-every", "2", "--eval-split", "0", "--json", home=home)
    finally:
        os.environ.pop("STUDIO_FAILPOINTS")
    out = last_json(result.stdout)
    assert result.returncode == 1 and out["status"] == "failed"
    assert out["error"]["kind"] == "crashed" and out["checkpoint"].endswith("checkpoint-2")  # killed before step 4 saved

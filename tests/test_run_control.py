"""No run is ever left unstoppable: a worker whose parent dies stops with a checkpoint, a
detached run trains on until `studio runs cancel` stops it, and `--force` kills one that ignores
the request, whoever started it.

The slow tests run real processes on the tiny model: the `studio` CLI as a user runs it, killed
with a real SIGKILL; the fast ones check the run-folder controls (core/run_control.py) with a
stand-in process that only holds the run's lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from helpers import ROOT, last_json, studio, write_jsonl
from studio.core import protocol
from studio.core.run_control import (CANCEL_REQUEST, WORKER_PID, RunNotRunning, cancel_requested, force_stop,
                                     read_worker_pid, request_cancel, wait_stopped, worker_started)
from studio.core.run_history import RunHistory
from studio.core.runs import COMPLETE_MARK, EVENTS, LOCK, checkpoints, load_run, worker_alive
from studio.core.workspace import Workspace
from test_reliability import new_run

STOP_S = 60          # a worker must stop within this long of its parent's death or a cancel


@pytest.fixture()
def data(demo_data, tmp_path: Path) -> Path:  # noqa: ANN001 - the session fixture's tuple
    return write_jsonl(tmp_path / "train.jsonl", demo_data[0].read_text().splitlines()[:120])


def cli_env(home: Path, failpoints: str = "") -> dict[str, str]:
    env = {**os.environ, "STUDIO_HOME": str(home),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("STUDIO_FAILPOINTS", None)
    if failpoints:
        env["STUDIO_FAILPOINTS"] = failpoints
    return env


def train_flags(tiny_model: Path, data: Path, name: str, max_steps: int, save_every: int = 5) -> list[str]:
    return ["--model", str(tiny_model), "--data", str(data), "--max-steps", str(max_steps), "--save-every",
            str(save_every), "--eval-split", "0", "--lr", "3e-3", "--batch-size", "8", "--name", name]


def wait_for(check, timeout: float, what: str) -> None:  # noqa: ANN001 - any callable
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def only_run(home: Path) -> Path:
    runs = [p for p in Workspace.open(home).runs_dir.iterdir() if (p / "run.yaml").is_file()]
    assert len(runs) == 1, runs
    return runs[0]


def at_step(run_dir: Path, step: int) -> bool:
    return RunHistory.from_file(run_dir / EVENTS).step >= step


def gone(pid: int) -> bool:
    """Ended (a zombie no one reaped yet counts: it holds nothing and runs nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_cancelled_with_checkpoint(run_dir: Path) -> RunHistory:
    history = load_run(run_dir).history
    assert history.status == "cancelled", (history.status, history.error)
    last = checkpoints(run_dir)[-1]
    assert (last / COMPLETE_MARK).is_file() and history.done["checkpoint"] == str(last)
    assert history.done["step"] == int(last.name.split("-")[1])
    assert not (run_dir / CANCEL_REQUEST).exists() and not (run_dir / WORKER_PID).exists()
    return history


# ---- real processes on the tiny model ---------------------------------------------------------------

@pytest.mark.slow
def test_killing_studio_train_stops_its_worker_with_a_checkpoint_then_resume_finishes(
        home: Path, tiny_model: Path, data: Path, tmp_path: Path) -> None:
    with open(tmp_path / "cli.out", "wb") as out:   # files, not pipes nobody reads: the CLI must not block
        cli = subprocess.Popen([sys.executable, "-m", "studio", "train", *train_flags(tiny_model, data, "orphan", 40)],
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=cli_env(home),
                               cwd=ROOT)
    try:
        wait_for(lambda: any(Workspace.open(home).runs_dir.glob("*/events.jsonl")), 120, "the run folder")
        run_dir = only_run(home)
        wait_for(lambda: at_step(run_dir, 5), 300, "step 5")
        worker_pid = RunHistory.from_file(run_dir / EVENTS).hello["pid"]
        os.kill(cli.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        cli.wait()
        assert wait_stopped(run_dir, STOP_S), "the orphaned worker trained on"
        wait_for(lambda: gone(worker_pid), 10, "the worker process to end")
        assert time.monotonic() - killed_at < STOP_S
    finally:
        if cli.poll() is None:
            cli.kill()
    history = assert_cancelled_with_checkpoint(run_dir)
    assert history.done["reason"] == "parent_gone" and history.step < 40
    said = [e for e in protocol_events(run_dir) if e.get("reason") == "parent_gone" and e["type"] in ("log", "stage")]
    assert said and any(f"studio train --resume {run_dir.name}" in e["message"] for e in said)

    resumed = studio("train", "--resume", run_dir.name, "--json", home=home)
    out = last_json(resumed.stdout)
    assert resumed.returncode == 0 and out["status"] == "completed", resumed.stderr[-2000:]
    assert out["step"] == 40
    steps, _ = RunHistory.from_file(run_dir / EVENTS).points("loss")
    assert steps == list(range(1, 41))


@pytest.mark.slow
def test_detached_run_survives_its_command_and_runs_cancel_stops_it(home: Path, tiny_model: Path, data: Path) -> None:
    started = time.monotonic()
    result = studio("train", *train_flags(tiny_model, data, "detached", 400, save_every=0), "--detach", "--json",
                    home=home)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60                       # it returns, it does not train
    out = json.loads(result.stdout)                              # one JSON object: no events on this terminal
    assert out["status"] == "started" and out["run_id"]
    run_dir = Path(out["run_dir"])
    assert worker_alive(run_dir) and read_worker_pid(run_dir) == out["pid"]
    try:
        wait_for(lambda: at_step(run_dir, 3), 300, "step 3")     # training on with its command gone
        log = (run_dir / "worker.log").read_text()
        assert '"type":' not in log                              # events go to events.jsonl, not into the log

        cancel = studio("runs", "cancel", run_dir.name, "--wait", "--json", home=home, timeout=STOP_S + 30)
        report = last_json(cancel.stdout)
        assert cancel.returncode == 0 and report["status"] == "ok", cancel.stdout + cancel.stderr
        assert report["run"]["status"] == "cancelled" and report["run"]["checkpoint"]
    finally:
        if worker_alive(run_dir):
            force_stop(run_dir)
    history = assert_cancelled_with_checkpoint(run_dir)
    assert history.done["reason"] == "request" and history.step < 400
    wait_for(lambda: gone(out["pid"]), 10, "the worker process to end")

    again = studio("runs", "cancel", run_dir.name, home=home)
    assert again.returncode == 2 and "is not running: it was cancelled" in again.stderr


@pytest.mark.slow
def test_force_kills_a_worker_that_ignores_cancel(home: Path, tiny_model: Path, data: Path) -> None:
    env = cli_env(home, failpoints="hang_on_cancel")
    result = subprocess.run([sys.executable, "-m", "studio", "train", *train_flags(tiny_model, data, "stuck", 400),
                             "--detach", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    out = last_json(result.stdout)
    run_dir = Path(out["run_dir"])
    try:
        wait_for(lambda: at_step(run_dir, 2), 300, "step 2")
        asked = studio("runs", "cancel", run_dir.name, home=home)
        assert asked.returncode == 0 and "saves a checkpoint at the next step" in asked.stdout
        time.sleep(3)                                           # the next step end reads the request...
        step = RunHistory.from_file(run_dir / EVENTS).step
        time.sleep(2)
        assert worker_alive(run_dir) and RunHistory.from_file(run_dir / EVENTS).step == step   # ...and hangs

        forced = studio("runs", "cancel", run_dir.name, "--force", "--json", home=home, timeout=STOP_S + 30)
        report = last_json(forced.stdout)
        assert forced.returncode == 0 and report["action"] == "force-stopped", forced.stdout + forced.stderr
    finally:
        if worker_alive(run_dir):
            force_stop(run_dir)
    assert not worker_alive(run_dir)
    wait_for(lambda: gone(out["pid"]), 10, "the worker process to end")
    info = load_run(run_dir)
    assert info.status != "running" and info.history.error["kind"] == "force_stopped"
    listed = last_json(studio("runs", "list", "--json", home=home).stdout)["runs"]
    assert [r["status"] for r in listed if r["run_id"] == run_dir.name] == [info.status]


def protocol_events(run_dir: Path) -> list[dict]:
    from studio.core.run_history import read_events

    return read_events(run_dir / EVENTS)


# ---- the run-folder controls, with a stand-in worker ------------------------------------------------

def fake_run(home: Path, tiny_model: Path, data: Path, *events: dict) -> Path:
    run_dir = new_run(home, tiny_model, data, "fake", max_steps=10)
    with open(run_dir / EVENTS, "a", encoding="utf-8") as fh:
        for event in events:
            fh.write(protocol.encode(event) + "\n")
    return run_dir


def lock_holder(run_dir: Path) -> subprocess.Popen:
    """A process that takes the run's lock like a worker, writes worker.pid, and sleeps."""
    code = ("import sys, time; from pathlib import Path; from filelock import FileLock;"
            "from studio.core.run_control import worker_started;"
            f"lock = FileLock({str(run_dir / LOCK)!r}); lock.acquire(); worker_started(Path({str(run_dir)!r}));"
            "print('locked', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_cancel_of_a_finished_run_says_so_and_exits_2(home: Path, tiny_model: Path, data: Path) -> None:
    run_dir = fake_run(home, tiny_model, data, protocol.make("hello", pid=1),
                       protocol.make("progress", step=10, max_steps=10),
                       protocol.make("done", status="completed", step=10))
    for extra in ([], ["--wait"], ["--force"]):
        result = studio("runs", "cancel", run_dir.name, *extra, home=home)
        assert result.returncode == 2 and "is not running: it completed at step 10/10" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    result = studio("runs", "cancel", run_dir.name, "--json", home=home)
    assert result.returncode == 2 and last_json(result.stdout)["error"]["message"].startswith("run ")
    assert not (run_dir / CANCEL_REQUEST).exists()
    never = new_run(home, tiny_model, data, "never", max_steps=10)
    result = studio("runs", "cancel", never.name, home=home)
    assert result.returncode == 2 and "has not started" in result.stderr


def test_request_and_force_act_only_on_the_lock_holder(home: Path, tiny_model: Path, data: Path) -> None:
    run_dir = fake_run(home, tiny_model, data, protocol.make("hello", pid=1))
    (run_dir / CANCEL_REQUEST).write_text("left by an earlier attempt\n")
    holder = lock_holder(run_dir)
    try:
        assert not cancel_requested(run_dir)            # a starting worker forgets an old request
        assert read_worker_pid(run_dir) == holder.pid
        request_cancel(run_dir)
        assert cancel_requested(run_dir)
        assert force_stop(run_dir, wait_s=20)
        assert holder.wait(timeout=20) == -signal.SIGKILL
    finally:
        holder.kill()
    info = load_run(run_dir)
    assert info.status == "cancelled" and info.history.error["kind"] == "force_stopped"   # recorded once
    assert sum(1 for e in protocol_events(run_dir) if e["type"] == "done") == 1

    # A stale worker.pid (its worker died) names a process that is not ours: it is never killed.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        (run_dir / WORKER_PID).write_text(f"{bystander.pid}\n")
        with pytest.raises(RunNotRunning):
            force_stop(run_dir)
        with pytest.raises(RunNotRunning):
            request_cancel(run_dir)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_worker_started_replaces_a_stale_pid(tmp_path: Path) -> None:
    (tmp_path / WORKER_PID).write_text("12345\n")
    (tmp_path / CANCEL_REQUEST).write_text("old\n")
    worker_started(tmp_path, pid=777)
    assert read_worker_pid(tmp_path) == 777 and not cancel_requested(tmp_path)


def test_resume_of_a_run_another_worker_holds_leaves_its_events_alone(home: Path, tiny_model: Path,
                                                                      data: Path) -> None:
    run_dir = fake_run(home, tiny_model, data, protocol.make("hello", pid=1),
                       protocol.make("progress", step=2, max_steps=10))
    before = (run_dir / EVENTS).read_bytes()
    holder = lock_holder(run_dir)
    try:
        result = studio("train", "--resume", run_dir.name, "--json", home=home)
        out = last_json(result.stdout)
        assert result.returncode == 1 and "already being trained" in out["error"]["message"], result.stdout
        assert (run_dir / EVENTS).read_bytes() == before          # the live run is not marked failed
        assert worker_alive(run_dir)
        detach = studio("train", "--resume", run_dir.name, "--detach", home=home)
        assert detach.returncode == 2 and "already being trained" in detach.stderr
    finally:
        holder.kill()
        holder.wait()

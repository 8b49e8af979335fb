"""The Runs page with real training on the tiny model: one click on Train, live events and plots,
cancel, resume, a worker killed with SIGKILL, and a run started from the command line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from studio.core.run_history import RunHistory
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS, checkpoints
from studio.core.worker_process import WorkerProcess

pytestmark = pytest.mark.slow
TRAIN_TIMEOUT = 600_000          # the shared 2-core machines are slow under load


def click_train(window, qtbot) -> str:  # noqa: ANN001
    window.show_page("Train")
    train = window.page("Train")
    qtbot.waitUntil(lambda: train.info is not None, timeout=10_000)
    train.findChild(QWidget, "train-button").click()
    runs = window.page("Runs")
    qtbot.waitUntil(lambda: runs.selected is not None and runs.isVisible(), timeout=10_000)
    return runs.selected


def test_train_shows_live_events_then_cancel_and_resume(app, qtbot) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 60)
    ctx.config.set("train.batch_size", 4)
    ctx.config.set("data.eval_split", 0.0)
    run_id = click_train(window, qtbot)
    runs = window.page("Runs")
    history = ctx.runs.history(run_id)
    qtbot.waitUntil(lambda: len(history.series["loss"]) >= 5, timeout=TRAIN_TIMEOUT)
    curve = runs.plots.loss.curves["train"]
    qtbot.waitUntil(lambda: curve.xData is not None and len(curve.xData) >= 5, timeout=5000)  # drawn by the timer
    assert runs.summary.badge.text() == "running"
    assert runs.summary.progress.maximum() == 60
    assert window.page("Train").train_button.text().strip() == "Add to queue"   # one run at a time

    runs.summary.cancel.click()
    qtbot.waitUntil(lambda: history.status == "cancelled", timeout=TRAIN_TIMEOUT)
    saved = checkpoints(ctx.workspace.run_dir(run_id))
    assert len(saved) == 1
    qtbot.waitUntil(lambda: runs.summary.resume.isEnabled(), timeout=TRAIN_TIMEOUT)   # once the worker exited
    assert "can be resumed" in runs.summary.stage.text()

    runs.summary.resume.click()                                  # continues in the same run folder
    resumed = ctx.runs.history(run_id)
    qtbot.waitUntil(lambda: resumed.status == "completed", timeout=TRAIN_TIMEOUT)
    assert resumed.attempts == 2 and resumed.step == 60
    steps, _ = RunHistory.from_file(ctx.workspace.run_dir(run_id) / EVENTS).points("loss")
    assert steps == list(range(1, 61))
    qtbot.waitUntil(lambda: runs.summary.badge.text() == "completed", timeout=5000)


def test_killed_worker_is_reported_and_the_app_keeps_running(app, qtbot) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 400)
    ctx.config.set("train.batch_size", 4)
    ctx.config.set("train.save_every", 2)
    ctx.config.set("data.eval_split", 0.0)
    run_id = click_train(window, qtbot)
    history = ctx.runs.history(run_id)
    qtbot.waitUntil(lambda: bool(history.checkpoints) and history.step >= 3, timeout=TRAIN_TIMEOUT)
    os.kill(int(history.hello["pid"]), signal.SIGKILL)
    qtbot.waitUntil(lambda: history.status == "failed", timeout=30_000)
    runs = window.page("Runs")
    qtbot.waitUntil(lambda: runs.summary.banner.isVisible(), timeout=5000)
    assert runs.summary.banner.title.text() == "The training worker stopped unexpectedly"
    assert "killed by a signal" in runs.summary.banner.body.text()
    assert "resume from checkpoint-" in runs.summary.banner.body.text()
    assert RunHistory.from_file(ctx.workspace.run_dir(run_id) / EVENTS).status == "failed"   # recorded on disk
    assert window.isVisible() and runs.summary.resume.isEnabled()
    window.show_page("Data")                                       # the app still works
    assert window.stack.currentWidget() is window.page("Data")


def test_a_run_started_from_the_terminal_is_followed(app, qtbot) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 8)
    ctx.config.set("data.eval_split", 0.0)
    run_dir = create_run(ctx.workspace, ctx.config.snapshot())
    worker = WorkerProcess(["train", "--run-dir", str(run_dir)])
    try:
        ctx.runs.refresh()
        assert run_dir.name in ctx.runs.run_ids()
        runs = window.page("Runs")
        window.show_page("Runs")
        runs.list.select(run_dir.name)
        qtbot.waitUntil(lambda: ctx.runs.history(run_dir.name).status == "completed", timeout=TRAIN_TIMEOUT)
        assert ctx.runs.history(run_dir.name).step == 8
        qtbot.waitUntil(lambda: runs.summary.badge.text() == "completed", timeout=5000)
    finally:
        for _ in worker.events():
            pass
        worker.wait()


def test_runs_list_survives_a_restart(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 3)
    ctx.config.set("data.eval_split", 0.0)
    run_id = click_train(window, qtbot)
    qtbot.waitUntil(lambda: ctx.runs.history(run_id).status == "completed", timeout=TRAIN_TIMEOUT)

    from PySide6.QtCore import QSettings

    from studio.gui.app import build

    ctx2, window2 = build(ctx.workspace.home, QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window2)
    ctx2.runs.refresh()
    assert ctx2.runs.history(run_id).status == "completed"
    assert window2.page("Runs").list.items[run_id].text(1) == "completed"


def test_a_run_trained_by_another_process_shows_running_and_cancel_stops_it(app, qtbot) -> None:
    """As after a crash of the app: its run goes on in a worker no TrainingClient drives (here one
    started detached, like `studio train --detach`); the reopened app shows it live and its Cancel
    stops it through the run folder, with a checkpoint."""
    from studio.core.run_control import force_stop, launch_detached
    from studio.core.runs import load_run, worker_alive
    from studio.gui.widgets.run_list import ELSEWHERE

    ctx, window = app
    ctx.config.set("train.max_steps", 400)
    ctx.config.set("data.eval_split", 0.0)
    run_dir = create_run(ctx.workspace, ctx.config.snapshot())
    launch_detached(run_dir)
    run_id = run_dir.name
    try:
        ctx.runs.refresh()
        runs = window.page("Runs")
        window.show_page("Runs")
        runs.list.select(run_id)
        qtbot.waitUntil(lambda: ctx.runs.history(run_id).step >= 2, timeout=TRAIN_TIMEOUT)
        assert ctx.runs.trained_elsewhere(run_id) and not ctx.runs.is_driven_here(run_id)
        qtbot.waitUntil(lambda: runs.summary.badge.text() == "running", timeout=5000)
        qtbot.waitUntil(lambda: runs.list.items[run_id].text(1).endswith("%"), timeout=5000)
        assert ELSEWHERE in runs.list.items[run_id].toolTip(0)
        assert runs.summary.cancel.isEnabled()

        runs.summary.cancel.click()
        history = ctx.runs.history(run_id)
        qtbot.waitUntil(lambda: history.status == "cancelled", timeout=TRAIN_TIMEOUT)
        qtbot.waitUntil(lambda: not worker_alive(run_dir), timeout=30_000)
    finally:
        if worker_alive(run_dir):
            force_stop(run_dir)
    assert history.done["reason"] == "request" and history.step < 400
    assert load_run(run_dir).status == "cancelled"
    saved = checkpoints(run_dir)
    assert saved and history.done["checkpoint"] == str(saved[-1])
    qtbot.waitUntil(lambda: runs.list.items[run_id].text(1) == "cancelled", timeout=5000)
    qtbot.waitUntil(lambda: runs.summary.resume.isEnabled(), timeout=5000)


APP_THEN_CRASH = """
import os, signal, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings, QTimer
from studio.core.config_io import load_config
from studio.gui.app import application, build

home, config = sys.argv[1], sys.argv[2]
app = application()
ctx, window = build(home, QSettings(home + "/gui.ini", QSettings.Format.IniFormat))
run_id, _ = ctx.runs.start(load_config(config), checked=True)
print(run_id, flush=True)

def crash_once_training() -> None:
    if ctx.runs.history(run_id).step >= 3:
        os.kill(os.getpid(), signal.SIGKILL)   # the app dies without a word: no quit, no cancel

timer = QTimer()
timer.timeout.connect(crash_once_training)
timer.start(50)
app.exec()
"""


def test_a_crash_of_the_app_stops_its_run_with_a_checkpoint(home: Path, tiny_model: Path, small_data: Path,
                                                           tmp_path: Path) -> None:
    """The app's own worker (QProcess) loses the app: its stdin ends, so it saves a checkpoint at
    the next step and stops, instead of training on with nobody to stop it."""
    import subprocess
    import sys

    from helpers import ROOT
    from studio.core.config import RunConfig
    from studio.core.config_io import dump_config
    from studio.core.run_control import force_stop, wait_stopped
    from studio.core.runs import load_run, worker_alive
    from studio.core.workspace import Workspace

    config = RunConfig(name="crashed-app")
    config.model.name_or_path, config.data.path, config.data.eval_split = str(tiny_model), str(small_data), 0.0
    config.train.max_steps, config.train.save_every, config.train.batch_size = 400, 0, 8
    (tmp_path / "run.yaml").write_text(dump_config(config), encoding="utf-8")
    app = subprocess.run([sys.executable, "-c", APP_THEN_CRASH, str(home), str(tmp_path / "run.yaml")],
                         capture_output=True, text=True, timeout=TRAIN_TIMEOUT / 1000,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert app.returncode == -signal.SIGKILL, app.stderr[-2000:]
    run_dir = Workspace.open(home).run_dir(app.stdout.split()[0])
    try:
        assert wait_stopped(run_dir, 60), "the worker trained on without its app"
    finally:
        if worker_alive(run_dir):
            force_stop(run_dir)
    history = load_run(run_dir).history
    assert history.status == "cancelled" and history.done["reason"] == "parent_gone", history.error
    assert history.step < 400 and checkpoints(run_dir) and history.done["checkpoint"] == str(checkpoints(run_dir)[-1])


def test_quitting_the_app_while_a_run_trains_saves_a_checkpoint(app, qtbot) -> None:
    """Quit says the run "will save a checkpoint and stop": Qt kills a QProcess's process when the
    QProcess goes away, so the app waits for its worker to do so before it exits."""
    from studio.core.runs import load_run

    ctx, window = app
    ctx.config.set("train.max_steps", 400)
    ctx.config.set("train.batch_size", 4)
    ctx.config.set("data.eval_split", 0.0)
    run_id = click_train(window, qtbot)
    qtbot.waitUntil(lambda: ctx.runs.history(run_id).step >= 3, timeout=TRAIN_TIMEOUT)
    window.close()
    assert not ctx.runs.live[run_id].running
    history = load_run(ctx.workspace.run_dir(run_id)).history
    assert history.status == "cancelled" and history.done["checkpoint"], history.error

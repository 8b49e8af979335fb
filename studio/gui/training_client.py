"""One training run driven by this app: the worker process, its live RunHistory, and its end.

The worker is `python -m studio.engine train --run-dir DIR [--resume]` started with QProcess.
Its events are applied to a RunHistory (the same replay the CLI and the Runs list use), so the
plots read one object whether the run is live or finished. A worker that exits without a `done`
event (kill -9, the OOM killer, a segfault) is recorded as crashed in the run's events.jsonl,
with the checkpoint to resume from, exactly as the CLI does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.run_history import RunHistory
from studio.core.runs import EVENTS, WORKER_LOG, record_crash
from studio.gui.worker_task import WorkerTask


class TrainingClient(QObject):
    event = Signal(dict)
    ended = Signal(str)            # the run's final status

    def __init__(self, run_dir: Path, resume: bool = False, parent: QObject | None = None,
                 worker_args: list[str] | None = None) -> None:
        """`worker_args` replaces the training worker's command (`studio bench` uses a stand-in)."""
        super().__init__(parent)
        self.run_dir = run_dir
        self.resume = resume
        self.history = RunHistory.from_file(run_dir / EVENTS) if resume else RunHistory()
        self.version = 0
        args = worker_args or ["train", "--run-dir", str(run_dir)] + (["--resume"] if resume else [])
        self.task = WorkerTask(args, self, stderr_log=run_dir / WORKER_LOG)
        self.task.event.connect(self._on_event)
        self.task.finished.connect(self._on_finished)

    def start(self) -> None:
        self.history.status = "running"
        self.task.start()

    @property
    def running(self) -> bool:
        return self.task.running

    def cancel(self) -> None:
        self.task.cancel()

    def kill(self) -> None:
        self.task.kill()

    def wait_finished(self, timeout_s: float) -> bool:
        """Block until the worker exits (True) or timeout_s passes: for quitting, when the event
        loop no longer runs. Its last events are handled when the loop next runs, if ever."""
        return self.task.process.waitForFinished(int(timeout_s * 1000)) or not self.running

    def _on_event(self, event: dict[str, Any]) -> None:
        self.history.apply(event)
        self.version += 1
        self.event.emit(event)

    def _on_finished(self, code: int, crashed: bool) -> None:
        if self.history.done is None:
            if crashed:
                detail = "it was killed by a signal (kill -9, or the system ran out of memory)"
            else:
                last = self.task.last_stderr_line()
                detail = f"exit code {code}" + (f"; last output: {last}" if last else "")
            for event in record_crash(self.run_dir, detail):
                self._on_event(event)
        self.ended.emit(self.history.status)

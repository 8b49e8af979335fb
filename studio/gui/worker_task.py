"""A worker process driven from the Qt event loop: QProcess, JSON-lines events, commands on stdin.

Reading is non-blocking: Qt calls back when the worker wrote something, complete lines are
decoded (core.protocol.decode skips anything that is not an event) and emitted as `event`.
stderr is kept as a short tail for the error message when a worker dies before it could say why.
Used for short jobs (preview-data, download, demo-model) and, through TrainingClient, for runs.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from studio.core import protocol
from studio.core.worker_process import FORCE_STOP_AFTER_S, worker_command, worker_env

STDERR_TAIL_CHARS = 4000
SLICE_S = 0.008            # events handled per turn of the event loop, in seconds: a burst of
                           # thousands of events is spread over several turns, so input and paint keep up
# Workers yield the CPU to the window, so it stays responsive on few cores (STUDIO_WORKER_NICENESS
# changes it; every thread the worker starts later inherits it).
WORKER_NICENESS = int(os.environ.get("STUDIO_WORKER_NICENESS") or 10)


class WorkerTask(QObject):
    event = Signal(dict)
    finished = Signal(int, bool)          # exit code, crashed (killed or died on a signal)

    def __init__(self, args: list[str], parent: QObject | None = None, stderr_log: Path | None = None) -> None:
        super().__init__(parent)
        self.args = args
        self.stderr_log = stderr_log
        self.process = QProcess(self)
        self.stderr_tail = ""
        self._buffer = b""
        self._pending: deque[bytes] = deque()
        self._drain_scheduled = False
        self._exit: tuple[int, bool] | None = None     # set when the process ended, until `finished`
        self._cancel_requested = False
        self.done_event: dict[str, Any] | None = None
        self.error_event: dict[str, Any] | None = None
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)

    def start(self) -> None:
        program, *arguments = worker_command(*self.args)
        env = QProcessEnvironment()
        for key, value in worker_env().items():
            env.insert(key, value)
        self.process.setProcessEnvironment(env)
        self.process.start(program, arguments)
        if hasattr(os, "setpriority") and self.process.waitForStarted(5000):
            try:
                os.setpriority(os.PRIO_PROCESS, self.pid(), WORKER_NICENESS)
            except OSError:
                pass

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def pid(self) -> int:
        return int(self.process.processId())

    def send(self, type_: str, **fields: Any) -> bool:
        if not self.running:
            return False
        line = protocol.encode(protocol.make(type_, **fields)) + "\n"
        return self.process.write(line.encode("utf-8")) > 0

    def cancel(self) -> None:
        """First call: ask for a clean stop (a checkpoint is saved); a second call, or no exit
        within FORCE_STOP_AFTER_S, kills the worker."""
        if self._cancel_requested:
            self.kill()
            return
        self._cancel_requested = True
        if not self.send("cancel"):
            self.terminate()
        QTimer.singleShot(int(FORCE_STOP_AFTER_S * 1000), self.kill)

    def terminate(self) -> None:
        if self.running:
            os.kill(self.pid(), signal.SIGTERM)

    def kill(self) -> None:
        if self.running:
            self.process.kill()

    def _read_stdout(self, at_exit: bool = False) -> None:
        """Queue the complete lines read so far (at exit, also a last line without its newline)."""
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        if at_exit and self._buffer.strip():
            self._buffer += b"\n"
        *lines, self._buffer = self._buffer.split(b"\n")
        self._pending.extend(lines)
        self._drain()

    def _drain_later(self) -> None:
        self._drain_scheduled = False
        self._drain()

    def _drain(self) -> None:
        """Emit pending events in order for at most SLICE_S, then continue on the next turn of the
        event loop; `finished` is emitted after the last event of a process that ended."""
        deadline = time.perf_counter() + SLICE_S
        while self._pending:
            if time.perf_counter() > deadline:
                if not self._drain_scheduled:
                    self._drain_scheduled = True
                    QTimer.singleShot(0, self._drain_later)
                return
            event = protocol.decode(self._pending.popleft())
            if event is None:
                continue
            if event.get("type") == "done":
                self.done_event = event
            elif event.get("type") == "error":
                self.error_event = event
            self.event.emit(event)
        if self._exit is not None:
            code, crashed = self._exit
            self._exit = None
            self.finished.emit(code, crashed)

    def last_stderr_line(self) -> str:
        """The worker's last line on stderr ("" if none): what to show when it stopped unexpectedly."""
        lines = self.stderr_tail.strip().splitlines()
        return lines[-1] if lines else ""

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", errors="replace")
        self.stderr_tail = (self.stderr_tail + text)[-STDERR_TAIL_CHARS:]
        if self.stderr_log is not None:  # what the worker printed before it took over its own log
            with open(self.stderr_log, "a", encoding="utf-8") as fh:
                fh.write(text)

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._exit = (code, status == QProcess.ExitStatus.CrashExit)
        self._read_stdout(at_exit=True)     # `finished` follows the last event, once the backlog is handled

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.stderr_tail += f"\ncould not start {' '.join(worker_command(*self.args))}"
            self.finished.emit(-1, True)

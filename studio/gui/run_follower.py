"""Following a run this app did not start (`studio train` in a terminal, an earlier session).

Its events.jsonl is read from the start and then tailed: new complete lines are applied to a
RunHistory twice a second. When the events say "running" but nobody holds the run's lock any
more, the worker died without a word; that is shown as a crash, as `studio runs list` does.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from studio.core import protocol
from studio.core.run_history import RunHistory
from studio.core.runs import EVENTS, crash_events, worker_alive

POLL_MS = 500
LIVENESS_EVERY = 4          # polls between checks of the worker's lock


class RunFollower(QObject):
    event = Signal(dict)
    ended = Signal(str)

    def __init__(self, run_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run_dir = run_dir
        self.history = RunHistory()
        self.version = 0
        self._offset = 0
        self._partial = b""
        self._polls = 0
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.poll()
        if self.history.status in ("running", "created"):
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def poll(self) -> None:
        path = self.run_dir / EVENTS
        try:
            with open(path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            data = b""
        if data:
            self._offset += len(data)
            *lines, self._partial = (self._partial + data).split(b"\n")
            for line in lines:
                event = protocol.decode(line)
                if event is not None:
                    self._apply(event)
        self._polls += 1
        ended = self.history.status in protocol.DONE_STATUSES
        if (self.history.status == "running" and self._polls % LIVENESS_EVERY == 0
                and not worker_alive(self.run_dir)):
            for event in crash_events(self.run_dir):
                self._apply(event)
            ended = True
        if ended and self._timer.isActive():
            self._timer.stop()
            self.ended.emit(self.history.status)

    def _apply(self, event: dict) -> None:
        self.history.apply(event)
        self.version += 1
        self.event.emit(event)

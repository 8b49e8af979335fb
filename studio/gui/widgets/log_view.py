"""The worker's log (worker.log in the run folder), tailed while the run is live."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

TAIL_BYTES = 256 * 1024
MAX_LINES = 5000


class LogView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setObjectName("worker-log")
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setMaximumBlockCount(MAX_LINES)
        self.setPlaceholderText("The worker's log appears here.")
        self.path: Path | None = None
        self._offset = 0

    def show_file(self, path: Path | None) -> None:
        self.path, self._offset = path, 0
        self.clear()
        if path is not None and path.is_file():
            self._offset = max(0, path.stat().st_size - TAIL_BYTES)
        self.poll()

    def poll(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        if not data:
            return
        self._offset += len(data)
        at_end = self.verticalScrollBar().value() >= self.verticalScrollBar().maximum() - 4
        self.appendPlainText(data.decode("utf-8", errors="replace").rstrip("\n"))
        if at_end:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

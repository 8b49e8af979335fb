"""The worker's log (worker.log in the run folder), tailed while the run is live.

The Trainer prints its logs as Python dictionaries ({'loss': '0.0169', 'grad_norm': ...}); they are
shown as one readable line each ("epoch 7.24 · loss 0.0169 · grad norm 0.262 · ..."), while the
file itself keeps what the Trainer wrote.
"""

from __future__ import annotations

import ast
from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget

TAIL_BYTES = 256 * 1024
MAX_LINES = 5000
# Trainer log keys, in the order and with the names a person reads them.
LOG_KEYS = {"epoch": "epoch", "loss": "loss", "eval_loss": "eval loss", "grad_norm": "grad norm",
            "learning_rate": "lr", "train_tokens_per_second": "tokens/s", "num_input_tokens_seen": "tokens seen",
            "train_loss": "mean train loss", "train_runtime": "seconds", "eval_runtime": "eval seconds"}


def readable_line(line: str) -> str:
    """A Trainer log dictionary as one line of named figures; any other line unchanged."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}") and "'" in text):
        return line
    try:
        logs = ast.literal_eval(text)         # literals only: never runs code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return line
    if not isinstance(logs, dict):
        return line
    parts = []
    for key, name in LOG_KEYS.items():
        if key in logs:
            parts.append(f"{name} {_figure(logs[key])}")
    parts += [f"{k} {_figure(v)}" for k, v in logs.items() if k not in LOG_KEYS and not str(k).endswith("_per_second")]
    return " · ".join(parts) if parts else line


def _figure(value: object) -> str:
    try:
        number = float(value)  # the Trainer prints numbers as strings
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and abs(number) >= 100:
        return f"{int(number):,}"
    return f"{number:.4g}"


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
        text = data.decode("utf-8", errors="replace").rstrip("\n")
        self.appendPlainText("\n".join(readable_line(line) for line in text.split("\n")))
        if at_end:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

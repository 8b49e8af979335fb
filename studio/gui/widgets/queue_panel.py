"""The run queue: runs waiting their turn (kept in the workspace), and a sweep over the rank.

A sweep queues one run per value over the current config (alpha is scaled with the rank so the
effective scale stays the same); the runs train one after another and can be overlaid on the
Runs page to compare.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QListWidget, QListWidgetItem, QMessageBox,
                               QPushButton, QVBoxLayout, QWidget)

from studio.core.config import RunConfig
from studio.core.errors import StudioError
from studio.gui.app_context import AppContext


class QueuePanel(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.list = QListWidget()
        self.list.setObjectName("queue-list")
        self.list.setMaximumHeight(110)
        self.empty = QLabel("No runs waiting. Train while a run is training queues the new one.")
        self.empty.setProperty("role", "muted")
        self.empty.setWordWrap(True)
        sweep = QPushButton("Rank sweep…")
        sweep.setObjectName("rank-sweep")
        sweep.setToolTip("Queue one run per rank (e.g. 4, 8, 16, 32) with the current settings")
        sweep.clicked.connect(self.ask_sweep)
        self.start = QPushButton("Start queue")
        self.start.clicked.connect(self._start)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.addWidget(sweep)
        buttons.addWidget(self.start)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        ctx.runs.queue_changed.connect(self.refresh)
        ctx.runs.runs_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        try:
            entries = self.ctx.runs.queue.entries()
        except StudioError as exc:
            self.empty.setText(str(exc))
            entries = []
        self.list.clear()
        for entry in entries:
            item = QListWidgetItem(f"{entry.label}  (rank {entry.config['lora']['rank']})")
            item.setData(Qt.ItemDataRole.UserRole, entry.id)
            self.list.addItem(item)
        self.list.setVisible(bool(entries))
        self.empty.setVisible(not entries)
        self.start.setEnabled(bool(entries) and self.ctx.runs.active_run() is None)

    def ask_sweep(self) -> None:
        text, ok = QInputDialog.getText(self, "Rank sweep", "Ranks to train, one run each:", text="4, 8, 16, 32")
        if ok:
            self.queue_sweep([int(v) for v in text.replace(",", " ").split() if v.strip()])

    def queue_sweep(self, ranks: list[int]) -> None:
        """Checked off the GUI thread first (the check reads the whole dataset), then queued."""
        def queue(config: RunConfig) -> None:
            try:
                count = self.ctx.runs.enqueue_sweep(config, "lora.rank", ranks, checked=True)
            except (StudioError, ValueError) as exc:
                refused(exc)
                return
            self.ctx.status_message.emit(f"Queued {count} runs (ranks {', '.join(map(str, ranks))}).")

        def refused(exc: BaseException) -> None:
            QMessageBox.warning(self, "Cannot queue the sweep", str(exc))

        self.ctx.status_message.emit("Checking the data and the model…")
        self.ctx.runs.check_then(self.ctx.config.snapshot(), queue, refused, key="sweep")

    def _start(self) -> None:
        if self.ctx.runs.active_run() is None:
            self.ctx.runs.start_next()
            self.ctx.show_page.emit("Runs")

    def _remove(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.ctx.runs.queue.remove(item.data(Qt.ItemDataRole.UserRole))
            self.refresh()

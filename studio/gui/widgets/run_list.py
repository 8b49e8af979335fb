"""The runs in the workspace, newest first, with status, progress and loss; tick runs to overlay
their loss curves. A run trained by a process other than this app says so in its tooltip."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from studio.core.run_history import RunHistory
from studio.gui.run_manager import RunManager
from studio.gui.theme import Theme

STATUS_TEXT = {"created": "starting", "running": "running", "completed": "completed", "cancelled": "cancelled",
               "failed": "failed"}
ROW_KEY = Qt.ItemDataRole.UserRole + 1       # what a row shows, to skip rows that did not change
ELSEWHERE = "trained by another process (a terminal, a detached run, an earlier app); Cancel still stops it"
STATUS_COLOR = {"running": "accent", "completed": "good", "cancelled": "warn", "failed": "bad", "created": "muted"}


class RunList(QTreeWidget):
    run_selected = Signal(str)
    compare_changed = Signal(list)

    def __init__(self, runs: RunManager, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs = runs
        self.theme = theme
        self.setObjectName("run-list")
        self.setHeaderLabels(["Run", "Status", "Loss"])
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.currentItemChanged.connect(self._current_changed)
        self.itemChanged.connect(self._item_changed)
        runs.runs_changed.connect(self.rebuild)
        theme.changed.connect(self.refresh_rows)

    def rebuild(self) -> None:
        current = self.current_run()
        self.blockSignals(True)
        checked = set(self.checked())
        self.clear()
        self.items = {}
        for run_id in self.runs.run_ids():
            item = QTreeWidgetItem()
            item.setData(0, Qt.ItemDataRole.UserRole, run_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if run_id in checked else Qt.CheckState.Unchecked)
            self.addTopLevelItem(item)
            self.items[run_id] = item
        self.refresh_rows()
        self.blockSignals(False)
        if current in self.items:
            self.setCurrentItem(self.items[current])
        elif self.items and current is None:
            self.setCurrentItem(self.topLevelItem(0))

    def refresh_rows(self) -> None:
        """Update the rows' texts in place, touching only what changed: every change of an item
        is a signal and a repaint, and this runs a few times a second during a run."""
        colors = self.theme.colors()
        blocked = self.blockSignals(True)        # text changes are not the ticks that compare_changed reports
        try:
            for run_id, item in self.items.items():
                history = self.runs.history(run_id)
                info = self.runs.infos.get(run_id)
                name = (history.done or {}).get("adapter_name") or (info.name if info and info.name else run_id)
                steps = f"step {history.step}/{history.max_steps}" if history.max_steps else ""
                status = STATUS_TEXT.get(history.status, history.status)
                if history.status == "running" and history.max_steps:
                    status = f"{100 * history.step // history.max_steps}%"
                loss = history.final_loss
                color = colors[STATUS_COLOR.get(history.status, "muted")]
                loss_text = f"{loss:.4f}" if loss is not None else ""
                started = started_text(history)
                where = ELSEWHERE if self.runs.trained_elsewhere(run_id) else ""
                key = "\x1f".join((name, steps, status, color, loss_text, started, where))
                if item.data(0, ROW_KEY) == key:
                    continue
                item.setData(0, ROW_KEY, key)
                item.setText(0, name)
                item.setToolTip(0, "\n".join(filter(None, (name, run_id, started, steps, where))))
                item.setToolTip(1, where)
                item.setText(1, status)
                item.setForeground(1, QBrush(QColor(color)))
                item.setText(2, loss_text)
        finally:
            self.blockSignals(blocked)
        self.viewport().update()

    def current_run(self) -> str | None:
        item = self.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def select(self, run_id: str) -> None:
        if run_id not in self.items:
            self.rebuild()
        if run_id in self.items:
            self.setCurrentItem(self.items[run_id])

    def checked(self) -> list[str]:
        return [run_id for run_id, item in self.items.items() if item.checkState(0) == Qt.CheckState.Checked]

    def set_checked(self, run_ids: list[str]) -> None:
        for run_id, item in self.items.items():
            item.setCheckState(0, Qt.CheckState.Checked if run_id in run_ids else Qt.CheckState.Unchecked)

    def _current_changed(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None:
            self.run_selected.emit(item.data(0, Qt.ItemDataRole.UserRole))

    def _item_changed(self, _item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.compare_changed.emit(self.checked())


def started_text(history: RunHistory) -> str:
    if not history.started:
        return "not started"
    return "started " + time.strftime("%Y-%m-%d %H:%M", time.localtime(history.started))


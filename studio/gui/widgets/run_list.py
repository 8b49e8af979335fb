"""The runs in the workspace, newest first, with what tells them apart: name, status, start time,
duration, base model, rank, objective, best eval loss and last loss; sortable by any column; tick
runs to overlay their loss curves. A run trained by a process other than this app says so in its
tooltip; a run whose adapter got a version suffix (the name was taken) shows the saved name with
"(<name> was taken)" in its tooltip and in the summary above the plots."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from studio.core.eta import duration_text, run_seconds
from studio.core.run_history import RunHistory
from studio.core.runs import run_objective, saved_as_note
from studio.gui.run_manager import RunManager
from studio.gui.theme import Theme

STATUS_TEXT = {"created": "starting", "running": "running", "completed": "completed", "cancelled": "cancelled",
               "failed": "failed"}
ROW_KEY = Qt.ItemDataRole.UserRole + 1       # what a row shows, to skip rows that did not change
ELSEWHERE = "trained by another process (a terminal, a detached run, an earlier app); Cancel still stops it"
COLUMNS = ["Run", "Status", "Started", "Time", "Base", "Rank", "Objective", "Best eval", "Loss"]
NAME_WIDTH = 170
SORT_ROLE = Qt.ItemDataRole.UserRole + 2     # the value a column sorts by, when it is not its text
STATUS_COLOR = {"running": "accent", "completed": "good", "cancelled": "warn", "failed": "bad", "created": "muted"}


class RunList(QTreeWidget):
    run_selected = Signal(str)
    compare_changed = Signal(list)

    def __init__(self, runs: RunManager, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs = runs
        self.theme = theme
        self.setObjectName("run-list")
        self.setHeaderLabels(COLUMNS)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSortingEnabled(True)
        self.sortByColumn(COLUMNS.index("Started"), Qt.SortOrder.DescendingOrder)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, NAME_WIDTH)
        for column in range(1, len(COLUMNS)):
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
        self.setSortingEnabled(False)           # rows move while sorted inserts happen otherwise
        for run_id in self.runs.run_ids():
            item = SortableItem()
            item.setData(0, Qt.ItemDataRole.UserRole, run_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if run_id in checked else Qt.CheckState.Unchecked)
            self.addTopLevelItem(item)
            self.items[run_id] = item
        self.refresh_rows()
        self.setSortingEnabled(True)
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
                config = info.config if info else None
                base = Path(config.model.name_or_path.rstrip("/\\")).name if config else ""
                rank = str(config.lora.rank) if config else ""
                best = history.best_eval_loss
                cells = [name, status, short_start(history), duration_text(run_seconds(history)), base, rank,
                         run_objective(config), f"{best:.4f}" if best is not None else "", loss_text]
                key = "\x1f".join([*cells, steps, color, started, where])
                if item.data(0, ROW_KEY) == key:
                    continue
                item.setData(0, ROW_KEY, key)
                for column, text in enumerate(cells):
                    item.setText(column, text)
                item.setData(COLUMNS.index("Started"), SORT_ROLE, history.started or 0.0)
                item.setData(COLUMNS.index("Time"), SORT_ROLE, run_seconds(history) or 0.0)
                for column, value in ((COLUMNS.index("Rank"), config.lora.rank if config else 0),
                                      (COLUMNS.index("Best eval"), best if best is not None else float("inf")),
                                      (COLUMNS.index("Loss"), loss if loss is not None else float("inf"))):
                    item.setData(column, SORT_ROLE, value)
                adapter = (history.done or {}).get("adapter_name")
                renamed = saved_as_note(config.name, adapter) if config else ""
                renamed = f"saved as {renamed}" if renamed else ""
                item.setToolTip(0, "\n".join(filter(None, (name, run_id, started, steps, renamed, where))))
                item.setToolTip(1, where)
                item.setToolTip(COLUMNS.index("Base"), config.model.name_or_path if config else "")
                item.setForeground(1, QBrush(QColor(color)))
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


class SortableItem(QTreeWidgetItem):
    """Sorts numbers and times by value (SORT_ROLE), not by their text."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        mine, theirs = self.data(column, SORT_ROLE), other.data(column, SORT_ROLE)
        if mine is not None and theirs is not None:
            return bool(mine < theirs)
        return self.text(column).casefold() < other.text(column).casefold()


def short_start(history: RunHistory) -> str:
    if not history.started:
        return ""
    started = time.localtime(history.started)
    same_day = time.strftime("%Y%m%d", started) == time.strftime("%Y%m%d")
    return time.strftime("%H:%M" if same_day else "%b %d %H:%M", started)


def started_text(history: RunHistory) -> str:
    if not history.started:
        return "not started"
    return "started " + time.strftime("%Y-%m-%d %H:%M", time.localtime(history.started))


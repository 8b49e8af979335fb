"""The runs in the workspace, newest first, with what tells them apart: name, status, start time,
duration, base model, rank, objective, best eval loss and last loss; sortable by any column; tick
runs to overlay their loss curves. A run trained by a process other than this app says so in its
tooltip; a run whose adapter got a version suffix (the name was taken) shows the saved name with
"(<name> was taken)" in its tooltip and in the summary above the plots."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from studio.core.eta import duration_text, run_seconds
from studio.core.run_history import RunHistory
from studio.core.runs import RunInfo, run_objective, saved_as_note
from studio.gui.run_manager import RunManager
from studio.gui.theme import Theme

STATUS_TEXT = {"created": "starting", "running": "running", "completed": "completed", "cancelled": "cancelled",
               "failed": "failed"}
ROW_KEY = Qt.ItemDataRole.UserRole + 1       # what a row shows, to skip rows that did not change
ELSEWHERE = "trained by another process (a terminal, a detached run, an earlier app); Cancel still stops it"
COLUMNS = ["Run", "Status", "Started", "Time", "Base", "Rank", "Objective", "Best eval", "Loss"]
NAME_WIDTH = 170
SORT_ROLE = Qt.ItemDataRole.UserRole + 2     # the value a column sorts by, when it is not its text
SLICE_S = 0.008                              # row texts worked out per turn of the event loop after a listing
LIVE = ("running", "created")                # rows whose duration and progress move on their own
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
        for column in range(1, len(COLUMNS)):        # fitted to their contents by fit_columns
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        self.items: dict[str, QTreeWidgetItem] = {}
        self._stamps: dict[str, tuple] = {}             # what each row was last worked out from
        self._cells: dict[str, list[str]] = {}          # each row's texts, for fit_columns
        self._advance: dict[str, int] = {}              # text -> its width in self._advance_font
        self._advance_font = ""
        self._filling = False                           # a listing's rows are being filled in slices
        self._keep_current: str | None = None           # the run to select once they are
        self._unfitted = False                          # texts changed since fit_columns
        self.currentItemChanged.connect(self._current_changed)
        self.itemChanged.connect(self._item_changed)
        runs.runs_changed.connect(self._runs_changed)
        theme.changed.connect(self._restyled)
        self.fit_columns()

    def _restyled(self) -> None:
        """New colours for every row, in slices; then the widths (the style sheet's font or
        padding may have changed)."""
        self._unfitted = True
        self._sync_rows(budget_s=SLICE_S)

    def rebuild(self) -> None:
        """Match the rows to the runs now, every row's texts included (tests, `select`)."""
        self._sync_rows(budget_s=None)

    def _runs_changed(self) -> None:
        """After a listing: the rows are matched at once, their texts worked out in slices of
        SLICE_S per turn of the event loop (1,000 new rows took 0.1-0.25 s in one turn)."""
        self._sync_rows(budget_s=SLICE_S)

    def _sync_rows(self, budget_s: float | None) -> None:
        """Rows of runs that vanished go, new runs get a row, and the rows that stay are kept
        (with their tick) and refreshed only where they changed. Making every row again took a
        third of a second at 1,000 runs, after every listing."""
        current = self._keep_current if self._filling else self.current_run()
        self.blockSignals(True)
        run_ids = self.runs.run_ids()
        wanted = set(run_ids)
        gone = [run_id for run_id in self.items if run_id not in wanted]
        added = [run_id for run_id in run_ids if run_id not in self.items]
        if gone or added:
            self.setSortingEnabled(False)           # rows move while sorted inserts happen otherwise
        if current in gone:
            self.setCurrentItem(None)               # as before: a vanished run leaves nothing selected
        for run_id in gone:
            item = self.items.pop(run_id)
            self._stamps.pop(run_id, None)
            self._cells.pop(run_id, None)
            self.takeTopLevelItem(self.indexOfTopLevelItem(item))
        new_items = []
        for run_id in added:
            item = SortableItem()
            item.setData(0, Qt.ItemDataRole.UserRole, run_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Unchecked)
            new_items.append(item)
            self.items[run_id] = item
        if new_items:
            self.addTopLevelItems(new_items)
        self.blockSignals(False)
        self._keep_current = current
        self._filling = True
        self._continue_fill(budget_s)

    def _continue_fill(self, budget_s: float | None = SLICE_S) -> None:
        """The next slice of row texts; once all are in, sort and select as a listing always did."""
        if not self._filling:
            return
        if not self._refresh(budget_s):
            QTimer.singleShot(0, self, self._continue_fill)
            return
        self._filling = False
        if not self.isSortingEnabled():
            blocked = self.blockSignals(True)
            self.setSortingEnabled(True)
            self.blockSignals(blocked)
        current = self._keep_current
        if current in self.items:
            if self.currentItem() is not self.items[current]:
                self.setCurrentItem(self.items[current])
        elif self.items and current is None:
            self.setCurrentItem(self.topLevelItem(0))

    def refresh_rows(self) -> None:
        """Update the rows' texts in place, touching only what changed: every change of an item
        is a signal and a repaint, and this runs a few times a second during a run. While a
        listing's rows are still being filled in slices, this is one more slice."""
        self._refresh(SLICE_S if self._filling else None)

    def _refresh(self, budget_s: float | None) -> bool:
        """The rows that changed, for at most `budget_s` (None: all); True when every row is
        current. A finished row whose run, history and colours are the same objects as last time
        is skipped without working out its texts (that alone was 25 ms a call at 1,000 runs)."""
        colors = self.theme.colors()
        palette = tuple(colors[name] for name in STATUS_COLOR.values())
        today = time.strftime("%Y%m%d")
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        complete = True
        blocked = self.blockSignals(True)        # text changes are not the ticks that compare_changed reports
        try:
            for run_id, item in self.items.items():
                history = self.runs.history(run_id)
                info = self.runs.infos.get(run_id)
                where = ELSEWHERE if self.runs.trained_elsewhere(run_id) else ""
                stamp = (history, info, self.runs.version(run_id), history.status, where, palette, today)
                old = self._stamps.get(run_id)
                if (old is not None and old[0] is history and old[1] is info and old[2:] == stamp[2:]
                        and history.status not in LIVE):
                    continue
                self._stamps[run_id] = stamp
                self._unfitted = self._refresh_row(item, run_id, history, info, where, colors) or self._unfitted
                if deadline is not None and time.perf_counter() > deadline:   # at least one row a slice
                    complete = False
                    break
        finally:
            self.blockSignals(blocked)
        if complete and self._unfitted:
            self._unfitted = False
            self.fit_columns()
        self.viewport().update()
        return complete

    def _refresh_row(self, item: QTreeWidgetItem, run_id: str, history: RunHistory, info: RunInfo | None,
                     where: str, colors: dict[str, str]) -> bool:
        """One row's texts, tooltips and sort values; False when nothing it shows changed."""
        name = (history.done or {}).get("adapter_name") or (info.name if info and info.name else run_id)
        steps = f"step {history.step}/{history.max_steps}" if history.max_steps else ""
        status = STATUS_TEXT.get(history.status, history.status)
        if history.status == "running" and history.max_steps:
            status = f"{100 * history.step // history.max_steps}%"
        loss = history.final_loss
        color = colors[STATUS_COLOR.get(history.status, "muted")]
        loss_text = f"{loss:.4f}" if loss is not None else ""
        started = started_text(history)
        config = info.config if info else None
        base = Path(config.model.name_or_path.rstrip("/\\")).name if config else ""
        rank = str(config.lora.rank) if config else ""
        best = history.best_eval_loss
        cells = [name, status, short_start(history), duration_text(run_seconds(history)), base, rank,
                 run_objective(config), f"{best:.4f}" if best is not None else "", loss_text]
        key = "\x1f".join([*cells, steps, color, started, where])
        if item.data(0, ROW_KEY) == key:
            return False
        item.setData(0, ROW_KEY, key)
        self._cells[run_id] = cells
        for column, text in enumerate(cells):
            item.setText(column, text)
        item.sort_values = {COLUMNS.index("Started"): history.started or 0.0,
                            COLUMNS.index("Time"): run_seconds(history) or 0.0,
                            COLUMNS.index("Rank"): config.lora.rank if config else 0,
                            COLUMNS.index("Best eval"): best if best is not None else float("inf"),
                            COLUMNS.index("Loss"): loss if loss is not None else float("inf")}
        for column, value in item.sort_values.items():
            item.setData(column, SORT_ROLE, value)
        adapter = (history.done or {}).get("adapter_name")
        renamed = saved_as_note(config.name, adapter) if config else ""
        renamed = f"saved as {renamed}" if renamed else ""
        item.setToolTip(0, "\n".join(filter(None, (name, run_id, started, steps, renamed, where))))
        item.setToolTip(1, where)
        item.setToolTip(COLUMNS.index("Base"), config.model.name_or_path if config else "")
        item.setForeground(1, QBrush(QColor(color)))
        return True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Measured again once shown: the style sheet (fonts, padding) applies from then on."""
        super().showEvent(event)
        QTimer.singleShot(0, self, self.fit_columns)

    def fit_columns(self) -> None:
        """Every column but the name exactly as wide as its header or widest value, as
        ResizeToContents makes them, but measured on one cell per column (the widest text) rather
        than every row: ResizeToContents laid out each cell through the style sheet, 0.1-0.2 s at
        1,000 runs, on every listing and each time the page was shown."""
        metrics = self.fontMetrics()
        font = self.font().key()
        if font != self._advance_font:               # text widths are kept per font: most repeat
            self._advance_font, self._advance = font, {}
        advance = self._advance
        header = self.header()
        rows = [self._cells[run_id] for run_id in self.items if run_id in self._cells]

        def width(text: str) -> int:
            if text not in advance:
                advance[text] = metrics.horizontalAdvance(text)
            return advance[text]

        for column in range(1, len(COLUMNS)):
            want = header.sectionSizeHint(column)
            if rows:
                widest = max(rows, key=lambda cells, c=column: width(cells[c]))
                run_id = next(r for r in self.items if self._cells.get(r) is widest)
                index = self.indexFromItem(self.items[run_id], column)
                want = max(want, self.sizeHintForIndex(index).width())
            if self.columnWidth(column) != want:
                self.setColumnWidth(column, want)

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

    sort_values: dict[int, float] = {}    # SORT_ROLE's values, kept in Python too: read per comparison

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        mine = self.sort_values.get(column)
        theirs = getattr(other, "sort_values", {}).get(column)
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


"""The adapters of the library as a sortable table, broken folders included.

A model over `core.library.AdapterInfo` rows (filtered by `core.library.search_adapters`, the same
search as `studio adapters list --search`); a QSortFilterProxyModel sorts on the raw values, so
losses and sizes sort as numbers and missing values stay at the bottom. A damaged folder is a
greyed row with a warning icon whose tooltip says why: the table never fails because of one.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QItemSelectionModel, QModelIndex, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt, QTimer, Signal)
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from studio.core.library import AdapterInfo
from studio.core.memory import format_bytes
from studio.gui.resources import icon
from studio.gui.theme import Theme

COLUMNS = ("Name", "Base model", "Rank", "Targets", "Dataset", "Created", "Final loss", "Best eval", "Size", "Tags")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole
RIGHT_ALIGNED = (2, 6, 7, 8)
WIDTHS = (150, 110, 0, 80, 80, 0, 0, 0, 0, 60)     # 0: a short figure, as wide as its widest value


def short_path(path: str, width: int = 34) -> str:
    """A local path shows as its last folder (or file) name; hub ids stay whole."""
    if path.startswith(("/", "~", ".")) or "\\" in path:
        path = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return path if len(path) <= width else "…" + path[-(width - 1):]


def cell_text(info: AdapterInfo, column: int) -> str:
    if info.broken and column == 1:
        return f"broken: {info.broken}"
    values = (info.name, short_path(info.base_model), "" if info.rank is None else str(info.rank),
              ", ".join(info.targets), short_path(info.dataset), info.created[:10],
              "" if info.final_loss is None else f"{info.final_loss:.4f}",
              "" if info.best_eval_loss is None else f"{info.best_eval_loss:.4f}",
              format_bytes(info.size_bytes), ", ".join(info.tags))
    return values[column]


def sort_value(info: AdapterInfo, column: int) -> Any:
    """(missing?, value): missing values sort after present ones in ascending order."""
    raw = (info.name.casefold(), info.base_model.casefold(), info.rank, ", ".join(info.targets), info.dataset,
           info.created, info.final_loss, info.best_eval_loss, info.size_bytes, ", ".join(info.tags).casefold())[column]
    return (raw in (None, ""), raw if raw not in (None, "") else 0)


class AdapterModel(QAbstractTableModel):
    """The rows' texts and sort keys are computed once per listing (`set_adapters`): a view calls
    data() for every cell it paints or measures, tens of thousands of calls for a few hundred
    adapters, and each one formatted its text again."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        self.adapters: list[AdapterInfo] = []
        self.texts: list[tuple[str, ...]] = []
        self.keys: list[tuple[Any, ...]] = []

    def set_adapters(self, adapters: list[AdapterInfo]) -> None:
        self.beginResetModel()
        self.adapters = adapters
        self.texts = [tuple(cell_text(info, c) for c in range(len(COLUMNS))) for info in adapters]
        self.keys = [tuple(sort_value(info, c) for c in range(len(COLUMNS))) for info in adapters]
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.adapters)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.texts[row][column]
        if role == SORT_ROLE:
            return self.keys[row][column]
        info = self.adapters[row]
        if role == NAME_ROLE:
            return info.name
        if role == Qt.ItemDataRole.ToolTipRole:
            if info.broken:
                return f"{info.name} cannot be used: {info.broken}\n{info.path}"
            if column == 1:
                return info.base_model
            if column == 4:
                return info.dataset
            if column == 5:
                return info.created
            return info.notes or None
        if role == Qt.ItemDataRole.ForegroundRole and info.broken:
            return QBrush(QColor(self.theme.colors()["disabled"]))
        if role == Qt.ItemDataRole.DecorationRole and column == 0 and info.broken:
            return icon("warning", self.theme.colors()["warn"], 16)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in RIGHT_ALIGNED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _SortProxy(QSortFilterProxyModel):
    """Sorts on the source's cached keys, read directly rather than through data() twice per
    comparison."""

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        source = self.sourceModel()
        if isinstance(source, AdapterModel):
            a, b = source.keys[left.row()][left.column()], source.keys[right.row()][right.column()]
        else:
            a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a[0] != b[0]:              # a missing value goes last in either direction
            return b[0] if self.sortOrder() == Qt.SortOrder.AscendingOrder else a[0]
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


class AdapterTable(QTableView):
    selection_changed = Signal(list)          # names of the selected adapters, in table order

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("adapter-table")
        self.source = AdapterModel(theme)
        self.proxy = _SortProxy(self)
        self.proxy.setSourceModel(self.source)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(5, Qt.SortOrder.DescendingOrder)          # newest first
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setAlternatingRowColors(False)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(26)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate(WIDTHS):
            if width:
                self.setColumnWidth(column, width)
            else:            # short figures: as wide as the header or the widest value (fit_figure_columns)
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        self.fit_figure_columns()
        self.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit(self.selected_names()))
        theme.changed.connect(self._restyled)

    def _restyled(self) -> None:
        self.fit_figure_columns()
        self.viewport().update()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Measured again once shown: the style sheet (fonts, padding) applies from then on."""
        super().showEvent(event)
        QTimer.singleShot(0, self, self.fit_figure_columns)

    def fit_figure_columns(self) -> None:
        """The short-figure columns exactly as wide as their header or widest value, as
        ResizeToContents makes them, but measured on one cell per column (the widest text) rather
        than every cell: ResizeToContents laid out each cell through the style sheet, seconds for
        500 adapters, each time the rows changed or the page was first shown."""
        metrics = self.fontMetrics()
        header = self.horizontalHeader()
        texts = self.source.texts
        for column, width in enumerate(WIDTHS):
            if width:
                continue
            want = header.sectionSizeHint(column)
            if texts:
                row = max(range(len(texts)), key=lambda r, c=column: metrics.horizontalAdvance(texts[r][c]))
                index = self.proxy.mapFromSource(self.source.index(row, column))
                want = max(want, self.sizeHintForIndex(index).width())
            self.setColumnWidth(column, want)

    def set_adapters(self, adapters: list[AdapterInfo]) -> None:
        """New rows; the selection is kept by name."""
        keep = self.selected_names()
        self.selectionModel().blockSignals(True)
        self.source.set_adapters(adapters)
        self.selectionModel().blockSignals(False)
        self.fit_figure_columns()
        self.select_names(keep)

    def info(self, name: str) -> AdapterInfo | None:
        return next((a for a in self.source.adapters if a.name == name), None)

    def selected_names(self) -> list[str]:
        rows = sorted(index.row() for index in self.selectionModel().selectedRows())
        return [self.proxy.index(row, 0).data(NAME_ROLE) for row in rows]

    def selected(self) -> list[AdapterInfo]:
        return [info for name in self.selected_names() if (info := self.info(name)) is not None]

    def select_names(self, names: list[str]) -> None:
        """Select these rows; `selection_changed` is sent once, not for each step (each one made
        the Library page read a lineage card from disk)."""
        model = self.selectionModel()
        model.blockSignals(True)
        try:
            model.clearSelection()
            flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
            first = True
            for row in range(self.proxy.rowCount()):
                index = self.proxy.index(row, 0)
                if index.data(NAME_ROLE) in names:
                    if first:
                        self.setCurrentIndex(index)       # also scrolls to it; selects the row
                        first = False
                    model.select(index, flags)
        finally:
            model.blockSignals(False)
        self.viewport().update()
        self.selection_changed.emit(self.selected_names())

    def row_of(self, name: str) -> int:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(NAME_ROLE) == name:
                return row
        return -1

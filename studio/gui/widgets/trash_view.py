"""The library's trash: deleted adapters, newest first, with Restore and Empty trash.

A view over `core.library_ops.list_trash` (the same entries as `studio adapters trash`); the
page does the restoring, so that it can refresh the library afterwards.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.core.library_ops import TrashEntry
from studio.core.memory import format_bytes


class TrashView(QWidget):
    restore_clicked = Signal(list)           # trash entry ids
    empty_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trash-view")
        self.entries: list[TrashEntry] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Adapter", "Deleted", "Size", "Trash entry"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemDoubleClicked.connect(lambda *_: self.restore_clicked.emit(self.selected_entries()))
        self.hint = QLabel("Deleted adapters stay here until the trash is emptied. Restore puts an adapter back "
                           "under its old name (or the next free version of it).")
        self.hint.setProperty("role", "muted")
        self.hint.setWordWrap(True)
        self.restore = QPushButton("Restore")
        self.restore.setObjectName("restore-adapter")
        self.restore.setEnabled(False)
        self.restore.clicked.connect(lambda: self.restore_clicked.emit(self.selected_entries()))
        self.empty = QPushButton("Empty trash…")
        self.empty.clicked.connect(self.empty_clicked.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.restore)
        buttons.addStretch(1)
        buttons.addWidget(self.empty)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)

    def set_entries(self, entries: list[TrashEntry]) -> None:
        self.entries = entries
        self.tree.clear()
        for entry in entries:
            item = QTreeWidgetItem([entry.name, entry.deleted[:19].replace("T", " "), format_bytes(entry.size_bytes),
                                    entry.entry])
            item.setData(0, Qt.ItemDataRole.UserRole, entry.entry)
            item.setToolTip(0, str(entry.path))
            self.tree.addTopLevelItem(item)
        self.empty.setEnabled(bool(entries))
        self._selection_changed()

    def selected_entries(self) -> list[str]:
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in self.tree.selectedItems()]

    def select_entry(self, entry: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(item.data(0, Qt.ItemDataRole.UserRole) == entry)

    def _selection_changed(self) -> None:
        self.restore.setEnabled(bool(self.selected_entries()))

"""The rejected rows of a dataset, each with where it is and why; click one to see the row.

The same RowError objects `studio data check` prints, so the GUI and the CLI always agree. The
raw text of the chosen line is read from the file on click (only that line), so a person sees
exactly what to fix without opening an editor.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from studio.core.datasets import RowError

MAX_SHOWN = 5000
RAW_CHARS = 2000


class ProblemsList(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.errors: list[RowError] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Where", "Problem", "Detail"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 130)
        self.tree.setColumnWidth(1, 150)
        self.tree.currentItemChanged.connect(self._show_row)
        self.summary = QLabel()
        self.summary.setProperty("role", "muted")
        self.summary.setWordWrap(True)
        self.raw = QPlainTextEdit()
        self.raw.setReadOnly(True)
        self.raw.setMaximumHeight(110)
        self.raw.setPlaceholderText("Click a row above to see it as it is in the file.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.raw)

    def set_errors(self, path: Path | None, errors: list[RowError], reasons: dict[str, int]) -> None:
        self.path, self.errors = path, errors
        self.tree.clear()
        self.raw.clear()
        if not errors:
            self.summary.setText("Every row was read. Nothing to fix.")
            return
        counts = ", ".join(f"{n} × {reason}" for reason, n in reasons.items())
        self.summary.setText(f"{len(errors)} rows were rejected ({counts}). Training refuses the file until "
                             "they are fixed, unless you allow skipping bad rows.")
        for error in errors[:MAX_SHOWN]:
            item = QTreeWidgetItem([error.where, error.category, error.detail])
            item.setToolTip(2, error.detail)
            item.setData(0, Qt.ItemDataRole.UserRole, error)
            self.tree.addTopLevelItem(item)

    def _show_row(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None = None) -> None:
        if item is None or self.path is None:
            return
        error: RowError = item.data(0, Qt.ItemDataRole.UserRole)
        self.raw.setPlainText(f"{error}\n\n{raw_line(self.path, error)}")

    def select(self, index: int) -> None:
        self.tree.setCurrentItem(self.tree.topLevelItem(index))


def raw_line(path: Path, error: RowError) -> str:
    """The text of a rejected line (JSONL/CSV/txt); rows of Parquet or JSON arrays have no line of their own."""
    if error.unit != "line" or not path.is_file():
        return f"(row {error.line} of {path.name})"
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == error.line:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                return text if len(text) <= RAW_CHARS else text[:RAW_CHARS] + "…"
    return "(the line is no longer in the file)"

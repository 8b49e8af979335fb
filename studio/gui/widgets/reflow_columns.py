"""Columns that wrap onto new rows when the window is too narrow for them side by side.

A page of three fixed columns squeezes the first to nothing on a 1024-pixel laptop screen. Here
each column keeps at least its minimum width; when they do not all fit, the later ones move to a
row below (spanning the width), and the page scrolls as a whole (the caller puts this in one
QScrollArea) rather than each column in its own little scroll box.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGridLayout, QLayout, QSizePolicy, QWidget


class ReflowColumns(QWidget):
    def __init__(self, columns: list[tuple[QWidget, int]], spacing: int = 12, parent: QWidget | None = None) -> None:
        """`columns`: (widget, stretch) pairs, in reading order."""
        super().__init__(parent)
        self.columns = columns
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(spacing)
        # The grid must not pin this widget to the width of all columns side by side, or it could
        # never become narrow enough to reflow.
        self.grid.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.per_row = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._place(len(columns))

    def fitting(self, width: int) -> int:
        """How many columns fit side by side in `width` (at least one)."""
        for count in range(len(self.columns), 1, -1):
            needed = sum(w.minimumSizeHint().width() for w, _ in self.columns[:count])
            needed = max(needed, *(self._row_need(i, count) for i in range(0, len(self.columns), count)))
            if needed + self.grid.spacing() * (count - 1) <= width:
                return count
        return 1

    def _row_need(self, start: int, count: int) -> int:
        return sum(w.minimumSizeHint().width() for w, _ in self.columns[start:start + count])

    def _place(self, per_row: int) -> None:
        if per_row == self.per_row:
            return
        self.per_row = per_row
        for widget, _ in self.columns:
            self.grid.removeWidget(widget)
        for column in range(self.grid.columnCount()):
            self.grid.setColumnStretch(column, 0)
        for index, (widget, stretch) in enumerate(self.columns):
            row, column = divmod(index, per_row)
            last_in_short_row = index == len(self.columns) - 1 and column < per_row - 1
            span = per_row - column if last_in_short_row else 1
            self.grid.addWidget(widget, row, column, 1, span)
            if row == 0:
                self.grid.setColumnStretch(column, stretch)
        self.updateGeometry()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._place(self.fitting(event.size().width()))
        super().resizeEvent(event)

    def minimumSizeHint(self) -> QSize:
        """As narrow as the widest single column: below that the page scrolls sideways."""
        hint = super().minimumSizeHint()
        return QSize(max(w.minimumSizeHint().width() for w, _ in self.columns), hint.height())

"""Two adapters' settings side by side, the rows that differ highlighted (`studio adapters diff`).

Rows come from `core.adapter_details.diff_adapters`: base model, data, run config, metrics and
the peft config, flattened to dotted keys. "Only differences" hides the rows that are the same.
"""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.core.adapter_details import DiffRow, diff_adapters, short_value
from studio.core.library import AdapterInfo
from studio.gui.theme import Theme


class CompareDialog(QDialog):
    def __init__(self, a: AdapterInfo, b: AdapterInfo, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compare-dialog")
        self.setWindowTitle(f"Compare {a.name} and {b.name}")
        self.theme = theme
        self.rows: list[DiffRow] = diff_adapters(a, b)
        differing = sum(r.differs for r in self.rows)
        summary = QLabel(f"{differing} of {len(self.rows)} settings differ (highlighted)." if differing else
                         "The two adapters have the same settings.")
        summary.setProperty("role", "muted")
        self.only_differences = QCheckBox("Only differences")
        self.only_differences.toggled.connect(self._filter)
        top = QHBoxLayout()
        top.addWidget(summary, 1)
        top.addWidget(self.only_differences)
        self.table = QTreeWidget()
        self.table.setObjectName("compare-table")
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setHeaderLabels(["Setting", a.name, b.name])
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.header().setStretchLastSection(True)
        self.table.setColumnWidth(0, 250)
        self.table.setColumnWidth(1, 300)
        self._fill()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(920, 640)

    def _fill(self) -> None:
        colors = self.theme.colors()
        bold = QFont(self.font())
        bold.setBold(True)
        for row in self.rows:
            item = QTreeWidgetItem([row.key, short_value(row.a), short_value(row.b)])
            for column, value in ((1, row.a), (2, row.b)):
                item.setToolTip(column, str(value))
            if row.differs:
                for column in range(3):
                    item.setBackground(column, QBrush(QColor(colors["warn_soft"])))
                    item.setFont(column, bold)
            else:
                for column in range(3):
                    item.setForeground(column, QBrush(QColor(colors["muted"])))
            self.table.addTopLevelItem(item)

    def differing_keys(self) -> list[str]:
        """The keys of the highlighted rows (what a test or a user looks for)."""
        return [r.key for r in self.rows if r.differs]

    def _filter(self, only: bool) -> None:
        for i, row in enumerate(self.rows):
            self.table.topLevelItem(i).setHidden(only and not row.differs)

"""Dataset format and column mapping: shows what was detected and lets the person override it.

Each field the chosen format reads (prompt and completion, instruction/input/output, messages,
...) gets a list of the file's columns; leaving "(same name)" uses the column of that name. The
choices are written to the config as data.format and data.columns, exactly what
`studio train --format ... --columns ...` takes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.core.config import FORMAT_CHOICES
from studio.core.datasets import FIELDS

SAME = "(same name)"
FIELDS_PER_ROW = 2
MIN_COMBO_CHARS = 9          # "(same name)" fits; longer column names show in full in the list
FORMAT_NAMES = {"auto": "Detect automatically", "chat": "Chat (OpenAI messages)", "sharegpt": "ShareGPT",
                "alpaca": "Alpaca", "completion": "Prompt / completion", "text": "Plain text",
                "preference": "Preference pairs (DPO, ORPO)", "kto": "Labelled answers (KTO)"}


class FormatMapping(QWidget):
    format_chosen = Signal(str)
    mapping_changed = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.format = QComboBox()
        for name in FORMAT_CHOICES:
            self.format.addItem(FORMAT_NAMES[name], name)
        self.format.setObjectName("data.format")
        self.format.currentIndexChanged.connect(lambda _i: self.format_chosen.emit(self.format.currentData()))
        self.detected = QLabel()
        self.detected.setProperty("role", "muted")
        self.detected.setWordWrap(True)          # wraps rather than widening the page on a laptop screen
        self.fields = QGridLayout()
        self.fields.setHorizontalSpacing(8)
        self.combos: dict[str, QComboBox] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Format"))
        row.addWidget(self.format)
        row.addWidget(self.detected, 1)
        columns = QHBoxLayout()
        columns.setContentsMargins(0, 0, 0, 0)
        columns.addLayout(self.fields)
        columns.addStretch(1)
        self.columns_label = QLabel("Columns (the file's column for each field)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.columns_label)     # above the fields, so they get the card's whole width
        layout.addLayout(columns)

    def show_report(self, chosen: str, effective: str, columns: list[str], mapping: dict[str, str]) -> None:
        """chosen: the config's format (may be auto); effective: what the import used."""
        self.format.blockSignals(True)
        self.format.setCurrentIndex(max(0, self.format.findData(chosen)))
        self.format.blockSignals(False)
        self.detected.setText(f"detected: {FORMAT_NAMES.get(effective, effective)}" if chosen == "auto" else "")
        self._build_fields(effective, columns, mapping)

    def _build_fields(self, fmt: str, columns: list[str], mapping: dict[str, str]) -> None:
        while self.fields.count():
            item = self.fields.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.combos = {}
        self.columns_label.setVisible(bool(columns) and fmt in FIELDS)
        if not columns or fmt not in FIELDS:
            return
        for i, field in enumerate(FIELDS[fmt]):
            combo = QComboBox()
            combo.setObjectName(f"column:{field}")
            combo.addItem(SAME)
            combo.addItems(columns)
            combo.setCurrentText(mapping.get(field, SAME))
            combo.setToolTip(f"The file's column that holds '{field}' for the {fmt} format.")
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(MIN_COMBO_CHARS)
            combo.currentTextChanged.connect(self._emit_mapping)
            row, column = divmod(i, FIELDS_PER_ROW)     # wrapped, so a laptop screen holds the page
            self.fields.addWidget(QLabel(field), row, 2 * column)
            self.fields.addWidget(combo, row, 2 * column + 1)
            self.combos[field] = combo

    def _emit_mapping(self, _text: str) -> None:
        mapping = {field: combo.currentText() for field, combo in self.combos.items()
                   if combo.currentText() != SAME and combo.currentText() != field}
        self.mapping_changed.emit(mapping)

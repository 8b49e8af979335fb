"""The normalised records of a dataset as a table: what training will actually see.

A model over the list (not a widget per cell), so a file with a hundred thousand rows opens as
fast as one with ten. Chat records show their turns as "role: text" in one cell each for the
prompt and the answer; a preference pair shows its two answers (✓ chosen, ✗ rejected), a KTO row
its label. Long text is cut for the cell and shown whole in the tooltip.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from studio.core.datasets import Record

COLUMNS = ("Source", "Prompt / context", "Answer / text")
CELL_CHARS = 160


def turn_text(message: dict[str, Any]) -> str:
    """A turn in a few words: its text, its tool calls as name(arguments), a mark when not trained."""
    calls = " ".join(f"→ {c['function']['name']}({json.dumps(c['function']['arguments'], ensure_ascii=False)})"
                     for c in message.get("tool_calls", ()))
    thought = "[reasoning] " if message.get("reasoning_content") else ""
    skipped = " [not trained]" if message.get("train") is False else ""
    return f"{thought}{message['content']}{' ' if message['content'] and calls else ''}{calls}{skipped}"


def record_cells(record: Record) -> tuple[str, str]:
    if record.kind == "chat" and record.messages:
        *context, last = record.messages
        # The system prompt is usually the same in every row: show it last so the cell starts with
        # what differs (it is still in the tooltip).
        system = ("system", "developer")
        turns = [m for m in context if m["role"] not in system] + [m for m in context if m["role"] in system]
        prompt = "\n".join(f"{m['role']}: {turn_text(m)}" for m in turns)
        if record.tools:
            prompt += "\ntools: " + ", ".join(t["function"]["name"] for t in record.tools)
        answer = turn_text(last) if last["role"] == "assistant" else f"{last['role']}: {turn_text(last)}"
        return prompt, answer
    if record.kind == "preference":
        return _part(record.prompt), f"✓ {_part(record.chosen)}\n✗ {_part(record.rejected)}"
    if record.kind == "kto":
        label = "✓ desirable" if record.label else "✗ undesirable"
        return _part(record.prompt), f"{label}: {_part(record.completion)}"
    if record.kind == "completion":
        return str(record.prompt or ""), str(record.completion or "")
    return "", record.text or ""


def _part(value: str | list[dict[str, Any]] | None) -> str:
    """A preference prompt or answer: text, or its turns as "role: text" (answers: the text alone)."""
    if not isinstance(value, list):
        return value or ""
    if all(m["role"] == "assistant" for m in value):
        return " ".join(turn_text(m) for m in value)
    system = ("system", "developer")       # last, as for chat records: the cell starts with what differs
    turns = [m for m in value if m["role"] not in system] + [m for m in value if m["role"] in system]
    return "\n".join(f"{m['role']}: {turn_text(m)}" for m in turns)


class RecordsModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[Record] = []

    def set_records(self, records: list[Record]) -> None:
        self.beginResetModel()
        self.records = records
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return COLUMNS[section] if orientation == Qt.Orientation.Horizontal else str(section + 1)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        record = self.records[index.row()]
        if index.column() == 0:
            return record.source
        text = record_cells(record)[index.column() - 1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return text[:4000]
        flat = " ⏎ ".join(text.splitlines())
        return flat if len(flat) <= CELL_CHARS else flat[:CELL_CHARS] + "…"


class RecordsTable(QTableView):
    record_selected = Signal(int)            # the row (record index) that became current

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records_model = RecordsModel()
        self.setModel(self.records_model)
        self.selectionModel().currentRowChanged.connect(lambda current, _previous: self.record_selected.emit(
            current.row()) if current.isValid() else None)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(24)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 110)
        header.resizeSection(2, 160)

    def set_records(self, records: list[Record]) -> None:
        self.records_model.set_records(records)

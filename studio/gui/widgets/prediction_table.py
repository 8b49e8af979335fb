"""The Predictions tab of the Runs page: what the model answered to a few held-out prompts at
each evaluation, next to the expected answer, with exact match and similarity.

Rows come from the run's RunHistory (`predictions` events, see engine/prediction_samples.py). The
table is rebuilt only when a new predictions event arrived or another run or step was chosen
(`RunHistory.prediction_events` says so), not on every redraw of the page. The step box follows
the latest evaluation while it is chosen; an older step picked by hand stays shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from studio.core.run_history import RunHistory
from studio.gui.theme import Theme

COLUMNS = ("Prompt", "Expected", "Answer", "Exact", "Similarity")
EMPTY = ("No predictions yet. At each evaluation the run answers a few held-out prompts "
         "(train.sample_predictions); they appear here next to the expected answers.")
LATEST = -1


class PredictionTable(QWidget):
    def __init__(self, theme: Theme | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.history: RunHistory | None = None
        self._shown: tuple[int, int, int] | None = None      # (history id, events applied, step chosen)
        self.header = QLabel(EMPTY)
        self.header.setObjectName("predictions-header")
        self.header.setWordWrap(True)
        self.header.setProperty("role", "muted")
        self.steps = QComboBox()
        self.steps.setObjectName("predictions-step")
        self.steps.setToolTip("The evaluation whose answers are shown; the latest follows the run as it trains")
        self.steps.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.steps.activated.connect(lambda _index: self._draw())
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("predictions-table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for column, mode in enumerate([QHeaderView.ResizeMode.Stretch, QHeaderView.ResizeMode.Interactive,
                                       QHeaderView.ResizeMode.Stretch, QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.ResizeToContents]):
            header.setSectionResizeMode(column, mode)
        self.table.setColumnWidth(1, 140)
        self.table.horizontalHeaderItem(3).setToolTip("✓ when the answer equals the expected one "
                                                      "(whitespace trimmed)")
        self.table.horizontalHeaderItem(4).setToolTip("Share of matching characters, 0-1 (difflib ratio)")
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.steps)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.steps.hide()

    def show_history(self, history: RunHistory | None) -> None:
        """Show this run's predictions; cheap when nothing new arrived since the last call."""
        if history is not self.history:
            self.history = history
            self.steps.clear()          # a new run starts at its latest evaluation
        self._draw()

    def _chosen_step(self) -> int:
        data = self.steps.currentData()
        return LATEST if data is None else int(data)

    def _draw(self) -> None:
        history = self.history
        key = (id(history), history.prediction_events if history else 0, self._chosen_step())
        if key == self._shown:
            return
        self._shown = key
        if history is None or not history.predictions:
            self.header.setText(EMPTY)
            self.steps.hide()
            self.table.setRowCount(0)
            return
        self._fill_steps(history)
        chosen = self._chosen_step()
        entry = history.predictions.get(chosen) if chosen != LATEST else None
        entry = entry or history.latest_predictions
        assert entry is not None
        self.header.setText(self._header_text(history, entry))
        self._fill_rows(entry["rows"])
        self._shown = (id(history), history.prediction_events, self._chosen_step())

    def _fill_steps(self, history: RunHistory) -> None:
        """Latest first, then every kept evaluation from the newest; keeps the step picked by hand."""
        chosen = self._chosen_step()
        self.steps.blockSignals(True)
        self.steps.clear()
        self.steps.addItem("Latest evaluation", LATEST)
        for step in sorted(history.predictions, reverse=True):
            share = history.exact_match.get(step)
            self.steps.addItem(f"Step {step}" + (f" ({share:.0%})" if share is not None else ""), step)
        index = self.steps.findData(chosen)
        self.steps.setCurrentIndex(index if index >= 0 else 0)
        self.steps.blockSignals(False)
        self.steps.setVisible(len(history.predictions) > 1)

    def _header_text(self, history: RunHistory, entry: dict[str, Any]) -> str:
        rows = entry["rows"]
        exact = sum(1 for r in rows if r.get("exact"))
        parts = [f"At step {entry['step']}: exact match {exact}/{len(rows)} ({exact / max(len(rows), 1):.0%})"]
        if entry.get("mean_similarity") is not None:
            parts.append(f"mean similarity {entry['mean_similarity']:.2f}")
        if len(history.exact_match) > 1 and entry["step"] != min(history.exact_match):
            first = history.exact_match[min(history.exact_match)]
            parts.append(f"{first:.0%} at the first of {len(history.exact_match)} evaluations")
        if entry.get("seconds") is not None:
            parts.append(f"answered in {entry['seconds']:.1f} s ({history.prediction_time:.1f} s in all)")
        return " · ".join(parts)

    def _fill_rows(self, rows: list[dict[str, Any]]) -> None:
        colors = self.theme.colors() if self.theme is not None else {"good": "#1a7f37", "bad": "#cf222e"}
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            answer = str(row.get("answer") or "")
            self._set(index, 0, str(row.get("prompt") or ""), str(row.get("source") or ""))
            self._set(index, 1, str(row.get("expected") or ""))
            note = f"{row.get('tokens')} tokens, stopped at " + ("the end of the turn" if row.get("finish") == "eos"
                                                                  else "the token limit") if row.get("tokens") else ""
            self._set(index, 2, answer if answer else "(nothing)", note)
            exact = bool(row.get("exact"))
            mark = self._set(index, 3, "✓" if exact else "✗")
            mark.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            mark.setForeground(QColor(colors["good"] if exact else colors["bad"]))
            similarity = row.get("similarity")
            cell = self._set(index, 4, f"{similarity:.2f}" if isinstance(similarity, (int, float)) else "")
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def _set(self, row: int, column: int, text: str, note: str = "") -> QTableWidgetItem:
        """A cell whose tooltip has the full text (the cell elides it), and a note under it."""
        item = QTableWidgetItem(" ".join(text.split()) if column < 3 else text)
        tip = "\n\n".join(t for t in (text if column < 3 else "", note) if t)
        item.setToolTip(tip)
        self.table.setItem(row, column, item)
        return item

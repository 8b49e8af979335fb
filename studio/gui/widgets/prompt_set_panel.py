"""Prompt sets: many prompts through both loaded slots, answers side by side with the expected
answer and a score, exportable as CSV or JSONL.

Prompts come from a file (core.prompt_sets.load_prompt_file: .txt, a prompt column, or any
training format) or from a library adapter's held-out data (eval_prompts). They are read off the
GUI thread, then asked one at a time through the page's chat worker with the page's sampling
settings, each row filled as its answers arrive. Scores and the export are core.prompt_sets'.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QProgressBar,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.core.chat_protocol import Sampling
from studio.core.errors import StudioError
from studio.core.prompt_sets import CompareRow, PromptItem, eval_prompts, export_rows, load_prompt_file, score, \
    summarize
from studio.gui.background import run_in_thread
from studio.gui.chat_session import ChatSession
from studio.gui.theme import Theme

FILE_CHOICE = "A prompt file…"
PROMPT_FILTER = "Prompts (*.txt *.jsonl *.json *.csv *.parquet);;All files (*)"
EXPORT_FILTER = "CSV (*.csv);;JSON lines (*.jsonl)"
SLOTS = ("a", "b")


class PromptSetPanel(QWidget):
    busy_changed = Signal()

    def __init__(self, session: ChatSession, theme: Theme, settings: Callable[[], tuple[Sampling, str]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.theme = theme
        self.settings = settings                   # () -> (sampling, system prompt), the page's
        self.labels: dict[str, str] = {s: s.upper() for s in SLOTS}     # real labels, for export
        self.titles: dict[str, str] = dict(self.labels)                 # what the headers show
        self.rows: list[CompareRow] = []
        self.items: list[PromptItem] = []
        self.file: Path | None = None
        self.request: str | None = None
        self.stopping = False
        self.source = QComboBox()
        self.source.setObjectName("prompt-source")
        self.source.setMinimumContentsLength(16)
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source.activated.connect(self._source_chosen)
        self.limit = QSpinBox()
        self.limit.setObjectName("prompt-limit")
        self.limit.setRange(0, 100_000)
        self.limit.setValue(20)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Ask only the first N prompts (0 = all)")
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("prompt-run")
        self.run_button.setProperty("primary", True)
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("prompt-export")
        self.export_button.clicked.connect(self._export_dialog)
        self.progress = QProgressBar()
        self.progress.hide()
        self.summary = QLabel("Load the slots, choose prompts, then Run. Rows with an expected answer are scored: "
                              "✓ for an exact match, else the share of matching characters (0–1).")
        self.summary.setProperty("role", "muted")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 7)
        self.table.setObjectName("prompt-table")
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        self.table.setAlternatingRowColors(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for column, mode in enumerate([QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                       QHeaderView.ResizeMode.Interactive, QHeaderView.ResizeMode.Stretch,
                                       QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                       QHeaderView.ResizeMode.ResizeToContents]):
            header.setSectionResizeMode(column, mode)
        self.table.setColumnWidth(2, 120)
        top = QHBoxLayout()              # two rows, so the page fits a laptop screen beside the settings
        top.addWidget(QLabel("Prompts"))
        top.addWidget(self.source, 1)
        actions = QHBoxLayout()
        actions.addWidget(QLabel("First"))
        actions.addWidget(self.limit)
        actions.addStretch(1)
        actions.addWidget(self.run_button)
        actions.addWidget(self.stop_button)
        actions.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        session.answered.connect(self._answered)
        session.request_done.connect(self._request_done)
        self.set_adapters([])
        self._set_headers()
        self._update_buttons()

    # ---- sources ------------------------------------------------------------------------------------------
    def set_adapters(self, names: list[str]) -> None:
        """Offer the held-out data of these library adapters (the loaded slots'), then a file."""
        current = self.source.currentData()
        self.source.clear()
        for name in dict.fromkeys(names):
            self.source.addItem(f"Held-out data of {name}", f"eval:{name}")
        if self.file is not None:
            self.source.addItem(f"File: {self.file.name}", f"file:{self.file}")
            self.source.setItemData(self.source.count() - 1, str(self.file), Qt.ItemDataRole.ToolTipRole)
        self.source.addItem(FILE_CHOICE, "choose:")
        index = self.source.findData(current) if current and current != "choose:" else -1
        self.source.setCurrentIndex(index if index >= 0 else 0)

    def set_file(self, path: Path) -> None:
        self.file = Path(path)
        data = (str(self.source.itemData(i) or "") for i in range(self.source.count()))
        self.set_adapters([d.removeprefix("eval:") for d in data if d.startswith("eval:")])
        self.source.setCurrentIndex(self.source.findData(f"file:{self.file}"))

    def _source_chosen(self, _index: int) -> None:
        if self.source.currentData() == "choose:":
            path, _ = QFileDialog.getOpenFileName(self, "Choose a prompt file", str(Path.home()), PROMPT_FILTER)
            if path:
                self.set_file(Path(path))
            else:
                self.source.setCurrentIndex(0)

    def set_labels(self, labels: dict[str, str], titles: dict[str, str]) -> None:
        self.labels, self.titles = dict(labels), dict(titles)
        self._set_headers()

    def _set_headers(self) -> None:
        self.table.setHorizontalHeaderLabels(["#", "Prompt", "Expected", self.titles["a"], "Score", self.titles["b"],
                                              "Score"])
        for column, slot in ((3, "a"), (5, "b")):
            self.table.horizontalHeaderItem(column).setToolTip(f"The answers of column {self.titles[slot]}")

    # ---- running ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.request is not None

    def run(self) -> None:
        if not self.session.is_loaded:
            self.summary.setText("Load the slots first (Load at the top of the page).")
            return
        kind, _, value = str(self.source.currentData() or "choose:").partition(":")
        limit = self.limit.value()
        workspace = self.session.workspace
        if kind == "choose":
            self._source_chosen(0)
            return

        def read() -> tuple[list[PromptItem], str, list[str]]:
            if kind == "eval":
                return eval_prompts(workspace, value, limit)
            return load_prompt_file(Path(value), limit), value, []

        self.summary.setText("Reading the prompts…")
        self.run_button.setEnabled(False)
        run_in_thread(read, self._start, self._read_failed, key=f"prompt-set-{id(self)}")

    def _read_failed(self, exc: BaseException) -> None:
        hint = f" Fix: {exc.hint}" if isinstance(exc, StudioError) and exc.hint else ""
        self.summary.setText(f"Cannot read the prompts: {exc}.{hint}")
        self._update_buttons()

    def _start(self, found: tuple[list[PromptItem], str, list[str]]) -> None:
        self.items, origin, notes = found
        self.rows = []
        self.stopping = False
        self.table.setRowCount(0)
        self.table.setRowCount(len(self.items))
        for index, item in enumerate(self.items):
            self._set(index, 0, str(index + 1))
            self._set(index, 1, item.text)
            self._set(index, 2, "" if item.expected is None else item.expected)
        self.progress.setRange(0, len(self.items))
        self.progress.setValue(0)
        self.progress.show()
        self.summary.setText(f"{len(self.items)} prompts from {origin}" + "".join(f"\nWarning: {n}" for n in notes))
        self._next()

    def _next(self) -> None:
        index = len(self.rows)
        if self.stopping or index >= len(self.items) or not self.session.running:
            self._finish()
            return
        item = self.items[index]
        self.rows.append(CompareRow(index + 1, item))
        sampling, system = self.settings()
        self.request = self.session.generate({slot: item.turn for slot in SLOTS}, sampling, system)
        self._update_buttons()

    def _answered(self, request: str, slot: str, event: dict[str, Any]) -> None:
        if request != self.request or not self.rows:
            return
        row = self.rows[-1]
        row.answers[slot] = str(event.get("text", ""))
        row.stats[slot] = {k: event.get(k) for k in ("tokens", "tokens_per_s", "finish_reason")}
        column = 3 if slot == "a" else 5
        self._set(row.index - 1, column, row.answers[slot])
        self._set_score(row.index - 1, column + 1, *score(row.answers[slot], row.item.expected))

    def _request_done(self, request: str) -> None:
        if request != self.request:
            return
        self.request = None
        self.progress.setValue(len(self.rows))
        self._next()

    def stop(self) -> None:
        self.stopping = True
        if self.request is not None:
            self.session.stop(self.request)

    def _finish(self) -> None:
        self.request = None
        self.progress.hide()
        done = [r for r in self.rows if len(r.answers) == len(SLOTS)]
        self.rows = done
        lines = [f"Answered {len(done)} of {len(self.items)} prompts."]
        for slot, result in summarize(done, self.labels).items():
            if result["scored"]:
                lines.append(f"{self.titles[slot]}: exact match {result['exact']}/{result['scored']} "
                             f"({result['accuracy']:.0%}), mean similarity {result['mean_similarity']:.2f}")
        self.summary.setText("  ·  ".join(lines))
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.request is not None
        self.run_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.export_button.setEnabled(not busy and bool(self.rows))
        self.busy_changed.emit()

    # ---- table cells and export -------------------------------------------------------------------------
    def _set(self, row: int, column: int, text: str) -> None:
        item = QTableWidgetItem(text)
        item.setToolTip(text if len(text) > 40 else "")
        self.table.setItem(row, column, item)

    def _set_score(self, row: int, column: int, exact: bool | None, similarity: float | None) -> None:
        if exact is None:
            self._set(row, column, "")
            return
        colors = self.theme.colors()
        self._set(row, column, "✓" if exact else f"{similarity:.2f}")
        cell = self.table.item(row, column)
        cell.setForeground(QColor(colors["good"] if exact else colors["bad"]))

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the table", str(Path.home() / "prompt-set.csv"),
                                              EXPORT_FILTER)
        if path:
            try:
                written = self.export(Path(path))
            except StudioError as exc:
                QMessageBox.warning(self, "Cannot export", f"{exc}\n\nFix: {exc.hint}" if exc.hint else str(exc))
                return
            self.summary.setText(f"Wrote {written}")

    def export(self, path: Path) -> Path:
        """The table as CSV or JSONL (by the suffix), with the slots' real names."""
        return export_rows(self.rows, self.labels, path)

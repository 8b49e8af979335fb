"""Combine two or more adapters of one base model by weight into a new adapter (`studio merge-adapters`).

`core.combine_plan.plan_combination` checks the choice first (same base, ranks that fit the
combination type, a free name); the `merge-adapters` worker builds the new adapter with peft's
add_weighted_adapter and saves it into the library. `cat` is exact (the new update is the weighted
sum of the parents' updates); `svd` truncates that sum to a rank.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from studio.core.combine_plan import plan_combination
from studio.core.errors import StudioError
from studio.core.library import AdapterInfo
from studio.core.workspace import Workspace, slug
from studio.gui.widgets.message_banner import MessageBanner
from studio.gui.worker_task import WorkerTask

COMBINATIONS = (("cat", "cat: exact weighted sum (rank = sum of ranks)"),
                ("svd", "svd: the exact sum, truncated to a rank"),
                ("linear", "linear: average the factors (same ranks only)"))


class CombineDialog(QDialog):
    combined = Signal(str)          # the new adapter's name

    def __init__(self, workspace: Workspace, adapters: list[AdapterInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("combine-dialog")
        self.setWindowTitle("Combine adapters")
        self.workspace = workspace
        self.adapters = adapters
        self.task: WorkerTask | None = None
        self.weights: dict[str, QDoubleSpinBox] = {}
        form = QFormLayout()
        for info in adapters:
            spin = QDoubleSpinBox()
            spin.setRange(-10.0, 10.0)
            spin.setSingleStep(0.1)
            spin.setDecimals(2)
            spin.setValue(round(1.0 / len(adapters), 2))
            spin.setToolTip("Weight of this adapter's update; negative subtracts it")
            self.weights[info.name] = spin
            form.addRow(f"{info.name} (rank {info.rank})", spin)
        self.name = QLineEdit(slug("-".join(a.name for a in adapters) + "-mix", 80))
        self.combination = QComboBox()
        for value, text in COMBINATIONS:
            self.combination.addItem(text, value)
        self.svd_rank = QSpinBox()
        self.svd_rank.setRange(1, 4096)
        self.svd_rank.setValue(max(a.rank or 1 for a in adapters))
        self.combination.currentIndexChanged.connect(
            lambda _i: self.svd_rank.setEnabled(self.combination.currentData() == "svd"))
        self.svd_rank.setEnabled(False)
        form.addRow("New adapter name", self.name)
        form.addRow("Combination", self.combination)
        form.addRow("SVD rank", self.svd_rank)
        self.stage = QLabel("")
        self.stage.setProperty("role", "muted")
        self.stage.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.banner = MessageBanner()
        self.start_button = QPushButton("Combine")
        self.start_button.setProperty("primary", True)
        self.start_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.stage)
        layout.addWidget(self.progress)
        layout.addWidget(self.banner)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.resize(560, 360)

    def start(self) -> None:
        if self.task is not None and self.task.running:
            return
        combination = self.combination.currentData()
        specs = [f"{info.path}:{self.weights[info.name].value()!r}" for info in self.adapters]
        try:
            plan = plan_combination(self.workspace, specs, self.name.text().strip(), combination=combination,
                                    svd_rank=self.svd_rank.value() if combination == "svd" else None)
        except StudioError as exc:
            self.banner.show_message("Cannot combine these adapters", exc.message, exc.hint, level="error")
            return
        self.banner.hide()
        self.stage.setText(f"Combining into {plan.out.name}" + "".join(f"\nNote: {w}" for w in plan.warnings))
        self.progress.show()
        self.start_button.setEnabled(False)
        self.close_button.setEnabled(False)
        self.task = WorkerTask(plan.worker_args(), self)
        self.task.event.connect(self._event)
        self.task.finished.connect(self._finished)
        self.task.start()

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "stage" and event.get("message"):
            self.stage.setText(str(event["message"]).capitalize() + "…")

    def _finished(self, code: int, _crashed: bool) -> None:
        assert self.task is not None
        done, error = self.task.done_event or {}, self.task.error_event or {}
        self.progress.hide()
        self.start_button.setEnabled(True)
        self.close_button.setEnabled(True)
        if done.get("status") == "completed":
            self.stage.setText("")
            self.banner.show_message(f"Saved {done['adapter_name']} (rank {done['rank']})",
                                     f"Its update differs from the exact weighted sum by {done['relative_error']:.2g} "
                                     "(relative, worst layer).", level="ok")
            self.combined.emit(str(done["adapter_name"]))
        else:
            self.stage.setText("")
            self.banner.show_message("The combination failed", str(error.get("message") or f"exit code {code}: "
                                     + self.task.last_stderr_line()),
                                     str(error.get("hint", "")), level="error")

    def reject(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
            return
        super().reject()

"""Export one adapter: a merged, verified Hugging Face model folder, or the adapter folder (or zip).

The same steps as `studio export`: `core.export_plan.plan_export` checks the input in
milliseconds (unknown base, output folder in use, too little disk) before anything starts; the
merge runs in the `export` worker (WorkerTask), whose stages and progress drive the bar; the
verification figures arrive as a `result` event and are shown in plain words. Adapter-only
exports are file copies (`core.adapter_export.export_adapter`) run off the GUI thread.
A failure is shown with its fix; the dialog stays usable for another try.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QRadioButton, QVBoxLayout, QWidget)

from studio.core.adapter_export import export_adapter
from studio.core.errors import StudioError
from studio.core.export_plan import DEFAULT_SHARD_SIZE, decimal_size, plan_export
from studio.core.library import AdapterInfo
from studio.core.memory import format_bytes
from studio.core.workspace import Workspace
from studio.gui.background import run_in_thread
from studio.gui.theme import Theme
from studio.gui.widgets.message_banner import MessageBanner
from studio.gui.widgets.verification_figures import VerificationFigures
from studio.gui.worker_task import WorkerTask

DTYPES = (("auto", "Same as the base model (auto)"), ("bf16", "bf16"), ("fp16", "fp16"), ("fp32", "fp32 (most exact)"))


class ExportDialog(QDialog):
    def __init__(self, workspace: Workspace, adapter: AdapterInfo, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("export-dialog")
        self.setWindowTitle(f"Export {adapter.name}")
        self.workspace = workspace
        self.adapter = adapter
        self.theme = theme
        self.task: WorkerTask | None = None
        self.out: Path | None = None
        self.status = ""                          # "", running, completed, failed, cancelled

        heading = QLabel(f"<b>{html.escape(adapter.name)}</b> &nbsp; trained on "
                         f"{html.escape(adapter.base_model or 'an unnamed base')}")
        heading.setWordWrap(True)
        self.merged = QRadioButton("Merged model: base + adapter in one standard Hugging Face folder")
        self.adapter_only = QRadioButton("Adapter only: the PEFT folder (for vLLM, peft, or another studio)")
        self.merged.setChecked(True)
        self.mode = QButtonGroup(self)
        self.mode.addButton(self.merged)
        self.mode.addButton(self.adapter_only)
        self.zip = QCheckBox("as one .zip file")
        self.out_edit = QLineEdit()
        self.out_edit.setObjectName("export-out")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        self.dtype = QComboBox()
        for value, text in DTYPES:
            self.dtype.addItem(text, value)
        self.dtype.setToolTip("Precision of the merged weights. An adapter trained on a 4/8-bit base is always "
                              "merged into full-precision weights, never into quantized ones.")
        self.shard = QLineEdit(DEFAULT_SHARD_SIZE)
        self.shard.setToolTip("Largest safetensors file, e.g. 2GB, 500MB, 4GiB")
        self.verify = QCheckBox("Load the written model back and compare it with base + adapter")
        self.verify.setChecked(True)
        self.base = QLineEdit()
        self.base.setPlaceholderText("the one in the adapter's lineage")
        self.base.setToolTip("Only needed when the base model is not where the adapter's lineage says "
                             "(studio export --base)")
        form = QFormLayout()
        form.addRow("Export", self.merged)
        form.addRow("", self.adapter_only)
        form.addRow("", self.zip)
        form.addRow("Output folder", out_row)
        form.addRow("Precision", self.dtype)
        form.addRow("Shard size", self.shard)
        form.addRow("Verify", self.verify)
        form.addRow("Base model", self.base)
        self.merged_fields = [self.dtype, self.shard, self.verify, self.base]
        self.form = form

        self.stage = QLabel("")
        self.stage.setObjectName("export-stage")
        self.stage.setWordWrap(True)
        self.stage.setProperty("role", "muted")
        self.progress = QProgressBar()
        self.progress.setObjectName("export-progress")
        self.progress.hide()
        self.banner = MessageBanner()
        self.figures = VerificationFigures(theme)

        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("export-start")
        self.export_button.setProperty("primary", True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setObjectName("export-cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.open_button = QPushButton("Open folder")
        self.open_button.setObjectName("export-open")
        self.open_button.clicked.connect(self.open_folder)
        self.open_button.hide()
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.export_button)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(self.stage)
        layout.addWidget(self.progress)
        layout.addWidget(self.banner)
        layout.addWidget(self.figures)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.merged.toggled.connect(self._mode_changed)
        self._mode_changed()
        self.resize(680, 560)

    # ---- input ---------------------------------------------------------------------------------
    def _mode_changed(self) -> None:
        merged = self.merged.isChecked()
        self.zip.setEnabled(not merged)
        for widget in self.merged_fields:
            widget.setEnabled(merged)
        name = self.adapter.name if merged else f"{self.adapter.name}-adapter"
        self.out_edit.setPlaceholderText(f"{self.workspace.exports_dir / name}  (default; a used name gets -v2)")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into which folder?", str(self.workspace.exports_dir))
        if folder:
            self.out_edit.setText(str(Path(folder) / self.adapter.name) if any(Path(folder).iterdir()) else folder)

    # ---- running ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.status == "running"

    def start(self) -> None:
        """Check the input (errors show at once, nothing written), then export."""
        if self.running:
            return
        self.banner.hide()
        self.figures.show_report(None)
        self.open_button.hide()
        out = self.out_edit.text().strip() or None
        if self.adapter_only.isChecked():
            self._set_running(True, "Copying the adapter folder…")
            zip_it = self.zip.isChecked()
            run_in_thread(lambda: export_adapter(self.workspace, str(self.adapter.path), out, zip_it),
                          self._adapter_done, self._adapter_failed, key=f"export-{id(self)}")
            return
        try:
            plan = plan_export(self.workspace, str(self.adapter.path), out=out, dtype=self.dtype.currentData(),
                               shard_size=self.shard.text().strip() or DEFAULT_SHARD_SIZE,
                               verify=self.verify.isChecked(), base=self.base.text().strip())
        except StudioError as exc:
            self._show_error("The export cannot start", exc.message, exc.hint)
            return
        self.out = plan.out
        size = f", about {format_bytes(plan.estimated_bytes)}" if plan.estimated_bytes else ""
        notes = "".join(f"\nNote: {w}" for w in plan.warnings)
        self._set_running(True, f"Merging into {plan.base.source} as {plan.dtype}{size}, shards of up to "
                                f"{decimal_size(plan.shard_size)}, " + ("verified" if plan.verify else "NOT verified")
                                + f"\nto {plan.out}{notes}")
        self.task = WorkerTask(plan.worker_args(), self)
        self.task.event.connect(self._event)
        self.task.finished.connect(self._finished)
        self.task.start()

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
            self.cancel_button.setText("Stop now")
            self.stage.setText("Cancelling: the worker stops after the current step; nothing is written.")

    def _set_running(self, running: bool, text: str = "") -> None:
        self.status = "running" if running else self.status
        self.export_button.setEnabled(not running)
        self.close_button.setEnabled(not running)
        self.cancel_button.setVisible(running and self.merged.isChecked())
        self.cancel_button.setText("Cancel export")
        for widget in (self.merged, self.adapter_only, self.zip, self.out_edit, *self.merged_fields):
            widget.setEnabled(not running)
        if not running:
            self._mode_changed()
        self.progress.setVisible(running)
        self.progress.setRange(0, 0)                 # busy until a stage reports its progress
        if text:
            self.stage.setText(text)

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "stage" and event.get("message"):
            message = str(event["message"])
            self.stage.setText(message[:1].upper() + message[1:] + "…")
            self.progress.setRange(0, 0)
        elif kind == "progress" and event.get("max_steps"):
            total, done = int(event["max_steps"]), int(event["step"])
            if event.get("unit") == "bytes":      # QProgressBar holds ints: show bytes in KB steps
                self.progress.setRange(0, max(1, total // 1024))
                self.progress.setValue(done // 1024)
                self.progress.setFormat(f"{format_bytes(done)} of {format_bytes(total)}")
            else:
                self.progress.setRange(0, total)
                self.progress.setValue(done)
                self.progress.setFormat(f"%v of %m {event.get('unit', '')}".strip())
        elif kind == "result" and event.get("kind") == "verification":
            self.figures.show_report(event)

    def _finished(self, code: int, crashed: bool) -> None:
        task = self.task
        assert task is not None
        done, error = task.done_event or {}, task.error_event or {}
        self.status = str(done.get("status") or "failed")
        self._set_running(False)
        if self.status == "completed":
            self.out = Path(str(done.get("out") or self.out))
            verified = bool(done.get("verification"))
            files = done.get("files") or []
            self.stage.setText(f"{len(files)} files, {format_bytes(done.get('model_bytes') or 0)} of weights, "
                               f"{done.get('seconds')} s")
            self.banner.show_message("Exported" + (" and verified" if verified else " (not verified)"),
                                     str(self.out), level="ok" if verified else "warn")
            self.open_button.show()
        elif self.status == "cancelled":
            self.stage.setText("")
            self.banner.show_message("Export cancelled", "Nothing was written.", level="warn")
        elif error:
            self._show_error("The export failed", str(error.get("message", "")), str(error.get("hint", "")))
        else:
            self._show_error("The export worker stopped unexpectedly",
                             f"exit code {code}" + (" (killed or crashed)" if crashed else "") + f": {task.last_stderr_line()}",
                             "nothing was written; try again, or run `studio export` in a terminal to see the "
                             "whole output")

    def _adapter_done(self, result: dict[str, Any]) -> None:
        self.status = "completed"
        self._set_running(False)
        self.out = Path(result["out"])
        self.stage.setText(f"{', '.join(result['files'])} ({format_bytes(result['size_bytes'])})")
        self.banner.show_message("Adapter exported", str(self.out) + "".join(f"\n{n}" for n in result["notes"]),
                                 level="ok")
        self.open_button.show()

    def _adapter_failed(self, exc: BaseException) -> None:
        self.status = "failed"
        self._set_running(False)
        if isinstance(exc, StudioError):
            self._show_error("The export failed", exc.message, exc.hint)
        else:
            self._show_error("The export failed", f"{type(exc).__name__}: {exc}", "check the output folder and "
                             "the free disk space, then try again")

    def _show_error(self, title: str, message: str, hint: str) -> None:
        if self.status == "running":
            self.status = "failed"
            self._set_running(False)
        self.stage.setText("")
        self.banner.show_message(title, message, hint, level="error")

    # ---- after -----------------------------------------------------------------------------------
    def open_folder(self) -> None:
        if self.out is not None:
            target = self.out if self.out.is_dir() else self.out.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:             # a running export is cancelled first; close again once it stopped
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)

    def reject(self) -> None:         # Escape
        if self.running:
            self.cancel()
            return
        super().reject()

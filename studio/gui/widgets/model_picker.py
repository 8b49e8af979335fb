"""Choosing the base model: the demo model, a local folder, or a hub id, with recent choices.

A hub id that is not in the Hugging Face cache yet can be downloaded here (the `download`
worker, with a progress bar) so the editors can read its layers; training downloads it too if
needed. Inspection reads config.json and the safetensors headers only (no torch) off the GUI
thread, and reports the result as `inspected(ModelInfo | None, error text)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from studio.core.errors import StudioError
from studio.core.memory import format_bytes
from studio.core.model_info import ModelInfo, find_model_folder, inspect_model, looks_like_path
from studio.core.model_presence import is_demo_base, missing_model_text
from studio.gui.app_context import AppContext
from studio.gui.background import run_in_thread
from studio.gui.worker_task import WorkerTask


def inspect_choice(name: str, revision: str) -> ModelInfo | None:
    """ModelInfo of a local or cached model; None for a hub id not downloaded yet."""
    folder = find_model_folder(name, revision)
    if folder is None:
        if looks_like_path(name):
            raise StudioError(f"the folder {name} does not exist", hint="choose an existing model folder")
        return None
    return inspect_model(folder)


class ModelPicker(QWidget):
    inspected = Signal(object, str)          # ModelInfo or None, problem text

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.download: WorkerTask | None = None
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(24)
        self.combo.setObjectName("model.name_or_path")
        self.combo.setToolTip(ctx.config.help("model.name_or_path"))
        self.combo.lineEdit().setPlaceholderText("model folder or hub id, e.g. Qwen/Qwen2.5-0.5B-Instruct")
        self.combo.activated.connect(lambda _i: self._commit())
        self.combo.lineEdit().editingFinished.connect(self._commit)
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("download-model")
        self.download_button.clicked.connect(self.start_download)
        self.download_button.hide()
        self.info = QLabel()
        self.info.setProperty("role", "muted")
        self.info.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(browse)
        row.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.info)
        layout.addWidget(self.progress)
        ctx.config.changed.connect(self._config_changed)
        self._fill()

    def _fill(self) -> None:
        current = self.ctx.config.get("model.name_or_path")
        demo = str(self.ctx.demo_dir / "base-model")
        choices = [current] + [demo] + self.ctx.recent_models()
        self.combo.blockSignals(True)
        self.combo.clear()
        for choice in dict.fromkeys(c for c in choices if c):
            self.combo.addItem(("Demo model: " if choice == demo else "") + choice, choice)
        self.combo.setCurrentIndex(0)
        self.combo.lineEdit().setCursorPosition(0)
        self.combo.blockSignals(False)

    def _commit(self) -> None:
        text = self.combo.currentText().strip()
        data = self.combo.currentData()
        value = data if data and self.combo.itemText(self.combo.currentIndex()) == text else text
        value = value.removeprefix("Demo model: ")
        if value:
            self.ctx.config.set("model.name_or_path", value)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder", str(Path.home()))
        if folder:
            self.ctx.config.set("model.name_or_path", folder)

    def _config_changed(self, key: str) -> None:
        if key in ("", "model.name_or_path", "model.revision"):
            self._fill()
            self.refresh()

    def refresh(self) -> None:
        name = self.ctx.config.get("model.name_or_path")
        revision = self.ctx.config.get("model.revision")
        self.download_button.hide()
        if not name:
            self.info.setText("Choose a model folder or type a hub id.")
            self.inspected.emit(None, "no model chosen")
            return
        if is_demo_base(name, self.ctx.demo_dir) and not (Path(name) / "config.json").is_file():
            text = missing_model_text(name, self.ctx.demo_dir, self.ctx.demo_model_state,
                                      "its layers and the memory it needs", where="")
            self.info.setText(text)            # being built on the first launch: nothing to download
            self.inspected.emit(None, text)
            return
        self.info.setText("Reading the model's layers…")
        run_in_thread(lambda: inspect_choice(name, revision), lambda info: self._show(name, info),
                      lambda exc: self._failed(exc), key=f"inspect-{id(self)}")

    def _show(self, name: str, info: ModelInfo | None) -> None:
        if info is None:
            self.info.setText(f"{name} is not downloaded yet. Download it now to see its layers and the memory "
                              "it needs (training would download it too).")
            self.download_button.show()
            self.inspected.emit(None, "not downloaded")
            return
        self.ctx.remember_model(name)
        self.info.setText(f"{info.model_type} · {info.num_params / 1e6:,.1f} M parameters · {info.num_layers} layers · "
                          f"hidden {info.hidden_size} · vocab {info.vocab_size:,} · {format_bytes(info.weight_bytes)} "
                          "of weights")
        self.inspected.emit(info, "")

    def _failed(self, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        self.info.setText(f"<span style='color:{self.ctx.theme.colors()['bad']}'>{text}</span>")
        self.inspected.emit(None, text)

    # ---- download -------------------------------------------------------------------------------------
    def start_download(self) -> None:
        config = self.ctx.config.config.model
        args = ["download", "--model", config.name_or_path] + (["--revision", config.revision] if config.revision else [])
        self.download = WorkerTask(args, self)
        self.download.event.connect(self._download_event)
        self.download.finished.connect(lambda code, crashed: self._download_finished(code))
        self.progress.setRange(0, 0)
        self.progress.show()
        self.download_button.setEnabled(False)
        self.info.setText(f"Downloading {config.name_or_path} into the Hugging Face cache…")
        self.download.start()

    def _download_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "download" and event.get("total_bytes"):
            total, done = int(event["total_bytes"]), int(event["done_bytes"])
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / max(total, 1)))
            self.progress.setFormat(f"{format_bytes(done)} of {format_bytes(total)}")
        elif event.get("type") == "error":
            self.info.setText(f"<span style='color:{self.ctx.theme.colors()['bad']}'>{event.get('message')}</span>"
                              f"<br><b>Fix:</b> {event.get('hint', '')}")

    def _download_finished(self, code: int) -> None:
        self.progress.hide()
        self.download_button.setEnabled(True)
        if code == 0:
            self.refresh()

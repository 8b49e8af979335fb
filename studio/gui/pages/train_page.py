"""Train: the base model, the adapter's shape, the objective (SFT, DPO, ORPO, KTO) and the adapter
it starts from, the training settings, what it all costs, and the Train button.

Everything edits the shared ConfigModel, so the figures, the memory estimate and the command
line follow each keystroke. The model's layers come from its config.json and safetensors
headers (no torch). Train runs the same checks as `studio train` first and shows their message
and fix when one fails; a run that is already training makes Train queue the new run instead.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QHBoxLayout, QLabel, QMessageBox, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from studio.core.config import RunConfig
from studio.core.config_io import load_config, save_config
from studio.core.errors import StudioError
from studio.core.library import AdapterInfo, list_adapters
from studio.core.memory import checkpointing_reason, estimate, inputs_from, suggest_fix
from studio.core.model_info import ModelInfo
from studio.core.resources import resource_path
from studio.gui.app_context import AppContext
from studio.gui.background import run_in_thread
from studio.gui.resources import icon
from studio.gui.widgets.cards import card, page_header
from studio.gui.widgets.command_box import CommandBox
from studio.gui.widgets.field_editor import label, make_editor
from studio.gui.widgets.launch_dialog import LaunchDialog
from studio.gui.widgets.lora_editor import LoraEditor
from studio.gui.widgets.memory_panel import MemoryPanel
from studio.gui.widgets.model_picker import ModelPicker
from studio.gui.widgets.objective_editor import ObjectiveEditor
from studio.gui.widgets.param_figures import ParamFigures
from studio.gui.widgets.queue_panel import QueuePanel
from studio.gui.widgets.reflow_columns import ReflowColumns
from studio.gui.widgets.target_modules import TargetModules

TRAINING_FIELDS = ["train.lr", "train.scheduler", "train.warmup", "train.epochs", "train.max_steps",
                   "train.batch_size", "train.grad_accum", "data.max_len", "train.grad_checkpointing",
                   "train.auto_grad_checkpointing", "train.eval_every", "train.save_every", "train.keep_checkpoints",
                   "train.early_stopping", "train.sample_predictions", "train.weight_decay", "train.max_grad_norm",
                   "train.log_every", "train.seed"]
MEMORY_KEYS = {"", "model.quant", "model.dtype", "model.attn_implementation", "lora.rank", "lora.targets",
               "lora.dora", "lora.dropout", "train.batch_size", "train.grad_checkpointing",
               "train.auto_grad_checkpointing", "data.max_len", "train.objective"}
YAML_FILTER = "Run config (*.yaml *.yml)"


def scrolling(widget: QWidget) -> QScrollArea:
    """The page's columns, scrolling as a whole (never a scroll box per column)."""
    area = QScrollArea()
    area.setObjectName("train-columns")
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class TrainPage(QWidget):
    title = "Train"
    icon_name = "train"
    menu = [("Train", "Ctrl+Return", "train"), ("Save config…", "Ctrl+S", "save_config"),
            ("Load config…", "Ctrl+Shift+O", "load_config"), ("Load a preset…", "", "load_preset"),
            ("Queue a rank sweep…", "", "ask_sweep"),
            ("Run on several GPUs / a cluster…", "", "show_launch_commands")]

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.setObjectName("page")
        self.ctx = ctx
        self.info: ModelInfo | None = None
        config = ctx.config

        self.picker = ModelPicker(ctx)
        self.picker.inspected.connect(self._model_inspected)
        model_form = QFormLayout()
        model_form.addRow(self.picker)
        precision = QHBoxLayout()
        precision.addWidget(QLabel("Quantization"))
        precision.addWidget(make_editor(config, "model.quant"))
        precision.addSpacing(12)
        precision.addWidget(QLabel("Precision"))
        precision.addWidget(make_editor(config, "model.dtype"))
        precision.addStretch(1)
        model_form.addRow(precision)
        self.targets = TargetModules(config)
        left = QVBoxLayout()
        left.addWidget(card(model_form, "Base model"))
        left.addWidget(card(LoraEditor(config), "LoRA adapter"))
        left.addWidget(card(self.targets, "Target modules"), 1)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key in TRAINING_FIELDS:
            editor = make_editor(config, key)
            form.addRow("" if key in ("train.grad_checkpointing", "train.auto_grad_checkpointing") else label(key),
                        editor)
        self.objective = ObjectiveEditor(config)
        middle = QVBoxLayout()
        middle.addWidget(card(self.objective, "Objective"))
        middle.addWidget(card(form, "Training"))
        middle.addStretch(1)

        self.figures = ParamFigures(config)
        self.memory = MemoryPanel(ctx.theme)
        self.memory.apply_fix.connect(self._apply_fix)
        costs = QVBoxLayout()
        costs.addWidget(self.figures)
        costs.addSpacing(6)
        costs.addWidget(self.memory)
        self.command = CommandBox(config)
        self.queue = QueuePanel(ctx)
        right = QVBoxLayout()
        right.addWidget(card(costs, "What it costs"))
        right.addWidget(card(self.command, "Command line"))
        right.addWidget(card(self.queue, "Queue"))
        right.addStretch(1)

        holders = []
        for layout, stretch in ((left, 1), (middle, 0), (right, 0)):
            holder = QWidget()
            holder.setLayout(layout)
            layout.setContentsMargins(0, 0, 0, 0)
            holders.append((holder, stretch))
        self.columns = ReflowColumns(holders)
        columns = scrolling(self.columns)
        columns.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

        load = QPushButton("Load config…")
        load.clicked.connect(self.load_config)
        save = QPushButton("Save config…")
        save.clicked.connect(self.save_config)
        header = page_header("Train", "Pick a base model, shape the adapter, press Train.")
        header.addWidget(load)
        header.addWidget(save)

        self.train_button = QPushButton("  Train")
        self.train_button.setObjectName("train-button")
        self.train_button.setProperty("primary", True)
        self.train_button.setToolTip("Start the run (Ctrl+Enter); while a run trains, this queues the new one")
        self.train_button.clicked.connect(self.train)
        self.status = QLabel()
        self.status.setProperty("role", "muted")
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Adapter name"))
        name = make_editor(config, "name")
        name.setMinimumWidth(260)
        bottom.addWidget(name)
        bottom.addSpacing(12)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.train_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(10)
        layout.addLayout(header)
        layout.addWidget(columns, 1)
        layout.addLayout(bottom)

        config.changed.connect(lambda key: self.update_memory() if key in MEMORY_KEYS else None)
        ctx.device_changed.connect(self.update_memory)
        ctx.data_stats_changed.connect(self.update_memory)
        ctx.runs.runs_changed.connect(self._update_button)
        ctx.runs.run_ended.connect(lambda _run, _status: self.read_adapters())   # a new adapter to start from
        self.picker.refresh()
        self._update_button()
        self.read_adapters()

    def on_shown(self) -> None:
        self.read_adapters()         # imported, renamed or deleted on the Library page since

    def read_adapters(self) -> None:
        """The library's adapters for "Start from", read off the GUI thread (each folder is walked)."""
        run_in_thread(lambda: list_adapters(self.ctx.workspace.adapters_dir), self._adapters_read,
                      lambda exc: self.ctx.status_message.emit(f"Reading the library failed: {exc}"),
                      key="train-adapters")

    def _adapters_read(self, adapters: list[AdapterInfo]) -> None:
        self.objective.init_adapter.set_adapters(adapters)

    def ask_sweep(self) -> None:
        self.queue.ask_sweep()

    def show_launch_commands(self) -> LaunchDialog:
        dialog = LaunchDialog(self.ctx, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    # ---- model, figures, memory -------------------------------------------------------------------
    def _model_inspected(self, info: ModelInfo | None, problem: str) -> None:
        self.info = info
        self.targets.set_model_info(info, problem)
        self.figures.set_model_info(info)
        self.update_memory()

    def update_memory(self) -> None:
        device = self.ctx.device
        if self.info is None:
            self.memory.show_estimate(None, device, 0, None, "The estimate needs the model's layers.")
            return
        config = self.ctx.config.config
        kind = device.kind if device else "cpu"
        inputs = inputs_from(self.info, config, kind, self.ctx.longest_example)
        note = ""
        if device and config.train.auto_grad_checkpointing and checkpointing_reason(inputs, device.free_bytes):
            inputs = replace(inputs, grad_checkpointing=True)       # what the worker will do (engine/memory_fit)
            note = "Gradient checkpointing will be turned on: the run does not fit without it."
        result = estimate(inputs)
        fix = suggest_fix(inputs, device.free_bytes, config.train.grad_accum) if device and \
            result.total > device.free_bytes else None
        self.memory.show_estimate(result, device, inputs.seq_len, fix, note)

    def _apply_fix(self, changes: dict) -> None:
        for key, value in changes.items():
            self.ctx.config.set(key, value)

    # ---- config files ---------------------------------------------------------------------------------
    def save_config(self) -> None:
        name = self.ctx.config.get("name") or "run"
        path, _ = QFileDialog.getSaveFileName(self, "Save the run config", str(Path.home() / f"{name}.yaml"),
                                              YAML_FILTER)
        if path:
            self.save_config_to(Path(path))

    def save_config_to(self, path: Path) -> None:
        save_config(self.ctx.config.config, path, header=f"LoRA Studio run config\nTrain it with: studio train "
                                                         f"--config {path}")
        self.ctx.status_message.emit(f"Saved {path}; train it from a terminal with: studio train --config {path}")

    def load_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a run config", str(Path.home()), YAML_FILTER)
        if path:
            self.load_config_from(Path(path))

    def load_preset(self) -> None:
        """A shipped preset (resources/presets) sets the model and training shape; the data stays."""
        path, _ = QFileDialog.getOpenFileName(self, "Load a preset", str(resource_path("presets")), YAML_FILTER)
        if path:
            self.load_config_from(Path(path), keep_unset=True)

    def load_config_from(self, path: Path, keep_unset: bool = False) -> bool:
        try:
            config = load_config(path, base=self.ctx.config.snapshot() if keep_unset else None)
            config.validate()        # absurd values are refused here, as `studio train --config` does
        except StudioError as exc:
            QMessageBox.warning(self, "Cannot load the config", str(exc))
            return False
        self.ctx.config.replace(config)
        self.ctx.status_message.emit(f"Loaded {path}")
        return True

    # ---- training -----------------------------------------------------------------------------------
    def train(self) -> None:
        """Check the data and model off the GUI thread, then start (or queue) the run."""
        if not self.train_button.isEnabled():      # a check is running (Ctrl+Return skips the button)
            return
        self.train_button.setEnabled(False)
        self.status.setText("Checking the data and the model…")
        self.ctx.runs.check_then(self.ctx.config.snapshot(), self._start_checked, self._start_refused,
                                 key="train")

    def _start_refused(self, exc: BaseException) -> None:
        self.train_button.setEnabled(True)
        self.status.setText("")
        QMessageBox.warning(self, "Cannot start the run", str(exc) if isinstance(exc, StudioError)
                            else f"{type(exc).__name__}: {exc}")

    def _start_checked(self, config: RunConfig) -> None:
        self.train_button.setEnabled(True)
        try:
            label_, started = self.ctx.runs.start(config, checked=True)
        except StudioError as exc:
            self._start_refused(exc)
            return
        if started:
            self.status.setText(f"Started run {label_}.")
            QTimer.singleShot(10, self, lambda: self.ctx.show_page.emit("Runs"))   # its paint on a turn of its own
        else:
            self.status.setText(f"A run is training: {label_} was added to the queue.")

    def _update_button(self) -> None:
        busy = self.ctx.runs.active_run() is not None
        self.train_button.setText("  Add to queue" if busy else "  Train")
        self.train_button.setIcon(self._icon("queue" if busy else "play"))

    def _icon(self, name: str) -> QIcon:
        return icon(name, "#ffffff", 16)

""""Run on several GPUs / a cluster": the torchrun and accelerate commands and a Slurm script
that train the Train page's config elsewhere, ready to copy.

The commands come from studio.core.launch_commands, the same as `studio launch`, so the app and
the terminal never disagree. They name a saved config file: the dialog saves the config there
(before anything is copied, so a copied command never points at a missing or stale file).
Copy it to a disk the GPU machines see, or choose such a path here.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox, QTabWidget,
                               QVBoxLayout, QWidget)

from studio.core.config_io import save_config
from studio.core.errors import StudioError
from studio.core.launch_commands import STRATEGIES, LaunchPlan, frozen_program
from studio.core.workspace import default_home, slug
from studio.gui.app_context import AppContext
from studio.gui.widgets.message_banner import MessageBanner

STRATEGY_HELP = {
    "ddp": "DDP: a full copy of the model on every GPU (the model fits on one GPU)",
    "fsdp": "FSDP: shard the model over the GPUs (too big for one GPU); needs accelerate",
    "deepspeed": "DeepSpeed ZeRO-3: shard the model over the GPUs; needs accelerate and deepspeed",
}
KINDS = (("torchrun", "torchrun"), ("accelerate", "accelerate"), ("slurm", "Slurm script"))


class LaunchDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Run on several GPUs or a cluster")
        self.setMinimumWidth(760)
        self.resize(860, 640)
        intro = QLabel("Train this config on several GPUs or machines: save the config where the GPU "
                       "machines can read it, then run one of these there (see docs/distributed.md). "
                       "Runs that write to this workspace show up on the Runs page.")
        intro.setWordWrap(True)
        intro.setProperty("role", "muted")

        self.path = QLineEdit(str(self.default_path()))
        self.path.setObjectName("launch-config-path")
        self.path.textChanged.connect(self.refresh)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        save = QPushButton("Save config")
        save.clicked.connect(self.save_config)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        path_row.addWidget(save)

        self.gpus = QSpinBox()
        self.gpus.setRange(1, 64)
        self.gpus.setValue(2)
        self.nodes = QSpinBox()
        self.nodes.setRange(1, 1024)
        self.strategy = QComboBox()
        for name in STRATEGIES:
            self.strategy.addItem(name, name)
            self.strategy.setItemData(self.strategy.count() - 1, STRATEGY_HELP[name], Qt.ItemDataRole.ToolTipRole)
        for spin in (self.gpus, self.nodes):
            spin.valueChanged.connect(self.refresh)
        self.strategy.currentIndexChanged.connect(self.refresh)
        shape = QHBoxLayout()
        for text, widget in (("GPUs per machine", self.gpus), ("Machines", self.nodes), ("Strategy", self.strategy)):
            shape.addWidget(QLabel(text))
            shape.addWidget(widget)
            shape.addSpacing(12)
        shape.addStretch(1)
        form = QFormLayout()
        form.addRow("Config file", path_row)
        form.addRow(shape)

        self.banner = MessageBanner()
        self.tabs = QTabWidget()
        self.texts: dict[str, QPlainTextEdit] = {}
        for kind, title in KINDS:
            self.tabs.addTab(self._command_tab(kind), title)
        self.status = QLabel()
        self.status.setProperty("role", "muted")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.check_config()
        self.refresh()

    def _command_tab(self, kind: str) -> QWidget:
        text = QPlainTextEdit()
        text.setObjectName(f"launch-{kind}")
        text.setReadOnly(True)
        text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap if kind == "slurm"
                             else QPlainTextEdit.LineWrapMode.WidgetWidth)
        text.setMinimumHeight(220 if kind == "slurm" else 120)
        self.texts[kind] = text
        copy = QPushButton("Copy")
        copy.setObjectName(f"copy-{kind}")
        copy.setToolTip("Save the config, then copy this to the clipboard")
        copy.clicked.connect(lambda: self.copy(kind))
        row = QHBoxLayout()
        row.addStretch(1)
        if kind == "slurm":
            save_script = QPushButton("Save script…")
            save_script.clicked.connect(self._save_script)
            row.addWidget(save_script)
        row.addWidget(copy)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(text, 1)
        layout.addLayout(row)
        return tab

    # ---- what the commands say -----------------------------------------------------------------
    def default_path(self) -> Path:
        name = slug(str(self.ctx.config.get("name") or "") or "run")
        return self.ctx.workspace.home / "configs" / f"{name}.yaml"

    def plan(self) -> LaunchPlan:
        home = self.ctx.workspace.home
        shared_home = "" if home == default_home().resolve() else str(home)
        return LaunchPlan(config=self.path.text().strip(), gpus_per_node=self.gpus.value(), nodes=self.nodes.value(),
                          strategy=str(self.strategy.currentData()), home=shared_home, program=frozen_program())

    def command(self, kind: str, plan: LaunchPlan | None = None) -> str:
        return getattr(plan or self.plan(), kind)()          # the KINDS are LaunchPlan's method names

    def refresh(self) -> None:
        plan = self.plan()                                    # once per edit, not once per tab
        for kind, text in self.texts.items():
            text.setPlainText(self.command(kind, plan))
        self.strategy.setToolTip(STRATEGY_HELP[str(self.strategy.currentData())])

    def check_config(self) -> bool:
        """A config that cannot train would fail on every GPU of the cluster: say so here."""
        try:
            self.ctx.config.snapshot().validate()
        except StudioError as exc:
            self.banner.show_message("This config cannot train yet", exc.message, exc.hint, level="warn")
            return False
        self.banner.hide()
        return True

    # ---- actions ---------------------------------------------------------------------------------
    def save_config(self) -> bool:
        path = Path(self.path.text().strip()).expanduser()
        if not self.path.text().strip():
            self.status.setText("Choose where to save the config first.")
            return False
        try:
            save_config(self.ctx.config.config, path,
                        header=f"LoRA Studio run config\nOn several GPUs: studio launch --config {path}")
        except OSError as exc:
            self.status.setText(f"Could not save {path}: {exc.strerror or exc}. Choose another folder.")
            return False
        self.status.setText(f"Saved the config to {path}. Copy it to a disk the GPU machines see if this "
                            "one is not shared, and use that path.")
        return True

    def copy(self, kind: str) -> None:
        if self.save_config():
            QGuiApplication.clipboard().setText(self.command(kind) + ("" if kind == "slurm" else "\n"))
            self.status.setText(self.status.text() + f" The {dict(KINDS)[kind]} is on the clipboard.")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the run config as", self.path.text(),
                                              "Run config (*.yaml *.yml)")
        if path:
            self.path.setText(path)

    def _save_script(self) -> None:
        start = str(Path(self.path.text()).with_suffix(".slurm.sh"))
        path, _ = QFileDialog.getSaveFileName(self, "Save the Slurm script", start, "Shell script (*.sh)")
        if path and self.save_config():
            Path(path).write_text(self.command("slurm"), encoding="utf-8")
            self.status.setText(self.status.text() + f" Wrote {path}: submit it with sbatch {path}.")

"""Rank, alpha (with the effective scale it gives), dropout, rsLoRA and DoRA.

A run that starts from a library adapter (train.init_adapter) continues that adapter as it is:
the editors then show its shape (copied in by the init adapter picker), greyed, with a line that
says where the values come from.
"""

from __future__ import annotations

import math

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QWidget

from studio.gui.config_model import ConfigModel
from studio.gui.widgets.field_editor import make_editor


def effective_scale(rank: int, alpha: float, rslora: bool) -> float:
    """peft scales the update by alpha / r, or alpha / sqrt(r) with rsLoRA."""
    return alpha / math.sqrt(rank) if rslora else alpha / rank


class LoraEditor(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.scale = QLabel()
        self.scale.setObjectName("lora-scale")
        self.scale.setProperty("role", "muted")
        alpha_row = QHBoxLayout()
        alpha = make_editor(model, "lora.alpha")
        alpha.setMaximumWidth(160)
        alpha_row.addWidget(alpha)
        alpha_row.addWidget(self.scale, 1)
        flags = QHBoxLayout()
        flags.addWidget(make_editor(model, "lora.rslora"))
        flags.addWidget(make_editor(model, "lora.dora"))
        flags.addStretch(1)
        self.from_adapter = QLabel()
        self.from_adapter.setObjectName("lora-from-adapter")
        self.from_adapter.setWordWrap(True)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.from_adapter)
        rank, dropout = make_editor(model, "lora.rank"), make_editor(model, "lora.dropout")
        self.editors = [rank, alpha, dropout] + [flags.itemAt(i).widget() for i in range(2)]
        for editor in (rank, dropout):
            editor.setMaximumWidth(160)
        form.addRow("Rank r", rank)
        form.addRow("Alpha", alpha_row)
        form.addRow("Dropout", dropout)
        form.addRow("", flags)
        model.changed.connect(lambda key: self._update() if key in ("", "lora.rank", "lora.alpha", "lora.rslora") else None)
        model.changed.connect(lambda key: self._show_source() if key in ("", "train.init_adapter") else None)
        self._update()
        self._show_source()

    def _show_source(self) -> None:
        name = str(self.model.get("train.init_adapter") or "")
        self.from_adapter.setText(f"Taken from the init adapter {name}: the run continues it with its own rank, "
                                  "alpha, dropout, rsLoRA and DoRA." if name else "")
        self.from_adapter.setVisible(bool(name))
        for editor in self.editors:
            editor.setEnabled(not name)

    def _update(self) -> None:
        rank, alpha, rslora = int(self.model.get("lora.rank")), float(self.model.get("lora.alpha")), \
            bool(self.model.get("lora.rslora"))
        formula = f"{alpha:g} / √{rank}" if rslora else f"{alpha:g} / {rank}"
        self.scale.setText(f"scale = {formula} = {effective_scale(rank, alpha, rslora):.3g}")

"""Rank, alpha (with the effective scale it gives), dropout, rsLoRA and DoRA."""

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
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        rank, dropout = make_editor(model, "lora.rank"), make_editor(model, "lora.dropout")
        for editor in (rank, dropout):
            editor.setMaximumWidth(160)
        form.addRow("Rank r", rank)
        form.addRow("Alpha", alpha_row)
        form.addRow("Dropout", dropout)
        form.addRow("", flags)
        model.changed.connect(lambda key: self._update() if key in ("", "lora.rank", "lora.alpha", "lora.rslora") else None)
        self._update()

    def _update(self) -> None:
        rank, alpha, rslora = int(self.model.get("lora.rank")), float(self.model.get("lora.alpha")), \
            bool(self.model.get("lora.rslora"))
        formula = f"{alpha:g} / √{rank}" if rslora else f"{alpha:g} / {rank}"
        self.scale.setText(f"scale = {formula} = {effective_scale(rank, alpha, rslora):.3g}")

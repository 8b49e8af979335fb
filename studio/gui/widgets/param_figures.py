"""The figures that change as the LoRA settings are edited: trainable parameters, their share of
the model, and the adapter's file size (fp32 safetensors, as peft saves it)."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from studio.core.memory import format_bytes
from studio.core.model_info import ModelInfo, trainable_share
from studio.gui.config_model import ConfigModel

ADAPTER_BYTES_PER_PARAM = 4


def figure_label(text: str = "–") -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "figure")
    return label


def caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "muted")
    return label


class ParamFigures(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.info: ModelInfo | None = None
        self.trainable = figure_label()
        self.trainable.setObjectName("trainable-params")
        self.share = figure_label()
        self.size = figure_label()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(18)
        for column, (value, text) in enumerate(((self.trainable, "trainable parameters"),
                                                (self.share, "of the model"), (self.size, "adapter file"))):
            grid.addWidget(value, 0, column)
            grid.addWidget(caption(text), 1, column)
        model.changed.connect(lambda key: self.update_figures() if key in ("", "lora.rank", "lora.targets",
                                                                           "lora.dora") else None)

    def set_model_info(self, info: ModelInfo | None) -> None:
        self.info = info
        self.update_figures()

    def trainable_params(self) -> int | None:
        if self.info is None:
            return None
        targets = [t for t in self.model.get("lora.targets")]
        return self.info.lora_params(targets, int(self.model.get("lora.rank")), bool(self.model.get("lora.dora")))

    def update_figures(self) -> None:
        params = self.trainable_params()
        if params is None or self.info is None:
            for label in (self.trainable, self.share, self.size):
                label.setText("–")
            return
        self.trainable.setText(f"{params:,}")
        self.share.setText(f"{trainable_share(params, self.info.num_params):.2f}%")
        self.size.setText(format_bytes(params * ADAPTER_BYTES_PER_PARAM))

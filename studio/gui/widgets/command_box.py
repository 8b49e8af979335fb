"""The `studio train` command that does what the Train page is set to, ready to copy."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from studio.core.command_line import train_command
from studio.gui.config_model import ConfigModel


class CommandBox(QWidget):
    def __init__(self, model: ConfigModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.text = QPlainTextEdit()
        self.text.setObjectName("train-command")
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFixedHeight(150)
        self.text.setToolTip("The same run from a terminal or a script. `studio train --config FILE` reads a "
                             "saved YAML config too.")
        copy = QPushButton("Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command()))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(copy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addLayout(row)
        model.changed.connect(lambda _key: self.refresh())
        self.refresh()

    def command(self) -> str:
        return train_command(self.model.config)

    def refresh(self) -> None:
        self.text.setPlainText(self.command().replace(" --", " \\\n    --"))

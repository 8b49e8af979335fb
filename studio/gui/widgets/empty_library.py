"""What the Library shows before it holds any adapter: the two ways to get one, as buttons."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyLibrary(QWidget):
    def __init__(self, train: Callable[[], None], import_folder: Callable[[], None],
                 import_zip: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("library-empty")
        title = QLabel("No adapters yet")
        title.setProperty("role", "heading")
        text = QLabel("Every adapter trained in this workspace lands here, with its lineage: the base model, the "
                      "data, the settings and the loss. Train one (the demo takes about a minute on a CPU), or "
                      "import a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) or a .zip "
                      "of one.")
        text.setWordWrap(True)
        text.setProperty("role", "muted")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for label, action, primary in (("Go to Train", train, True), ("Import a folder…", import_folder, False),
                                       ("Import a .zip…", import_zip, False)):
            button = QPushButton(label)
            button.setProperty("primary", primary)
            button.clicked.connect(lambda _checked=False, act=action: act())
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for widget in (title, text):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        text.setMaximumWidth(520)
        layout.addLayout(buttons)
        layout.addStretch(2)

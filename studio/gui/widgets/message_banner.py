"""A coloured box that says what went wrong (or needs attention) and how to fix it.

Used for dataset errors on the Data page, the memory warning on the Train page and failed runs
on the Runs page: a title in plain words, the details, the fix, and optional action buttons.
"""

from __future__ import annotations

import html
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class MessageBanner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.title = QLabel()
        self.title.setProperty("role", "heading")
        self.title.setWordWrap(True)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QHBoxLayout()
        self.buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.body)
        layout.addLayout(self.buttons)
        self.hide()

    def show_message(self, title: str, message: str = "", fix: str = "", level: str = "error",
                     actions: list[tuple[str, Callable[[], None]]] | None = None) -> None:
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.title.setText(title)
        text = html.escape(message).replace("\n", "<br>")
        if fix:
            text += ("<br>" if text else "") + f"<b>Fix:</b> {html.escape(fix)}"
        self.body.setText(text)
        self.body.setVisible(bool(text))
        while self.buttons.count() > 1:
            item = self.buttons.takeAt(1)
            if item.widget() is not None:
                item.widget().deleteLater()
        for text_, callback in actions or []:
            button = QPushButton(text_)
            button.clicked.connect(callback)
            self.buttons.addWidget(button)
        self.show()

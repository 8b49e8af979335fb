"""Where the person types: a message box (Enter sends, Shift+Enter starts a new line, Escape
stops the answers) and the Send / Stop / Regenerate buttons. The page enables what makes sense."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from studio.gui.resources import icon


class MessageBox(QPlainTextEdit):
    send_requested = Signal()
    stop_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.send_requested.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            return
        super().keyPressEvent(event)


class ChatComposer(QWidget):
    send = Signal(str)
    held = Signal(str)          # Enter pressed while sending is not possible: the page says why, or queues it
    stop = Signal()
    regenerate = Signal()

    def __init__(self, icon_color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input = MessageBox()
        self.input.setObjectName("chat-input")
        self.input.setPlaceholderText("Type a message for both columns — Enter sends, Shift+Enter for a new line")
        self.input.setFixedHeight(64)
        self.input.send_requested.connect(self._send)
        self.input.stop_requested.connect(self.stop)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("chat-send")
        self.send_button.setProperty("primary", True)
        self.send_button.clicked.connect(self._send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("chat-stop")
        self.stop_button.setToolTip("End both answers now (Escape)")
        self.stop_button.clicked.connect(self.stop)
        self.regen_button = QPushButton("Regenerate")
        self.regen_button.setObjectName("chat-regenerate")
        self.regen_button.setToolTip("Ask the last message again in both columns")
        self.regen_button.clicked.connect(self.regenerate)
        self.set_icons(icon_color)
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.send_button)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.stop_button)
        row.addWidget(self.regen_button)
        buttons.addLayout(row)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.input, 1)
        layout.addLayout(buttons)
        self.set_busy(False, can_send=False, can_regenerate=False)

    def set_icons(self, color: str) -> None:
        self.stop_button.setIcon(icon("stop", color, 14))
        self.regen_button.setIcon(icon("resume", color, 14))

    def set_busy(self, busy: bool, can_send: bool, can_regenerate: bool) -> None:
        self.send_button.setEnabled(can_send and not busy)
        self.stop_button.setEnabled(busy)
        self.regen_button.setEnabled(can_regenerate and not busy)

    def _send(self) -> None:
        text = self.input.toPlainText().strip()
        if text and self.send_button.isEnabled():
            self.input.clear()
            self.send.emit(text)
        elif text:
            self.held.emit(text)

"""The building blocks every page is laid out with: a page title and titled cards."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLayout, QVBoxLayout, QWidget


def page_header(title: str, subtitle: str = "") -> QHBoxLayout:
    row = QHBoxLayout()
    heading = QLabel(title)
    heading.setProperty("role", "title")
    row.addWidget(heading)
    if subtitle:
        sub = QLabel(subtitle)
        sub.setProperty("role", "muted")
        row.addSpacing(10)
        row.addWidget(sub)
    row.addStretch(1)
    return row


def card(content: QWidget | QLayout, title: str = "", trailing: QWidget | None = None) -> QFrame:
    """A rounded panel with an optional heading (and a widget at the heading's right end)."""
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(12, 10, 12, 12)
    layout.setSpacing(8)
    if title or trailing is not None:
        head = QHBoxLayout()
        label = QLabel(title)
        label.setProperty("role", "heading")
        head.addWidget(label)
        head.addStretch(1)
        if trailing is not None:
            head.addWidget(trailing)
        layout.addLayout(head)
    if isinstance(content, QLayout):
        layout.addLayout(content)
        layout.addStretch(1)
    else:
        layout.addWidget(content, 1)
    return frame

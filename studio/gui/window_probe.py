"""A test-only window probe: with STUDIO_GUI_PROBE=<file> set, the app rewrites that JSON file a few
times a second with where its named widgets are on the screen and what they show.

Why it exists: the real-window test (tests/gui_real) drives the app from outside, with X mouse
clicks and key presses as a user would, and cannot see widget geometry from there. The probe tells
it where to click (global centres) and what the screen shows (texts, enabled states), without
letting it call into the app: every action still goes through the X server. Nothing is read or
written unless the variable is set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QPoint, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QComboBox, QDialog, QLabel, QLineEdit, QListWidget, \
    QMessageBox, QPlainTextEdit, QTextEdit, QWidget

PROBE_ENV = "STUDIO_GUI_PROBE"
EVERY_MS = 250


def widget_text(widget: QWidget) -> str | None:
    if isinstance(widget, (QAbstractButton, QLabel, QLineEdit)):
        return widget.text()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, (QPlainTextEdit, QTextEdit)):
        return widget.toPlainText()
    return None


def snapshot(window: QWidget) -> dict[str, Any]:
    """Every visible widget with an object name (and each sidebar entry, as `sidebar:<title>`): its
    screen rectangle's centre and size, whether it is enabled, and its text; the dialogs open (a
    message box in the way explains a stuck test) and whether a popup (a combo box's list) is open."""
    widgets: dict[str, dict[str, Any]] = {}
    for widget in window.findChildren(QWidget):
        name = widget.objectName()
        if not name or name.startswith("qt_") or not widget.isVisible() or name in widgets:
            continue
        centre = widget.mapToGlobal(widget.rect().center())
        widgets[name] = {"x": centre.x(), "y": centre.y(), "w": widget.width(), "h": widget.height(),
                         "enabled": widget.isEnabled(), "text": widget_text(widget)}
        if isinstance(widget, QListWidget):
            for row in range(widget.count()):
                item = widget.item(row)
                rect = widget.visualItemRect(item)
                at = widget.viewport().mapToGlobal(rect.center())
                widgets[f"{name}:{item.toolTip() or item.text()}"] = {
                    "x": at.x(), "y": at.y(), "w": rect.width(), "h": rect.height(), "enabled": True,
                    "text": item.text()}
    dialogs = [{"title": w.windowTitle(), "text": w.text() if isinstance(w, QMessageBox) else ""}
               for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]
    origin = window.mapToGlobal(QPoint(0, 0))
    return {"window": {"id": int(window.winId()), "x": origin.x(), "y": origin.y(), "w": window.width(),
                       "h": window.height(), "active": window.isActiveWindow()},
            "status": window.statusBar().currentMessage() if hasattr(window, "statusBar") else "",
            "dialogs": dialogs, "popup": QApplication.activePopupWidget() is not None, "widgets": widgets}


def install(window: QWidget) -> QObject | None:
    """Start the probe's timer when STUDIO_GUI_PROBE names a file; otherwise do nothing."""
    target = os.environ.get(PROBE_ENV)
    if not target:
        return None
    path = Path(target)
    timer = QTimer(window, interval=EVERY_MS)

    def write() -> None:
        partial = path.with_name(path.name + ".part")
        partial.write_text(json.dumps(snapshot(window)), encoding="utf-8")
        partial.replace(path)          # the reader never sees half a file

    timer.timeout.connect(write)
    timer.start()
    return timer

"""The Qt binding itself: PySide6 6.12.0 drops a reference to True on every Signal.emit(), which
crashes a long-running app on Python < 3.12 (pyproject excludes that release). This catches a
future release with the same bug."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    event = Signal(dict)
    pair = Signal(str, object)


def test_emitting_signals_keeps_reference_counts(qapp) -> None:
    emitter = Emitter()
    received: list = []
    emitter.event.connect(received.append)
    emitter.pair.connect(lambda a, b: received.append(b))
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(200):
        emitter.event.emit({"ok": True})
        emitter.pair.emit("x", None)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert len(received) == 400
    assert after[0] >= before[0] - 5 and after[1] >= before[1] - 5, (before, after)

"""The memory estimate for the chosen device, as a stacked bar against what the device has, with
a warning and a one-click fix when the run will not fit.

The numbers are core.memory's (see its docstring for the formulas); the device comes from
core.device (GPU through NVML/nvidia-smi, else the CPU's RAM). The sequence length is the
longest example in the data when the Data page knows it, else max length.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio.core.device import DeviceInfo
from studio.core.memory import Fix, MemoryEstimate, format_bytes
from studio.gui.theme import Theme
from studio.gui.widgets.message_banner import MessageBanner


class MemoryBar(QWidget):
    """Stacked parts of the estimate; a line marks the memory the device has free."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.parts: list[tuple[str, int]] = []
        self.capacity = 0
        self.setMinimumHeight(26)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(self, parts: list[tuple[str, int]], capacity: int) -> None:
        self.parts, self.capacity = parts, capacity
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colors = self.theme.colors()
        rect = QRectF(self.rect()).adjusted(1, 4, -1, -4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colors["grid"]))
        painter.drawRoundedRect(rect, 4, 4)
        total = sum(v for _, v in self.parts)
        scale_max = max(total, self.capacity, 1)
        x = rect.left()
        for (_, value), color in zip(self.parts, self.theme.series()):
            width = rect.width() * value / scale_max
            painter.setBrush(QColor(color))
            painter.drawRect(QRectF(x, rect.top(), width, rect.height()))
            x += width
        if self.capacity:
            cx = rect.left() + rect.width() * self.capacity / scale_max
            painter.setPen(QPen(QColor(colors["bad"] if total > self.capacity else colors["text"]), 2))
            painter.drawLine(int(cx), int(rect.top() - 3), int(cx), int(rect.bottom() + 3))
        painter.end()


class MemoryPanel(QWidget):
    apply_fix = Signal(dict)

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.total = QLabel("–")
        self.total.setObjectName("memory-total")
        self.total.setProperty("role", "figure")
        self.device = QLabel()
        self.device.setProperty("role", "muted")
        self.device.setWordWrap(True)
        self.bar = MemoryBar(theme)
        self.legend = QGridLayout()
        self.legend.setHorizontalSpacing(10)
        self.legend.setVerticalSpacing(2)
        self.banner = MessageBanner()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.total)
        layout.addWidget(self.device)
        layout.addWidget(self.bar)
        layout.addLayout(self.legend)
        layout.addWidget(self.banner)
        theme.changed.connect(self.bar.update)

    def show_estimate(self, estimate: MemoryEstimate | None, device: DeviceInfo | None, seq_len: int,
                      fix: Fix | None, note: str = "") -> None:
        while self.legend.count():
            item = self.legend.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        if estimate is None:
            self.total.setText("–")
            self.device.setText(note)
            self.bar.set_values([], 0)
            self.banner.hide()
            return
        where = device.name if device else "the device"
        available = device.free_bytes if device else 0
        self.total.setText(f"{format_bytes(estimate.total)} needed")
        self.device.setText(f"for batches of {seq_len:,}-token sequences on {where}"
                            + (f" ({format_bytes(available)} available)" if device else "")
                            + (f"\n{note}" if note else ""))
        self.bar.set_values(estimate.parts(), available)
        for row, ((name, value), color) in enumerate(zip(estimate.parts(), self.theme.series())):
            swatch = QLabel("■")
            swatch.setStyleSheet(f"color: {color}; font-size: 12pt;")
            amount = QLabel(format_bytes(value))
            amount.setAlignment(Qt.AlignmentFlag.AlignRight)
            self.legend.addWidget(swatch, row, 0)
            self.legend.addWidget(QLabel(name), row, 1)
            self.legend.addWidget(amount, row, 2)
        self.legend.setColumnStretch(1, 1)
        if device is None or estimate.total <= available:
            self.banner.hide()
            return
        if fix is None:
            self.banner.show_message("This run will not fit in memory",
                                     f"It needs about {format_bytes(estimate.total)}; {where} has "
                                     f"{format_bytes(available)} available.",
                                     "use a smaller model, or train on a machine with more memory")
            return
        self.banner.show_message("This run will not fit in memory",
                                 f"It needs about {format_bytes(estimate.total)}; {where} has "
                                 f"{format_bytes(available)} available.", fix.text,
                                 actions=[("Apply the fix", lambda: self.apply_fix.emit(dict(fix.changes)))])

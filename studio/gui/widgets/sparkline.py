"""A small loss curve drawn with QPainter: train loss as a line, eval loss as dots.

The lineage card shows the shape of a finished run at a glance; a full pyqtgraph plot (half a
second to import, a widget per axis) would be more than a thumbnail needs.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.gui.theme import Theme

Points = list[tuple[float, float]]


def as_points(history: object) -> Points:
    """[[step, loss], ...] from studio.json, skipping anything that is not two numbers."""
    points = []
    for item in history if isinstance(history, list) else []:
        if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(v, (int, float)) for v in item) \
                and all(math.isfinite(v) for v in item):          # NaN (a diverged run) would spoil the scale
            points.append((float(item[0]), float(item[1])))
    return points


class Sparkline(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loss-sparkline")
        self.theme = theme
        self.train: Points = []
        self.eval: Points = []
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        theme.changed.connect(self.update)

    def sizeHint(self) -> QSize:
        return QSize(260, 84)

    def set_series(self, train: Points, eval_points: Points | None = None) -> None:
        self.train = train
        self.eval = eval_points or []
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        colors = self.theme.colors()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        painter.setPen(QPen(QColor(colors["border"]), 1))
        painter.setBrush(QColor(colors["plot_bg"]))
        painter.drawRoundedRect(rect, 5, 5)
        points = self.train + self.eval
        font = QFont(painter.font())
        font.setPointSizeF(8)
        painter.setFont(font)
        if len(points) < 2:
            painter.setPen(QColor(colors["muted"]))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "no loss history recorded")
            return
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        plot = rect.adjusted(8, 16, -8, -8)

        def at(x: float, y: float) -> QPointF:
            fx = (x - x0) / ((x1 - x0) or 1.0)
            fy = (y - y0) / ((y1 - y0) or 1.0)
            return QPointF(plot.left() + fx * plot.width(), plot.bottom() - fy * plot.height())

        series = self.theme.series()
        if len(self.train) >= 2:
            path = QPainterPath(at(*self.train[0]))
            for point in self.train[1:]:
                path.lineTo(at(*point))
            painter.setPen(QPen(QColor(series[0]), 1.6))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(series[1]))
        for point in self.eval:
            painter.drawEllipse(at(*point), 2.5, 2.5)
        painter.setPen(QColor(colors["muted"]))
        label = f"loss {self.train[0][1]:.3g} → {self.train[-1][1]:.3g}" if self.train else ""
        if self.eval:
            label += f"   eval ● {min(p[1] for p in self.eval):.3g}"
        painter.drawText(rect.adjusted(8, 2, -8, 0), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, label)

"""Icons and style sheets for the app; the files are found by studio.core.resources (a source
checkout, an installed wheel, or a frozen app)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from studio.core.resources import read_text


def icon(name: str, color: str, size: int = 20) -> QIcon:
    """An SVG icon from resources/icons drawn in `color` (the SVGs use currentColor)."""
    svg = read_text(f"icons/{name}.svg").replace("currentColor", color)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    result = QIcon()
    for scale in (1, 2):
        pixmap = QPixmap(QSize(size * scale, size * scale))
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter)
        painter.end()
        pixmap.setDevicePixelRatio(scale)
        result.addPixmap(pixmap)
    return result

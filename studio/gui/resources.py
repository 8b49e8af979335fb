"""Finding the app's style sheet and icons, in a source checkout and in an installed wheel.

They live in `resources/` at the top of the repository; a wheel ships them as
`studio/resources/` (package data), so both places are tried.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    package = Path(__file__).resolve().parents[1]          # studio/
    for candidate in (package / "resources", package.parent / "resources"):
        if (candidate / "style" / "app.qss").is_file():
            return candidate
    raise FileNotFoundError(f"LoRA Studio's resources/ folder is missing (looked in {package} and its parent); "
                            "reinstall the package")


def read_text(relative: str) -> str:
    return (resources_dir() / relative).read_text(encoding="utf-8")


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

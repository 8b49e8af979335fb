"""Render resources/icons/lora-studio.svg into the bitmap icons the systems want:
lora-studio.png (256 px: Linux menus, a fallback), .ico (Windows) and .icns (macOS).

    python packaging/make_icons.py

Run it after changing the SVG and commit the results; the build does not need Qt's image
plugins then. Qt writes all three formats, so no other tool is needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render(size: int) -> "QImage":  # noqa: F821 (Qt is imported in main)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(ICONS / "lora-studio.svg")).render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])  # noqa: F841 (QImage needs an application for fonts/plugins)
    for name, size in (("lora-studio.png", 256), ("lora-studio.ico", 256), ("lora-studio.icns", 512)):
        target = ICONS / name
        if not render(size).save(str(target)):
            print(f"error: Qt could not write {target}", file=sys.stderr)
            return 1
        print(f"{target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

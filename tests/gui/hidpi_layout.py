"""Run as a script by test_small_screen.py in a fresh process whose Qt screen is 200% (a scale
factor is fixed when QApplication starts, and the test process's is 1): builds the app on the
given workspace, sizes the window to 1024x700 logical pixels and prints, as one JSON line, what
each page needs against what it gets.

    python hidpi_layout.py HOME MODEL DATA
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QSettings

from studio.core.config import RunConfig
from studio.gui.app import build
from studio.gui.screenshots import settle, wait_until
from test_small_screen import LAPTOP, squeezed


def measure(home: Path, model: Path, data: Path) -> dict:
    settings = QSettings(str(home.parent / "hidpi-gui.ini"), QSettings.Format.IniFormat)
    ctx, window = build(home, settings)
    config = RunConfig(name="hidpi-test")
    config.model.name_or_path, config.data.path = str(model), str(data)
    ctx.config.replace(config)
    window.setProperty("no_confirm", True)
    window.show()
    window.build_all_pages()
    window.resize(LAPTOP)
    train = window.page("Train")
    wait_until(lambda: train.info is not None, 30)       # the model's layers fill the page's tables
    pages = {}
    for index, page_class in enumerate(window.page_classes):
        window.show_page_index(index)
        settle(200)
        page = window.stack.widget(index)
        pages[page_class.title] = {"min_width": window.minimumSizeHint().width(),
                                   "squeezed": squeezed(page) if page is train else []}
    image = window.grab()
    result = {"dpr": window.devicePixelRatio(), "window": [window.width(), window.height()],
              "pixels": [image.width(), image.height()], "model_read": train.info is not None, "pages": pages}
    window.close()
    return result


if __name__ == "__main__":
    print(json.dumps(measure(*(Path(a) for a in sys.argv[1:4]))))

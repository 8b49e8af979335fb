"""The app's pages, in sidebar order. Adding a page is one line here.

A page is a QWidget class with `title` and `icon_name` attributes (an SVG in resources/icons),
built as `Page(ctx: AppContext)`. Optional: `menu`, a list of (text, shortcut, method name) for
the page's menu in the menu bar, and `on_shown()`, called each time the page is switched to.
Pages are built when first needed, so a page module must not import pyqtgraph at import time
(use widgets.plot_style.pyqtgraph() inside the widget).
"""

from __future__ import annotations

import importlib

PAGES: list[str] = [
    "studio.gui.pages.data_page:DataPage",
    "studio.gui.pages.train_page:TrainPage",
    "studio.gui.pages.runs_page:RunsPage",
    "studio.gui.pages.library_page:LibraryPage",
    "studio.gui.pages.chat_page:ChatPage",
]


def page_classes() -> list[type]:
    classes = []
    for spec in PAGES:
        module_name, _, class_name = spec.partition(":")
        classes.append(getattr(importlib.import_module(module_name), class_name))
    return classes

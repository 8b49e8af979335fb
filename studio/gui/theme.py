"""Light and dark themes: Fusion + a palette + resources/style/app.qss, following the system.

The choice ("system", "light", "dark") is kept in QSettings. With "system" the theme follows
the desktop's colour scheme, also when it changes while the app is open. Widgets that draw
themselves (the pyqtgraph plots) read `colors()` and listen to `changed`.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from studio.core.resources import read_text

CHOICES = ("system", "light", "dark")
SERIES_LIGHT = ["#2f6feb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#a61e4d", "#5c940d"]
SERIES_DARK = ["#5b9bff", "#ff922b", "#51cf66", "#f06595", "#9775fa", "#22b8cf", "#ff6b6b", "#94d82d"]

LIGHT = {
    "window": "#f6f7f9", "base": "#ffffff", "card": "#ffffff", "sidebar": "#eef0f3", "border": "#d5d9e0",
    "text": "#1f2328", "muted": "#5f6b7a", "accent": "#2f6feb", "accent_hover": "#2559c7",
    "accent_soft": "#dbe6fd", "accent_text": "#1a4fc4", "hover": "#e7eaef", "button": "#ffffff",
    "good": "#1a7f37", "warn": "#b7791f", "bad": "#cf222e", "good_soft": "#e6f4ea", "warn_soft": "#fdf3e1",
    "bad_soft": "#fdecec", "plot_bg": "#ffffff", "plot_fg": "#4a5461", "grid": "#e6e9ee",
    "mask_on": "#c9f2d3", "mask_off": "#eef0f3", "disabled": "#a3abb6",
}
DARK = {
    "window": "#1d1f23", "base": "#24272c", "card": "#26292e", "sidebar": "#17181b", "border": "#3a3e45",
    "text": "#e4e6ea", "muted": "#9aa3ae", "accent": "#4c8dff", "accent_hover": "#6aa1ff",
    "accent_soft": "#24395e", "accent_text": "#cfe0ff", "hover": "#30343a", "button": "#2c3036",
    "good": "#3fb950", "warn": "#d29922", "bad": "#f85149", "good_soft": "#1d3324", "warn_soft": "#3a2f17",
    "bad_soft": "#3d1f1f", "plot_bg": "#24272c", "plot_fg": "#b8c0cc", "grid": "#343840",
    "mask_on": "#1f5130", "mask_off": "#2c3036", "disabled": "#5d646e",
}


class Theme(QObject):
    changed = Signal()

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.settings = settings
        choice = str(settings.value("theme", "system"))
        self.choice = choice if choice in CHOICES else "system"
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(self._system_changed)

    @property
    def name(self) -> str:
        if self.choice != "system":
            return self.choice
        scheme = QGuiApplication.styleHints().colorScheme()
        return "dark" if scheme == Qt.ColorScheme.Dark else "light"

    def colors(self) -> dict[str, str]:
        return DARK if self.name == "dark" else LIGHT

    def series(self) -> list[str]:
        return SERIES_DARK if self.name == "dark" else SERIES_LIGHT

    def set_choice(self, choice: str) -> None:
        self.choice = choice if choice in CHOICES else "system"
        self.settings.setValue("theme", self.choice)
        self.apply()

    def apply(self) -> None:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        colors = self.colors()
        app.setStyle("Fusion")
        app.setPalette(palette(colors))
        values = {**colors, "icon_dir": colored_icons(colors["muted"])}
        sheet = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), read_text("style/app.qss"))
        app.setStyleSheet(sheet)
        self.changed.emit()

    def _system_changed(self, _scheme: object) -> None:
        if self.choice == "system":
            self.apply()


def colored_icons(color: str) -> str:
    """A folder of the style sheet's icons drawn in `color` (style sheets take files, not QIcons)."""
    folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.TempLocation)) / \
        f"lora-studio-icons-{color.lstrip('#')}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("chevron-down", "chevron-up"):
        target = folder / f"{name}.svg"
        if not target.is_file():
            target.write_text(read_text(f"icons/{name}.svg").replace("currentColor", color), encoding="utf-8")
    return folder.as_posix()


def palette(colors: dict[str, str]) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    for r, key in ((role.Window, "window"), (role.Base, "base"), (role.AlternateBase, "window"),
                   (role.Text, "text"), (role.WindowText, "text"), (role.Button, "button"),
                   (role.ButtonText, "text"), (role.ToolTipBase, "card"), (role.ToolTipText, "text"),
                   (role.Highlight, "accent"), (role.PlaceholderText, "muted"), (role.Mid, "border"),
                   (role.Link, "accent")):
        p.setColor(r, QColor(colors[key]))
    p.setColor(role.HighlightedText, QColor("#ffffff"))
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, QColor(colors["muted"]))
    return p

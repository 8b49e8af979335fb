"""The main window: pages from the registry, shortcuts, remembered state, themes, and the
`studio gui --screenshot` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QPalette
from PySide6.QtWidgets import QApplication

from helpers import ROOT, last_json, studio
from studio.gui.pages import PAGES, page_classes


def test_pages_come_from_the_registry_and_shortcuts_switch(app, qtbot) -> None:
    _ctx, window = app
    titles = [p.title for p in window.pages]
    assert titles == [cls.title for cls in page_classes()] and titles[:3] == ["Data", "Train", "Runs"]
    assert {"Library", "Chat"} <= set(titles) and len(PAGES) == len(titles)
    for index in (2, 3, 1):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0 + index), Qt.KeyboardModifier.ControlModifier)
        assert window.stack.currentIndex() == index - 1
        assert window.sidebar.currentRow() == index - 1


def test_window_state_and_theme_are_remembered(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    window.show_page("Runs")
    window.resize(1000, 700)
    ctx.theme.set_choice("dark")
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 80
    window.save_state()

    from studio.gui.app import build

    ctx2, window2 = build(ctx.workspace.home, ctx.settings)
    qtbot.addWidget(window2)
    assert window2.stack.currentWidget().title == "Runs"
    assert ctx.settings.value("window/geometry") == window.saveGeometry()
    assert ctx2.theme.choice == "dark"
    assert ctx2.config.get("name") == "gui-test"          # the config last edited comes back
    ctx2.theme.set_choice("light")
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 200


def test_first_launch_preselects_the_demo(qtbot, home: Path, tmp_path: Path) -> None:
    from studio.gui.app import build

    ctx, window = build(home, QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    config = ctx.config.config
    assert config.name == "demo-ticket-classifier"
    assert Path(config.data.path) == ctx.demo_dir / "data" / "train.jsonl" and Path(config.data.path).is_file()
    assert Path(config.model.name_or_path) == ctx.demo_dir / "base-model"


def test_studio_alone_without_a_display_says_so(home: Path) -> None:
    env_code = ("import os, sys; [os.environ.pop(k, None) for k in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM')];"
                "sys.argv = ['studio']; from studio.cli import main; raise SystemExit(main([]))")
    result = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert "no display" in result.stderr and "--screenshot" in result.stderr


@pytest.mark.slow
def test_screenshot_command_renders_every_page(home: Path, tmp_path: Path, tiny_model: Path) -> None:
    import shutil

    from studio.core.demo_data import DEMO_NAME, write_demo_data

    shutil.copytree(tiny_model, home / "demo" / "base-model")          # the demo's model, built the same way
    train, held_out = write_demo_data(home / "demo" / "data")
    trained = studio("train", "--model", str(home / "demo" / "base-model"), "--data", str(train), "--eval-data",
                     str(held_out), "--max-steps", "10", "--name", DEMO_NAME, "--json", home=home)
    assert trained.returncode == 0, trained.stderr                    # a finished (short) demo run
    result = studio("gui", "--screenshot", str(tmp_path / "shots"), "--json", home=home)
    assert result.returncode == 0, result.stderr
    files = [Path(p) for p in last_json(result.stdout)["files"]]
    names = sorted(p.name for p in files)
    assert names == sorted([f"{page}-{theme}.png" for page in ("data", "data-label-mask", "train", "runs", "library",
                                                                 "chat")
                            for theme in ("light", "dark")] + ["library-export-light.png"])
    for path in files:
        image = QImage(str(path))
        if path.name != "library-export-light.png":                     # a dialog, not the window
            assert (image.width(), image.height()) == (1440, 900)
        colors = {image.pixel(x, y) for x in range(0, 1440, 37) for y in range(0, 900, 23)}
        assert len(colors) > 20, path                                   # not a blank window


def test_shortcut_list_is_a_table_and_matches_the_readme(app, qtbot) -> None:  # noqa: ANN001
    import re

    from helpers import ROOT

    ctx, window = app
    keys = {key for _menu, key, _text in window.shortcut_rows()}
    assert {"Ctrl+1", "Ctrl+5", "Ctrl+O", "Ctrl+Return", "F1"} <= keys
    box = window._show_shortcuts()
    qtbot.addWidget(box)
    assert "<table>" in box.text() and box.text().count("<tr>") == len(keys) + len({m for m, _k, _t in window.shortcut_rows()})
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("Shortcuts (F1"):readme.index("The theme follows")]
    written = set(re.findall(r"(?:Ctrl\+(?:Shift\+)?[A-Za-z.0-9]+|F1)", table))
    pages = {f"Ctrl+{i}" for i in range(1, 6)}
    assert written | pages == keys | {"Ctrl+1", "Ctrl+5"}, (written ^ keys)
    box.close()

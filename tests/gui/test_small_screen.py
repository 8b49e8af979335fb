"""The app on a 1024x700 laptop screen: every page fits, nothing on the Train page is squeezed;
also on a 200% screen of 2048x1400 pixels (the same 1024x700 logical pixels).

Offscreen renders measure what a real window gets: the same layouts and size hints. The real
window under Xvfb is driven by tests/gui_real; docs/screenshots holds 1024x700, 1920x1080 and
200% renders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSize
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QLineEdit, QWidget

from helpers import ROOT
from studio.gui.main_window import COMPACT_BELOW, first_size
from studio.gui.widgets.elided_label import ElidedLabel

HERE = Path(__file__).resolve().parent

LAPTOP = QSize(1024, 700)
EDITORS = (QLabel, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractButton)


def squeezed(page: QWidget) -> list[str]:
    """Visible labels and editors narrower than they need to be read (elided labels excepted)."""
    found = []
    for widget in page.findChildren(QWidget):
        if not isinstance(widget, EDITORS) or isinstance(widget, ElidedLabel) or not widget.isVisibleTo(page):
            continue
        need = widget.minimumSizeHint().width()
        if isinstance(widget, QLabel) and widget.wordWrap():
            continue   # wraps to the width it gets
        if min(widget.width(), visible_width(widget)) < need:
            found.append(f"{type(widget).__name__} {widget.objectName() or getattr(widget, 'text', lambda: '')()!r}: "
                         f"{widget.width()} < {need}")
    return found


def visible_width(widget: QWidget) -> int:
    """How much of the widget's width its ancestors (a scroll area's viewport, the window) show."""
    window = widget.window()
    left = widget.mapTo(window, QPoint(0, 0)).x()
    right = left + widget.width()
    ancestor = widget.parentWidget()
    while ancestor is not None:
        a_left = ancestor.mapTo(window, QPoint(0, 0)).x() if ancestor is not window else 0
        left, right = max(left, a_left), min(right, a_left + ancestor.width())
        ancestor = ancestor.parentWidget()
    return max(0, right - left)


def test_first_window_fits_the_screen() -> None:
    assert first_size(QSize(1920, 1080)) == QSize(1440, 900)
    small = first_size(QSize(1024, 700))
    assert small.width() <= 1024 and small.height() <= 700 and small.width() < COMPACT_BELOW


@pytest.mark.parametrize("index", range(5), ids=["data", "train", "runs", "library", "chat"])
def test_every_page_fits_a_laptop_screen(app, qtbot, index: int) -> None:  # noqa: ANN001
    ctx, window = app
    window.build_all_pages()
    window.resize(LAPTOP)
    window.show_page_index(index)
    qtbot.wait(200)
    assert window.sidebar_compact                   # icons only: the pages get the width
    assert window.minimumSizeHint().width() <= LAPTOP.width(), window.stack.widget(index).minimumSizeHint()
    assert window.minimumSizeHint().height() <= LAPTOP.height(), window.stack.widget(index).minimumSizeHint()
    assert window.width() <= LAPTOP.width()
    page = window.stack.widget(index)
    if index == 1:
        assert squeezed(page) == []


def test_a_data_page_banner_does_not_make_the_window_taller_than_the_screen(app, qtbot, demo_data) -> None:  # noqa: ANN001
    ctx, window = app
    window.resize(LAPTOP)
    ctx.config.set("train.objective", "dpo")           # SFT data for DPO: a banner says which objective it is for
    ctx.config.set("data.path", str(demo_data[0]))
    window.show_page("Data")
    page = window.page("Data")
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=10_000)
    assert "dpo" in page.banner.body.text().lower()
    assert window.minimumSizeHint().height() <= LAPTOP.height() and window.height() <= LAPTOP.height()


def test_train_page_reflows_its_columns(app, qtbot) -> None:  # noqa: ANN001
    ctx, window = app
    window.show_page_index(1)
    page = window.stack.currentWidget()
    window.resize(1920, 1080)
    qtbot.wait(200)
    assert page.columns.per_row == 3 and not window.sidebar_compact
    window.resize(LAPTOP)
    qtbot.wait(200)
    assert page.columns.per_row < 3 and squeezed(page) == []


def test_train_page_fits_at_200_percent(tiny_model, small_data, tmp_path) -> None:  # noqa: ANN001
    """A 2048x1400 screen at 200% (1024x700 logical): text is measured at twice the pixels, so a
    size hint rounded differently, or a layout in device pixels, would squeeze something here."""
    from studio.cli.gui_cmd import scaled_screen_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(scaled_screen_env((LAPTOP.width(), LAPTOP.height()), 2),
               PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent), str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(HERE / "hidpi_layout.py"), str(tmp_path / "home"), str(tiny_model),
                           str(small_data)], capture_output=True, text=True, env=env, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["dpr"] == 2 and result["pixels"] == [2048, 1400] and result["window"] == [1024, 700], result
    assert result["model_read"], "the Train page never read the model's layers"
    for title, page in result["pages"].items():
        assert page["min_width"] <= LAPTOP.width(), f"{title} needs {page['min_width']} logical px"
    assert result["pages"]["Train"]["squeezed"] == []


def test_screenshot_scale_sets_up_the_screen() -> None:
    from studio.cli.gui_cmd import parse_scale, scaled_screen_env
    from studio.core.errors import StudioError

    env = scaled_screen_env((1024, 700), 2)
    platform, _, config = env["QT_QPA_PLATFORM"].partition(":configfile=")
    screen = json.loads(Path(config).read_text())["screens"][0]
    assert platform == "offscreen" and (screen["width"], screen["height"], screen["logicalDpi"]) == (2048, 1400, 192)
    assert scaled_screen_env((1024, 700), 2, "xcb") == {"QT_SCALE_FACTOR": "2"}
    assert scaled_screen_env((1024, 700), 1, "xcb") == {}
    with pytest.raises(StudioError, match="--scale 0.5"):
        parse_scale(0.5)

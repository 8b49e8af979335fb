"""The first launch says what is really happening while the demo base model is built: the Train
page's model picker, the Data page's token preview and the status bar, for a build in progress,
a failed one, and a hub id that is simply not downloaded (core/model_presence.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from studio.core.model_presence import BUILDING, FAILED, missing_model_text


def test_pages_say_the_demo_model_is_being_built_not_that_it_needs_a_download(qtbot, home: Path,
                                                                              tmp_path: Path) -> None:
    from studio.gui.app import build

    ctx, window = build(home, QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.setProperty("no_confirm", True)
    window.show()
    assert not (ctx.demo_dir / "base-model" / "config.json").exists()      # first launch: not built yet
    ctx.set_demo_model_state(BUILDING)                                    # as start_background_work does
    assert "Building the demo base model" in window.run_label.text()

    window.show_page("Train")
    picker = window.page("Train").picker
    picker.refresh()
    assert "being built" in picker.info.text() and "download" not in picker.info.text().lower()
    assert not picker.download_button.isVisible()

    window.show_page("Data")
    data = window.page("Data")
    qtbot.waitUntil(lambda: "being built" in data.histogram.summary.text(), timeout=15_000)
    assert "download" not in data.histogram.summary.text().lower()

    ctx.set_demo_model_state(FAILED)                                      # the worker failed
    ctx.config.changed.emit("model.name_or_path")
    qtbot.waitUntil(lambda: "failed" in data.histogram.summary.text(), timeout=15_000)
    assert "failed" in picker.info.text() and "could not be built" in window.run_label.text()
    ctx.set_demo_model_state("")
    assert window.run_label.text() == ""


def test_missing_model_wording(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    base = str(demo / "base-model")
    empty = missing_model_text("", demo, "", "token lengths")
    assert empty == "Choose a base model on the Train page to see token lengths."
    assert "being built" in missing_model_text(base, demo, BUILDING, "token lengths")
    assert "restart the app" in missing_model_text(base, demo, "", "token lengths")       # built once, then deleted
    folder = missing_model_text(str(tmp_path / "nowhere"), demo, BUILDING, "token lengths")
    assert "holds no model" in folder and "download" not in folder.lower()
    hub = missing_model_text("Qwen/Qwen2.5-0.5B", demo, BUILDING, "token lengths")
    assert hub.startswith("Qwen/Qwen2.5-0.5B is not downloaded yet: press Download") and "to see token lengths" in hub

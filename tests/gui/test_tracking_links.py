"""The Runs page's Details tab shows where a run's trackers wrote (train.report_to), and a click on
a folder opens it with the desktop (QDesktopServices.openUrl)."""

from __future__ import annotations

import json
import time

from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QTextCursor

from studio.core import protocol
from studio.core.run_setup import create_run
from studio.core.tracking import RECORD


def tracked_run(ws, config) -> tuple[str, dict]:  # noqa: ANN001
    """A completed run folder with the tracking.json a worker writes for mlflow + tensorboard."""
    config.train.report_to = ["mlflow", "tensorboard"]
    run_dir = create_run(ws, config)
    (run_dir / "tensorboard").mkdir()
    record = {"tensorboard": {"dir": str(run_dir / "tensorboard")},
              "mlflow": {"tracking_uri": (ws.home / "mlruns").as_uri(), "experiment": "lora-studio",
                         "experiment_id": "1", "run_id": "0123abcd", "run_name": run_dir.name}}
    (run_dir / RECORD).write_text(json.dumps(record), encoding="utf-8")
    now = time.time()
    events = [{**protocol.make("hello", pid=1), "t": now - 10},
              {**protocol.make("done", status="completed", adapter_name="gui-test",
                                             adapter=str(ws.adapters_dir / "gui-test")), "t": now}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return run_dir.name, record


def anchor_point(browser, href: str) -> QPoint:  # noqa: ANN001
    """Where the link to `href` is drawn in the browser's viewport."""
    block = browser.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().anchorHref() == href:
                cursor = QTextCursor(browser.document())
                cursor.setPosition(fragment.position() + 1)
                browser.setTextCursor(cursor)
                browser.ensureCursorVisible()        # scrolled into view, as a user would
                point = browser.cursorRect(cursor).center()
                assert browser.viewport().rect().contains(point)
                return point
            it += 1
        block = block.next()
    raise AssertionError(f"no link to {href} in the Details tab")


def test_details_link_the_tensorboard_folder_and_mlflow_store(app, qtbot, monkeypatch) -> None:  # noqa: ANN001
    ctx, window = app
    run_id, record = tracked_run(ctx.workspace, ctx.config.snapshot())
    ctx.runs.refresh()
    window.show_page("Runs")
    page = window.page("Runs")
    page.list.rebuild()
    page.list.select(run_id)
    qtbot.waitUntil(lambda: page.selected == run_id, timeout=5000)
    page.tabs.setCurrentWidget(page.details)

    text = page.details.toPlainText()
    store = ctx.workspace.home / "mlruns"
    assert f"TensorBoard\t{record['tensorboard']['dir']}" in text.replace("\n", "\t")
    assert str(store) in text and "experiment lora-studio" in text and "0123abcd" in text
    assert "mlflow ui --backend-store-uri" in text

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    href = QUrl.fromLocalFile(str(store)).toString()
    qtbot.mouseClick(page.details.viewport(), Qt.MouseButton.LeftButton, pos=anchor_point(page.details, href))
    qtbot.waitUntil(lambda: bool(opened), timeout=2000)
    assert opened[0].toLocalFile() == str(store)

"""`studio gui --screenshot DIR`: every page rendered offscreen to PNG, in light and dark.

The app is started as a user would see it on first launch (the demo model and data preselected),
waits for the things a person would wait for (the dataset read, token lengths computed, the
model's layers read), and uses a finished demo run for the Runs page, training one through the
app's own run manager when the workspace has none. Settings go to a temporary file so the
user's own window state is not touched.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer

from studio.core.demo_data import demo_config
from studio.core.errors import StudioError
from studio.gui.app import build, start_background_work

WINDOW_SIZE = (1440, 900)
TRAIN_TIMEOUT_S = 1200


def wait_until(condition: Callable[[], bool], timeout_s: float, step_ms: int = 50) -> bool:
    """Run the event loop until condition() is true or the time is up."""
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    while time.monotonic() < deadline:
        if condition():
            return True
        QTimer.singleShot(step_ms, loop.quit)
        loop.exec()
    return condition()


def settle(ms: int = 300) -> None:
    wait_until(lambda: False, ms / 1000)


def take_screenshots(out_dir: Path, home: str | Path | None = None,
                     size: tuple[int, int] = WINDOW_SIZE) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="studio-gui-") as tmp:
        settings = QSettings(str(Path(tmp) / "gui.ini"), QSettings.Format.IniFormat)
        ctx, window = build(home, settings)
        ctx.config.replace(demo_config(ctx.demo_dir))
        window.setProperty("no_confirm", True)
        window.resize(*size)
        window.show()
        task = start_background_work(ctx)
        if task is not None and not wait_until(lambda: not task.running, 300):
            raise StudioError("building the demo model took too long", hint="run `studio demo` once, then try again")
        wait_until(lambda: ctx.device is not None, 20)
        run_id = finished_demo_run(ctx)
        data, train, runs = (window.page(t) for t in ("Data", "Train", "Runs"))
        wait_until(lambda: len(data.histogram.lengths) > 0 and 0 in data.masks.masks, 180)
        wait_until(lambda: train.info is not None, 30)
        runs.list.select(run_id)
        runs.list.set_checked([run_id])
        chat_exchange(window.page("Chat"), ctx.runs.history(run_id).done or {})
        written = []
        for theme in ("light", "dark"):
            ctx.theme.set_choice(theme)
            for index, page in enumerate(window.pages):
                window.show_page_index(index)
                settle()
                written.append(_grab(window, out_dir / f"{page.title.lower()}-{theme}.png"))
                if page is data:
                    data.tabs.setCurrentWidget(data.masks)
                    settle()
                    written.append(_grab(window, out_dir / f"data-label-mask-{theme}.png"))
                    data.tabs.setCurrentWidget(data.histogram)
        from studio.gui.library_shots import export_dialog_shot

        written += export_dialog_shot(window, out_dir)
        window.close()
        return written


def chat_exchange(page, done: dict) -> None:  # noqa: ANN001 - ChatPage
    """The Chat page with a real exchange: the demo adapter next to the base model, one ticket."""
    from studio.core.demo_data import DEMO_NAME, SYSTEM

    adapter = str(done.get("adapter_name") or DEMO_NAME)
    wait_until(lambda: len(page.slots.choices) > 1, 30)
    page.slots.set_specs("base", adapter)
    page.sampling.system.setPlainText(SYSTEM)
    page.sampling.max_new_tokens.setValue(24)
    page.load()
    if wait_until(lambda: page.session.is_loaded or page.banner.isVisible(), 300) and page.session.is_loaded:
        page.send("Hi, my package for order 12345 has not arrived. Thanks.")
        wait_until(lambda: page.request is None, 120)


def finished_demo_run(ctx) -> str:  # noqa: ANN001 - AppContext
    """A completed demo run in the workspace: the newest one, or one trained now."""
    ctx.runs.refresh()
    for run_id in ctx.runs.run_ids():
        info = ctx.runs.infos[run_id]
        if info.status == "completed" and info.name.startswith("demo-ticket-classifier"):
            return run_id
    run_id, _ = ctx.runs.start(ctx.config.snapshot())
    if not wait_until(lambda: ctx.runs.history(run_id).status not in ("running", "created"), TRAIN_TIMEOUT_S, 200):
        raise StudioError("the demo run did not finish in time", hint="see its worker.log in the Runs folder")
    if ctx.runs.history(run_id).status != "completed":
        error = ctx.runs.history(run_id).error or {}
        raise StudioError(f"the demo run failed: {error.get('message')}", hint=str(error.get("hint", "")))
    return run_id


def _grab(window, path: Path) -> Path:  # noqa: ANN001 - MainWindow
    window.grab().save(str(path))
    return path

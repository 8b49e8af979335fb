"""Starting the app: QApplication, theme, the first config, the main window.

The window is shown before anything slow happens: the device is detected on a thread, the
dataset is read on a thread, and a missing demo model is built by a worker process while the
window is already up. The first launch is ready to train: the demo base model and dataset are
preselected; later launches reopen the config that was last edited.
"""

from __future__ import annotations

import gc

import sys
import time
from pathlib import Path

import yaml
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from studio.core.config import RunConfig
from studio.core.config_io import config_from_dict, dump_config
from studio.core.demo_data import demo_config, write_demo_data
from studio.core.errors import StudioError
from studio.core.listing_cache import close_listings
from studio.core.model_presence import BUILDING, FAILED
from studio.core.workspace import Workspace
from studio.gui import window_probe
from studio.gui.app_context import AppContext
from studio.gui.main_window import MainWindow
from studio.gui.worker_task import WorkerTask

LAST_CONFIG = "last_config"


def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("LoRA Studio")
        app.setOrganizationName("lora-studio")
        app.setDesktopFileName("lora-studio")
    assert isinstance(app, QApplication)
    return app


def default_settings() -> QSettings:
    return QSettings("lora-studio", "LoRA Studio")


def build(home: str | Path | None = None, settings: QSettings | None = None) -> tuple[AppContext, MainWindow]:
    """The context and main window (not shown), with the theme applied and the config loaded."""
    application()
    ctx = AppContext(Workspace.open(home), settings or default_settings())
    ctx.theme.apply()
    ctx.config.replace(initial_config(ctx))
    window = MainWindow(ctx)
    ctx.config.changed.connect(lambda _key: ctx.settings.setValue(LAST_CONFIG, dump_config(ctx.config.config)))
    return ctx, window


def initial_config(ctx: AppContext) -> RunConfig:
    """The config last edited, else the demo run (data written now, the model built after start)."""
    saved = ctx.settings.value(LAST_CONFIG)
    if isinstance(saved, str) and saved.strip():
        try:
            return config_from_dict(yaml.safe_load(saved) or {})
        except (StudioError, yaml.YAMLError):
            pass
    write_demo_data(ctx.demo_dir / "data")
    return demo_config(ctx.demo_dir)


def start_background_work(ctx: AppContext) -> WorkerTask | None:
    """After the window is up: device detection, the run list, and a missing demo model."""
    ctx.detect_device()
    ctx.runs.refresh_in_background()
    base = ctx.demo_dir / "base-model"
    if (base / "model.safetensors").is_file() or ctx.config.get("model.name_or_path") != str(base):
        return None
    ctx.status_message.emit("Building the demo base model (a few seconds)…")
    ctx.set_demo_model_state(BUILDING)
    task = WorkerTask(["demo-model", "--out", str(base)], ctx)

    def built(code: int, _crashed: bool) -> None:
        ctx.set_demo_model_state("" if code == 0 else FAILED)
        ctx.status_message.emit("The demo base model is ready." if code == 0 else
                                "Building the demo model failed: " + task.stderr_tail[-300:])
        ctx.config.changed.emit("model.name_or_path")

    task.finished.connect(built)
    task.start()
    return task


def freeze_start_up_objects() -> None:
    """Move what start-up made (Qt wrappers, modules, pyqtgraph: ~85,000 objects) out of the
    garbage collector's sight: a full collection scanned them all and held the window for 30-60
    ms now and then, also in the middle of a live run. They live as long as the app anyway."""
    gc.freeze()


def run_app(home: str | Path | None = None, exit_when_shown: bool = False) -> int:
    """Open the main window and run the event loop; returns the exit code."""
    app = application()
    ctx, window = build(home)
    window.show()
    window_probe.install(window)      # only with STUDIO_GUI_PROBE set (the real-window test)
    shown = {"at": 0.0}

    def after_first_paint() -> None:
        shown["at"] = process_age_s()
        if exit_when_shown:
            window.setProperty("no_confirm", True)
            app.quit()
            return
        start_background_work(ctx)
        QTimer.singleShot(300, window.build_remaining_pages)
        QTimer.singleShot(5000, freeze_start_up_objects)

    QTimer.singleShot(0, after_first_paint)
    code = app.exec()
    end_background_work()
    if exit_when_shown:
        print_startup_time(shown["at"])
    return code


def end_background_work() -> None:
    """The event loop is over: listings still running on the thread pool stop at their next entry
    (core.listing_cache.close_listings) instead of finishing for nobody. The process cannot end
    before the pool is done: a quit during the first listing of 1,000 runs, or while an adapter
    card read every run's config, took 1.5-5 s. Other jobs (an import, an export) are waited for."""
    close_listings()


def process_age_s() -> float:
    """Seconds since this process started. On Linux from /proc (10 ms resolution; psutil's
    create_time rests on a boot time rounded to whole seconds), elsewhere from psutil."""
    import os

    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        import psutil

        return time.time() - psutil.Process().create_time()


def print_startup_time(age_when_shown: float) -> None:
    import json

    heavy = sorted(m for m in ("torch", "transformers", "peft", "bitsandbytes") if m in sys.modules)
    print(json.dumps({"status": "ok", "window_shown_after_s": round(age_when_shown, 3),
                      "ml_modules_imported": heavy}))

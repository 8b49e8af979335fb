"""The app opened on a workspace of many runs, probed from first show to idle and quit (`studio
bench --sections scale`, core/bench/scale.py; `benchmarks/scale.py gui-probe`).

    python -m studio.gui.scale_probe --home DIR --out FILE

In this process the app starts as `studio gui` starts it (offscreen when there is no display),
and the event loop is probed (studio.gui.responsiveness.StallProbe) from the window's first show
until idle: the run list holds every run folder, both Chat slot bars have their choices, no job is
left on the thread pool, then 1 s more. Then the Runs page is shown (probed 2 s) and the window is
closed as a person closes it. FILE gets the figures and `closing_at` (unix time): the parent times
the quit from it to the end of this process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def probe_app(home: Path, out: Path) -> None:
    from PySide6.QtCore import QSettings, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.gui.app import build, end_background_work, freeze_start_up_objects, start_background_work
    from studio.gui.responsiveness import StallProbe
    from studio.gui.screenshots import WINDOW_SIZE, settle, wait_until

    runs_dir = home / "runs"
    runs_on_disk = sum(1 for p in runs_dir.iterdir() if (p / "run.yaml").is_file()) if runs_dir.is_dir() else 0
    with tempfile.TemporaryDirectory(prefix="studio-scale-gui-") as tmp:
        settings = QSettings(str(Path(tmp) / "gui.ini"), QSettings.Format.IniFormat)
        began = time.perf_counter()
        ctx, window = build(home, settings)
        window.setProperty("no_confirm", True)
        window.resize(*WINDOW_SIZE)
        probe = StallProbe()
        probe.start()
        window.show()

        def after_first_paint() -> None:          # what run_app does
            start_background_work(ctx)
            QTimer.singleShot(300, window.build_remaining_pages)
            QTimer.singleShot(5000, freeze_start_up_objects)

        QTimer.singleShot(0, after_first_paint)

        def slot_bars_filled() -> bool:
            chat = _built_page(window, "Chat")
            return chat is not None and bool(chat.slots.choices)

        def idle() -> bool:
            return (len(ctx.runs.infos) >= runs_on_disk and slot_bars_filled()
                    and QThreadPool.globalInstance().activeThreadCount() == 0)

        reached = wait_until(idle, 600, step_ms=5)
        to_idle = time.perf_counter() - began
        settle(1000)
        probe.stop()
        launch = probe.summary()
        launch["long_stalls_ms"] = [round(ms) for _at, ms, _cpu in probe.long_stalls()][:20]
        probe.start()
        window.show_page("Runs")
        settle(2000)
        probe.stop()
        runs_page = probe.summary()
        result = {"runs_on_disk": runs_on_disk, "runs_listed": len(ctx.runs.infos), "idle_reached": reached,
                  "to_idle_s": round(to_idle, 2), "launch": launch, "runs_page": runs_page,
                  "closing_at": time.time()}
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        window.close()
        QApplication.instance().quit()
        end_background_work()                     # what run_app does once its event loop is over


def _built_page(window: Any, title: str) -> Any:
    """The page if it is built already (building it here would change what is measured)."""
    index = next(i for i, c in enumerate(window.page_classes) if c.title == title)
    return window._built.get(index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.gui.scale_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="the workspace to open")
    parser.add_argument("--out", type=Path, required=True, help="where the figures go (JSON)")
    args = parser.parse_args(argv)
    probe_app(args.home, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

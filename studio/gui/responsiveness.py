"""How responsive the app stays, measured for `studio bench` (never in timed tests).

Run in its own process (`python -m studio.gui.responsiveness --home DIR --out FILE`), offscreen
when there is no display, with the real main window at its usual size on the Runs page:

- event-loop stall: a precise 2 ms timer ticks all along; the longest gap between two ticks,
  less the interval, is the longest time a person's click would have waited. Measured while a
  real demo training run logs every step (started with the Train page's button, as a person
  does), and while a stand-in worker floods the app with step events (engine `event-flood`)
  far faster than any real run.
- plot frame time: the Runs page drawing a finished run of 100,000 steps (five series), both a
  full redraw and the live case (a few new points per frame), timed to the end of the paint.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QSettings, Qt, QTimer

from studio.core import protocol
from studio.core.config import RunConfig
from studio.core.demo_data import demo_config
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS
from studio.gui.screenshots import WINDOW_SIZE, settle, wait_until

PROBE_MS = 2


class StallProbe(QObject):
    """Ticks every PROBE_MS; records how late each tick came."""

    def __init__(self) -> None:
        super().__init__()
        self.gaps: list[float] = []
        self.ends: list[float] = []
        self.cpu: list[float] = []      # the GUI thread's own CPU time in each gap, in ms
        self._last = 0.0
        self._last_cpu = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PROBE_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self.ends.clear()
        self.cpu.clear()
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append((now - self._last) * 1000 - PROBE_MS)
        self.ends.append(now)
        self.cpu.append((cpu - self._last_cpu) * 1000)
        self._last, self._last_cpu = now, cpu

    def long_stalls(self, over_ms: float = 50) -> list[tuple[float, float, float]]:
        """(start time, length in ms, the GUI thread's CPU ms in it) of each stall longer than over_ms.

        A stall with little CPU time of its own was the thread waiting for a core, not our code."""
        return [(end - gap / 1000, gap, cpu) for end, gap, cpu in zip(self.ends, self.gaps, self.cpu)
                if gap > over_ms]

    def summary(self) -> dict[str, Any]:
        stalls = sorted(max(0.0, g) for g in self.gaps) or [0.0]
        return {"longest_stall_ms": round(stalls[-1], 1), "p99_stall_ms": round(_percentile(stalls, 0.99), 1),
                "median_stall_ms": round(statistics.median(stalls), 2), "ticks": len(self.gaps),
                "stalls_over_50ms": sum(1 for s in stalls if s > 50), "probe_interval_ms": PROBE_MS}


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _frame_summary(times_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(times_ms)
    return {"median_ms": round(statistics.median(ordered), 1), "p95_ms": round(_percentile(ordered, 0.95), 1),
            "max_ms": round(ordered[-1], 1), "frames": len(ordered)}


def follow_run(ctx: Any, window: Any, start: Any, timeout_s: float, page: str = "Runs") -> dict[str, Any]:
    """Start a run with `start()` from `page`, probe the event loop until it ends; figures and event counts."""
    runs_page = window.page("Runs")
    window.show_page(page)
    settle(2000)          # let the page settle: its own work is not the run's
    events: list[tuple[float, str]] = []
    ctx.runs.run_event.connect(lambda _rid, e: events.append((time.perf_counter(), e.get("type", "?") + (
        ":" + e["name"] if e.get("type") == "stage" else ""))))
    probe = StallProbe()
    probe.start()
    began = time.perf_counter()
    run_id = start()
    ended = wait_until(lambda: ctx.runs.active_run() is None and ctx.runs.history(run_id).status in
                       protocol.DONE_STATUSES, timeout_s, step_ms=20)
    probe.stop()
    seconds = time.perf_counter() - began
    history = ctx.runs.history(run_id)
    result = probe.summary()
    result["long_stalls"] = [{"at_s": round(start - began, 2), "ms": round(ms), "gui_cpu_ms": round(cpu),
                              "after_event": _last_before(events, start)} for start, ms, cpu in probe.long_stalls()]
    result.update(status=history.status if ended else "timed out", seconds=round(seconds, 1), events=len(events),
                  events_per_s=round(len(events) / seconds, 1), steps=history.step,
                  plotted_points=len(history.series["loss"]), selected=runs_page.selected == run_id)
    return result


def _last_before(events: list[tuple[float, str]], t: float) -> str:
    """The last event that arrived before `t`: a hint at what the stall was doing."""
    kinds = [kind for at, kind in events if at <= t]
    return kinds[-1] if kinds else "(before the first event)"


def training_run(ctx: Any, window: Any, max_steps: int, timeout_s: float) -> dict[str, Any]:
    config = demo_config(ctx.demo_dir)
    config.name = "bench-gui-training"
    config.train.log_every, config.train.max_steps, config.train.save_every = 1, max_steps, 0
    ctx.config.replace(config)
    train_page = window.page("Train")

    def click_train() -> str:          # as a person starts a run: the Train page's button
        train_page.train_button.click()
        wait_until(lambda: ctx.runs.active_run() is not None or train_page.train_button.isEnabled(), 60, step_ms=5)
        run_id = ctx.runs.active_run()
        if run_id is None:
            raise RuntimeError(f"the Train button started no run: {train_page.status.text()}")
        return run_id

    return follow_run(ctx, window, click_train, timeout_s, page="Train")


def event_flood(ctx: Any, window: Any, rate: float, seconds: float) -> dict[str, Any]:
    config = demo_config(ctx.demo_dir)
    config.name = "bench-gui-event-flood"
    args = ["event-flood", "--run-dir", "{run_dir}", "--rate", str(rate), "--seconds", str(seconds)]
    result = follow_run(ctx, window, lambda: ctx.runs.start_stand_in(config, args), seconds * 4 + 60)
    result["asked_steps_per_s"] = rate
    return result


def write_long_run(ctx: Any, points: int) -> str:
    """A finished run folder with `points` logged steps of every series, as a worker writes it."""
    config: RunConfig = demo_config(ctx.demo_dir)
    config.name = f"bench-gui-{points}-points"
    run_dir = create_run(ctx.workspace, config)
    t = time.time()
    lines = [protocol.encode(protocol.make("hello", pid=0)), protocol.encode(protocol.make("stage", name="training"))]
    for step in range(1, points + 1):
        loss = 2.0 * math.exp(-step / (points / 4)) + 0.1 * math.sin(step / 13) + 0.05 * ((step * 7919) % 101) / 101
        lines.append(protocol.encode({"v": 1, "type": "metrics", "t": t, "step": step, "loss": loss,
                                      "lr": 2e-4 * (1 - step / points), "grad_norm": 1 + 0.5 * math.cos(step / 9),
                                      "tokens_per_s": 4e4 + 800 * math.sin(step / 40), "mem_bytes": 6e9 + step}))
    lines.append(protocol.encode(protocol.make("progress", step=points, max_steps=points, epoch=1.0)))
    lines.append(protocol.encode(protocol.make("done", status="completed")))
    (run_dir / EVENTS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir.name


def plot_frames(ctx: Any, window: Any, points: int, frames: int) -> dict[str, Any]:
    page = window.page("Runs")
    window.show_page("Data")
    run_id = write_long_run(ctx, points)
    began = time.perf_counter()
    window.show_page("Runs")          # the page reads new run folders when shown
    ctx.runs.refresh()
    loaded_s = time.perf_counter() - began
    began = time.perf_counter()
    page.list.select(run_id)
    page.select_run(run_id)
    page.plots.repaint()
    first_s = time.perf_counter() - began
    history = ctx.runs.history(run_id)
    full, live = [], []
    for _ in range(frames):
        began = time.perf_counter()
        page.plots.show_history(history)
        page.plots.repaint()
        full.append((time.perf_counter() - began) * 1000)
    step = max(history.series["loss"])
    for version in range(frames):
        for _new in range(10):
            step += 1
            for key, series in history.series.items():
                if key != "eval_loss" and series:
                    series[step] = series[step - 1]
        began = time.perf_counter()
        page.plots.refresh_next(history, version)     # what the page does each frame of a live run
        page.plots.repaint()
        live.append((time.perf_counter() - began) * 1000)
    QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    return {"points_per_series": points, "series": 5, "load_run_s": round(loaded_s, 2),
            "first_draw_s": round(first_s, 2), "full_redraw": _frame_summary(full),
            "live_frame_10_new_points": _frame_summary(live)}


def measure(home: Path, points: int, flood_rate: float, flood_seconds: float, train_steps: int) -> dict[str, Any]:
    import tempfile

    from studio.gui.app import build, freeze_start_up_objects, start_background_work

    with tempfile.TemporaryDirectory(prefix="studio-bench-gui-") as tmp:
        settings = QSettings(str(Path(tmp) / "gui.ini"), QSettings.Format.IniFormat)
        ctx, window = build(home, settings)
        window.setProperty("no_confirm", True)
        window.resize(*WINDOW_SIZE)
        window.show()
        task = start_background_work(ctx)
        if task is not None:
            wait_until(lambda: not task.running, 300)
        window.build_remaining_pages()
        data_page = window.page("Data")                  # its token preview (a worker) draws a histogram when done
        wait_until(lambda: data_page.preview is None or not data_page.preview.running, 120)
        settle(2000)       # the pages settle, as they do in the app
        freeze_start_up_objects()
        result: dict[str, Any] = {"window": list(WINDOW_SIZE), "platform": _platform()}
        result["idle"] = _idle(3.0)
        result["plot"] = plot_frames(ctx, window, points, frames=20)
        if flood_rate > 0:
            result["event_flood"] = event_flood(ctx, window, flood_rate, flood_seconds)
        if train_steps > 0:
            result["training_run"] = training_run(ctx, window, train_steps, timeout_s=600)
        window.close()
    return result


def _idle(seconds: float) -> dict[str, Any]:
    """The probe with nothing to do: the floor the other figures stand on (timer and OS noise)."""
    probe = StallProbe()
    probe.start()
    settle(int(seconds * 1000))
    probe.stop()
    return probe.summary()


def _platform() -> str:
    from PySide6.QtGui import QGuiApplication

    return QGuiApplication.platformName()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.gui.responsiveness")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--flood-rate", type=float, default=1000.0)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--train-steps", type=int, default=150)
    args = parser.parse_args(argv)
    result = measure(args.home, args.points, args.flood_rate, args.flood_seconds, args.train_steps)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

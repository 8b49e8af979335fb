"""The GUI section of `studio bench`: event-loop stalls and plot frame times, in a fresh process.

The figures come from studio.gui.responsiveness, started as its own process (offscreen when
there is no display) so that the ML libraries and Qt of the bench process do not touch them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.core.worker_process import worker_env

Say = Callable[[str], None]


def run_gui_section(folder: Path, home: Path, say: Say, *, points: int, flood_rate: float, flood_seconds: float,
                    train_steps: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "gui.json"
    env = worker_env()
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    say(f"GUI: plot of {points:,} points, event flood at {flood_rate:g} steps/s for {flood_seconds:g} s, "
        f"a {train_steps}-step training run ...")
    command = [sys.executable, "-m", "studio.gui.responsiveness", "--home", str(home), "--out", str(out),
               "--points", str(points), "--flood-rate", str(flood_rate), "--flood-seconds", str(flood_seconds),
               "--train-steps", str(train_steps)]
    with open(folder / "gui.log", "w", encoding="utf-8") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if code != 0 or not out.is_file():
        tail = (folder / "gui.log").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise StudioError(f"the GUI measurement failed (exit code {code})", kind="internal",
                          hint=f"its log is {folder / 'gui.log'}:\n{tail}")
    result = json.loads(out.read_text(encoding="utf-8"))
    result["qt_platform"] = env.get("QT_QPA_PLATFORM") or "default"
    result["cpu_count"] = os.cpu_count()
    return result

"""A virtual X display (Xvfb) and a user at it (xdotool), for the real-window test.

There is no window manager under bare Xvfb, so nothing gives the app keyboard focus: `focus`
sets the X input focus on the window itself (what a window manager does on a click). Every
step can save a screenshot of the whole screen (ImageMagick's `import -window root`), kept in
the test's tmp folder for when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOLS = ("Xvfb", "xdotool", "import")
SCREEN = (1600, 1000)        # the app's first window is 1440x900 at (0, 0) on it


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class XSession:
    """Xvfb on a free display number, xdotool input and screenshots on it."""

    def __init__(self, shots: Path) -> None:
        self.shots = shots
        shots.mkdir(parents=True, exist_ok=True)
        read_fd, write_fd = os.pipe()
        self.server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()     # written once the server accepts connections
        if not number:
            raise RuntimeError(f"Xvfb did not start: {self.server.stderr.read().decode(errors='replace')[-500:]}")
        self.display = f":{number}"
        self.count = 0

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display}

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=20,
                              env={**os.environ, **self.env()})
        if done.returncode != 0:
            raise RuntimeError(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def click(self, x: int, y: int) -> None:
        self.xdotool("mousemove", "--sync", str(x), str(y))
        time.sleep(0.1)                     # let the app see the pointer arrive (hover) before the press
        self.xdotool("click", "1")

    def focus(self, window_id: int) -> None:
        self.xdotool("windowfocus", "--sync", str(window_id))

    def type_text(self, text: str) -> None:
        self.xdotool("type", "--delay", "20", text)

    def key(self, name: str) -> None:
        self.xdotool("key", name)

    def screenshot(self, label: str) -> Path:
        self.count += 1
        path = self.shots / f"{self.count:02d}-{label}.png"
        subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, **self.env()},
                       capture_output=True, timeout=30)
        return path

    def close(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(10)
        except subprocess.TimeoutExpired:
            self.server.kill()


class Probe:
    """What the app's window probe (studio/gui/window_probe.py) last wrote."""

    def __init__(self, path: Path, app: subprocess.Popen, log: Path) -> None:
        self.path, self.app, self.log = path, app, log

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def widget(self, name: str) -> dict[str, Any] | None:
        return self.read().get("widgets", {}).get(name)

    def wait(self, what: str, condition: Callable[[dict[str, Any]], Any], timeout_s: float) -> Any:
        """Poll until condition(snapshot) is truthy; returns it. Fails at once when the app exits or
        a dialog opens (nothing in this test expects one), else at the timeout, with the app's log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.app.poll() is not None:
                raise AssertionError(f"the app exited ({self.app.returncode}) while waiting for {what}:\n"
                                     + self.log.read_text(errors="replace")[-3000:])
            snap = self.read()
            if snap.get("dialogs"):
                raise AssertionError(f"a dialog opened while waiting for {what}: {snap['dialogs']}")
            try:
                value = condition(snap) if snap else None
            except (KeyError, TypeError):
                value = None
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last probe: "
                             + json.dumps(self.read())[-1500:] + "\napp log:\n"
                             + self.log.read_text(errors="replace")[-2000:])

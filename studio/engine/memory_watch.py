"""Peak memory of this process, per stage: private memory apart from mapped model files.

transformers loads safetensors weights as views of a memory-mapped file. The pages of such a
mapping count in RSS, but they are the checkpoint file itself (page cache): clean, shared with
the OS cache, and dropped by the kernel under memory pressure rather than making the process run
out of memory. What a merge really needs is private (anonymous) memory. So on Linux this samples
RssAnon (private) and VmRSS (everything) from /proc/self/status; elsewhere only the RSS that
psutil reports. Sampling every 20 ms sees every multi-megabyte tensor, which lives far longer.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")


def _read() -> tuple[int, int | None]:
    """(rss, private) in bytes; private is None where the OS does not tell."""
    if STATUS.is_file():
        values = {}
        for line in STATUS.read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) * 1024
        return values.get("VmRSS", 0), values.get("RssAnon")
    import psutil

    return int(psutil.Process().memory_info().rss), None


class MemoryWatch:
    def __init__(self, every_s: float = 0.02) -> None:
        self.every_s = every_s
        self.baseline_rss, self.baseline_private = _read()
        self.stage = "start"
        self.by_stage: dict[str, dict[str, int | None]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            rss, private = _read()
            peak = self.by_stage.setdefault(self.stage, {"rss": 0, "private": None})
            peak["rss"] = max(peak["rss"] or 0, rss)
            if private is not None:
                peak["private"] = max(peak["private"] or 0, private)
            if self._stop.wait(self.every_s):
                return

    def report(self) -> dict[str, Any]:
        privates = [p["private"] for p in self.by_stage.values() if p["private"] is not None]
        return {"baseline_rss_bytes": self.baseline_rss, "baseline_private_bytes": self.baseline_private,
                "peak_rss_bytes": max([peak_rss_bytes()] + [p["rss"] or 0 for p in self.by_stage.values()]),
                "peak_private_bytes": max(privates) if privates else None, "by_stage": self.by_stage}


def peak_rss_bytes() -> int:
    """This process's own resident high-water mark, in bytes (0 where the OS does not tell).

    On Linux this is VmHWM, not ru_maxrss: the kernel carries ru_maxrss across exec, so a worker
    started by a large parent (a GUI, a test run that loaded models) would report the parent's peak
    as its own. VmHWM belongs to the address space, which exec replaces.
    """
    if STATUS.is_file():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    try:
        import resource
    except ImportError:  # Windows: the peak working set
        import psutil

        return int(getattr(psutil.Process().memory_info(), "peak_wset", 0))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB elsewhere

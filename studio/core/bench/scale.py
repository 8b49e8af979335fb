"""The scale section of `studio bench` (`--sections scale`): how the cost of the work around
training grows with the work. Issue 19's goals: with 1,000 runs and 500 adapters, `runs list`
under 1 s, quitting the app under 1 s, the app's longest event-loop stall from launch to idle
under 100 ms; tokenization that uses the cores.

Per N runs (N/2 adapters; workspaces from core/bench/scale_workspace.py), each in a fresh process
as a person starts it: `studio runs list`, `runs list --json` and `adapters list` (wall time and the
child's peak resident memory from wait4, median of `repeats`; the first listing builds the
listing index and is reported apart), and the app (studio/gui/scale_probe.py, offscreen): time
to idle, the longest stall from launch to idle, the longest while the Runs page opens, and the
quit (closing the window to the end of the process). Then tokenizing 1k/10k/100k demo rows
(engine/scale_tokenize.py: the training worker's own read + tokenize, the cache off) and
`studio runs show` of a run with a 50k-step history. Nothing here imports Qt or torch.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studio.core.bench import scale_workspace as sw
from studio.core.errors import StudioError
from studio.core.worker_process import worker_env
from studio.core.workspace import Workspace

Say = Callable[[str], None]
LISTINGS = {"runs_list": ("runs", "list"), "runs_list_json": ("runs", "list", "--json"),
            "adapters_list": ("adapters", "list")}


@dataclass
class ScaleOptions:
    folder: Path                                   # where the workspaces and logs go
    sizes: list[int] = field(default_factory=lambda: [0, 100, 1000])
    rows: list[int] = field(default_factory=lambda: [1000, 10_000, 100_000])
    history_steps: int = 50_000
    repeats: int = 3
    gui: bool = True
    seed_dir: Path | None = None                  # default: <home>/bench/scale-seed (kept)

    def config(self) -> dict[str, Any]:
        return {"sizes": self.sizes, "rows": self.rows, "history_steps": self.history_steps,
                "repeats": self.repeats, "gui": self.gui}


def parse_sizes(text: str, flag: str) -> list[int]:
    """"0,100,1000" -> [0, 100, 1000]; a bad list is a ConfigError naming the flag."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 0:
        from studio.core.errors import ConfigError

        raise ConfigError(f"{flag} {text!r}: not a comma-separated list of whole numbers >= 0",
                          hint=f"for example {flag} 0,100,1000")
    return sizes


# ---- one fresh process, timed --------------------------------------------------------------------------
def timed(command: list[str], env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
    """Wall time, exit code, output and peak resident memory (the child's own maximum, from wait4
    where the platform has it) of one fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        peak = None
        if hasattr(os, "wait4"):
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        else:
            proc.wait(timeout)
        seconds = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        return {"seconds": seconds, "peak_rss_bytes": peak, "rc": proc.returncode,
                "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


def _checked(result: dict[str, Any], what: str) -> dict[str, Any]:
    if result["rc"] != 0:
        raise StudioError(f"the scale benchmark's {what} failed (exit code {result['rc']})", kind="internal",
                          hint=(result["stderr"] or result["stdout"])[-2000:])
    return result


def _median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    peaks = [r["peak_rss_bytes"] for r in results if r["peak_rss_bytes"]]
    return {"seconds": round(statistics.median(r["seconds"] for r in results), 3),
            "seconds_all": [round(r["seconds"], 3) for r in results],
            "peak_rss_bytes": max(peaks) if peaks else None, "lines": results[0]["stdout"].count("\n")}


def studio_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "studio", *args]


def measure_listings(home: Path, repeats: int, env: dict[str, str]) -> dict[str, Any]:
    """Each listing command `repeats` times, after one listing that builds the index (reported as
    `first_s`: what the first `runs list` after an upgrade or a copied workspace costs)."""
    first = _checked(timed(studio_command("runs", "list", "--home", str(home)), env), "first runs list")
    found: dict[str, Any] = {"first_runs_list_s": round(first["seconds"], 3)}
    for key, args in LISTINGS.items():
        found[key] = _median_of([_checked(timed(studio_command(*args, "--home", str(home)), env), key)
                                 for _ in range(repeats)])
    return found


def probe_gui(home: Path, log_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """The app opened on `home` (studio/gui/scale_probe.py) in a fresh process; the quit is timed
    here, from the moment the probe closed the window to the end of its process."""
    out = log_dir / f"gui-{home.name}.json"
    out.unlink(missing_ok=True)
    gui_env = dict(env)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        gui_env["QT_QPA_PLATFORM"] = "offscreen"
    result = timed([sys.executable, "-m", "studio.gui.scale_probe", "--home", str(home), "--out", str(out)], gui_env)
    ended = time.time()
    (log_dir / f"gui-{home.name}.log").write_text(result["stdout"] + result["stderr"], encoding="utf-8")
    if result["rc"] != 0 or not out.is_file():
        raise StudioError(f"the app probe on {home} failed (exit code {result['rc']})", kind="internal",
                          hint=f"its log is {log_dir / f'gui-{home.name}.log'}:\n{result['stderr'][-2000:]}")
    probe = json.loads(out.read_text(encoding="utf-8"))
    probe["quit_s"] = round(ended - probe.pop("closing_at"), 3)
    probe["process_s"] = round(result["seconds"], 2)
    probe["peak_rss_bytes"] = result["peak_rss_bytes"]
    probe["qt_platform"] = gui_env.get("QT_QPA_PLATFORM") or "default"
    return probe


def measure_tokenization(seed_dir: Path, folder: Path, rows: int, env: dict[str, str]) -> dict[str, Any]:
    """Tokenizing `rows` demo rows in a fresh worker (engine/scale_tokenize.py)."""
    data = sw.write_rows(folder / f"rows-{rows}.jsonl", rows)
    out = folder / f"tokenize-{rows}.json"
    command = [sys.executable, "-m", "studio.engine.scale_tokenize", "--model", str(sw.base_model(seed_dir)),
               "--data", str(data), "--out", str(out)]
    result = _checked(timed(command, env, timeout=3600), f"tokenization of {rows} rows")
    found = json.loads(out.read_text(encoding="utf-8"))
    found.update(process_s=round(result["seconds"], 3), process_peak_rss_bytes=result["peak_rss_bytes"])
    data.unlink(missing_ok=True)
    return found


def measure_history(seed_home: Path, folder: Path, steps: int, repeats: int, env: dict[str, str]) -> dict[str, Any]:
    """`studio runs show` of a run with a `steps`-step history (fresh processes, median)."""
    home = folder / "history"
    shutil.rmtree(home, ignore_errors=True)
    rid = sw.make_long_run(seed_home, home, steps)
    events = home / "runs" / rid / "events.jsonl"
    show = [_checked(timed(studio_command("runs", "show", rid, "--home", str(home)), env), "runs show")
            for _ in range(repeats)]
    found = {"steps": steps, "events_bytes": events.stat().st_size, "runs_show": _median_of(show)}
    shutil.rmtree(home, ignore_errors=True)
    return found


# ---- the section --------------------------------------------------------------------------------------
def run_section(options: ScaleOptions, workspace: Workspace, say: Say) -> dict[str, Any]:
    folder = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    seed_dir = options.seed_dir or workspace.bench_dir / "scale-seed"
    say(f"Scale: a seed run in {seed_dir} (trained once, about 20 s), then N = "
        f"{', '.join(map(str, options.sizes))} runs ...")
    seed_home = sw.make_seed(seed_dir)
    env = worker_env()
    runs: list[dict[str, Any]] = []
    sizes: dict[str, Any] = {}
    for n in options.sizes:
        home = folder / f"n{n}"
        shutil.rmtree(home, ignore_errors=True)
        sw.make_workspace(seed_home, home, n, n // 2)
        entry: dict[str, Any] = {"runs": n, "adapters": n // 2, **measure_listings(home, options.repeats, env)}
        if options.gui:
            entry["gui"] = probe_gui(home, folder, env)
        say(f"  N={n}: runs list {entry['runs_list']['seconds']:.2f} s, adapters list "
            f"{entry['adapters_list']['seconds']:.2f} s" + (f", app idle after {entry['gui']['to_idle_s']} s, longest "
                                                           f"stall {entry['gui']['launch']['longest_stall_ms']} ms, quit "
                                                           f"{entry['gui']['quit_s']} s" if options.gui else ""))
        sizes[str(n)] = entry
        runs.append({"kind": "workspace", **entry})
        shutil.rmtree(home, ignore_errors=True)
    tokenization: dict[str, Any] = {}
    for rows in options.rows:
        say(f"  tokenizing {rows:,} rows ...")
        tokenization[str(rows)] = measure_tokenization(seed_dir, folder, rows, env)
        runs.append({"kind": "tokenization", **tokenization[str(rows)]})
    history = None
    if options.history_steps:
        say(f"  a {options.history_steps:,}-step history ...")
        history = measure_history(seed_home, folder, options.history_steps, options.repeats, env)
        runs.append({"kind": "history", **history})
    summary = {"sizes": sizes, "tokenization": tokenization, "history": history, "cpu_count": os.cpu_count()}
    return {"config": options.config(), "runs": runs, "summary": summary}

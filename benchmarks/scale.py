"""How the cost of listing grows with the work: N runs and N/2 adapters in a workspace.

    .venv/bin/python benchmarks/scale.py [--sizes 0,100,1000] [--repeats 3] [--out FILE]

Once per machine it trains a real tiny run (`studio train`, 4 steps on the demo base, two
checkpoints, one adapter: about a minute on 2 cores) into a seed workspace, kept in --seed-dir for
the next time. Each workspace of N runs is then N copies of that run folder (and N/2 of its
adapter) under new ids and names; the large checkpoint files are hard links, since nothing that
lists runs reads them, so 1,000 runs take a few MB of disk.

Per N it measures, each in a fresh process as a person starts it:
- `studio runs list` and `studio adapters list` (text output): wall time and peak memory (the
  child's own maximum resident set, from wait4), median of --repeats;
- the app (offscreen Qt, the real main window, `gui-probe` below): the longest event-loop stall
  from the window's first show to idle (the run list and both Chat slot bars filled, nothing left
  on the thread pool), the time to idle, the longest stall while the Runs page opens, and the
  time from closing the window to the end of the process.
Figures go to stdout as JSON (and --out); docs/benchmarks.md's "Scale" section records them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SMALL = 64 * 1024          # files up to this size are copied, larger ones hard-linked


def studio_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "studio", *args]


def _env(home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    if home is not None:
        env["STUDIO_HOME"] = str(home)
    return env


# ---- the seed run and the workspaces made from it -----------------------------------------------------
def make_seed(seed_dir: Path) -> Path:
    """A workspace with one real finished run (checkpoints, adapter), trained once and kept."""
    home = seed_dir / "home"
    if (home / "adapters" / "seed" / "studio.json").is_file():
        return home
    shutil.rmtree(seed_dir, ignore_errors=True)
    seed_dir.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", "from pathlib import Path; from studio.core.demo_data import "
                    f"write_demo_data; write_demo_data(Path({str(seed_dir / 'data')!r}))"],
                   check=True, env=_env(), cwd=ROOT)
    subprocess.run([sys.executable, "-m", "studio.engine", "demo-model", "--out", str(seed_dir / "base-model")],
                   check=True, env=_env(), cwd=ROOT, capture_output=True)
    subprocess.run(studio_cmd("train", "--model", str(seed_dir / "base-model"), "--data",
                              str(seed_dir / "data" / "train.jsonl"), "--max-steps", "4", "--eval-split", "0.1",
                              "--save-every", "2", "--name", "seed", "--json"),
                   check=True, env=_env(home), cwd=ROOT, capture_output=True)
    return home


def _copy_file(src: str, dst: str) -> None:
    if os.path.getsize(src) > SMALL:
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def make_workspace(seed_home: Path, home: Path, runs: int, adapters: int) -> Path:
    """`runs` copies of the seed run and `adapters` of its adapter, under ids and names of their own."""
    seed_run = next(p for p in (seed_home / "runs").iterdir() if p.is_dir())
    seed_adapter = seed_home / "adapters" / "seed"
    (home / "runs").mkdir(parents=True, exist_ok=True)
    (home / "adapters").mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("*.lock")
    run_ids = [f"20260101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-scale-{i:05d}" for i in range(runs)]
    for run_id in run_ids:
        shutil.copytree(seed_run, home / "runs" / run_id, copy_function=_copy_file, ignore=ignore)
    for i in range(adapters):
        name = f"scale-{i:05d}"
        folder = home / "adapters" / name
        shutil.copytree(seed_adapter, folder, copy_function=_copy_file)
        record = json.loads((folder / "studio.json").read_text(encoding="utf-8"))
        record.update(name=name, run_id=run_ids[i] if i < len(run_ids) else record.get("run_id"))
        (folder / "studio.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return home


# ---- measuring ---------------------------------------------------------------------------------------
def timed(cmd: list[str], home: Path) -> dict[str, Any]:
    """Wall time and peak RSS (the child's own, from wait4) of one fresh process; its output kept."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=_env(home), cwd=ROOT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "rc": proc.returncode,
                "stdout": out.read().decode(), "stderr": err.read().decode()}


def timed_median(cmd: list[str], home: Path, repeats: int) -> dict[str, Any]:
    runs = [timed(cmd, home) for _ in range(repeats)]
    bad = [r for r in runs if r["rc"] != 0]
    if bad:
        raise RuntimeError(f"{' '.join(cmd)} failed: {bad[0]['stderr'][-2000:]}")
    return {"seconds": round(statistics.median(r["seconds"] for r in runs), 3),
            "seconds_all": [round(r["seconds"], 3) for r in runs],
            "peak_mb": round(max(r["peak_mb"] for r in runs), 1), "lines": runs[0]["stdout"].count("\n")}


def gui_probe(home: Path) -> dict[str, Any]:
    """Launch the app in a fresh process and probe it (see `probe_app`)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    try:
        began = time.time()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "gui-probe", "--home", str(home),
                               "--out", str(out)], env=_env(home), cwd=ROOT, capture_output=True, text=True,
                              timeout=900)
        ended = time.time()
        if proc.returncode != 0:
            raise RuntimeError(f"gui-probe failed: {proc.stderr[-3000:]}")
        result = json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
    result["quit_s"] = round(ended - result.pop("closing_at"), 2)
    result["process_s"] = round(ended - began, 2)
    return result


def probe_app(home: Path, out: Path) -> None:
    """In this process: the app as `studio gui` starts it, probed from the first show to idle.

    Idle: the run list holds every run folder, both Chat slot bars have their choices, no job is
    left on the thread pool, and then 1 s more. Then the Runs page is shown (probed 2 s), and the
    window is closed the way a person closes it; the parent times how long the process takes to end."""
    from PySide6.QtCore import QSettings, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    sys.path.insert(0, str(ROOT))
    from studio.gui.app import build, freeze_start_up_objects, start_background_work
    from studio.gui.responsiveness import StallProbe
    from studio.gui.screenshots import WINDOW_SIZE, settle, wait_until

    runs_on_disk = sum(1 for p in (home / "runs").iterdir() if (p / "run.yaml").is_file()) \
        if (home / "runs").is_dir() else 0
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
                  "to_idle_s": round(to_idle, 2), "launch": launch, "runs_page": runs_page}
        result["closing_at"] = time.time()
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
        window.close()
        QApplication.instance().quit()


def _built_page(window: Any, title: str) -> Any:
    """The page if it is built already (building it here would change what is measured)."""
    index = next(i for i, c in enumerate(window.page_classes) if c.title == title)
    return window._built.get(index)


# ---- the whole benchmark -----------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_avg_1_5_15": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/scale.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    probe = sub.add_parser("gui-probe", help="(internal) probe the app in this process")
    probe.add_argument("--home", type=Path, required=True)
    probe.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", default="0,100,1000", help="run counts N (adapters: N/2)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per CLI figure (median)")
    parser.add_argument("--seed-dir", type=Path, default=Path(tempfile.gettempdir()) / "studio-scale-seed")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the workspaces go (default: a temp dir)")
    parser.add_argument("--no-gui", action="store_true", help="CLI figures only")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces (to compare outputs)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "gui-probe":
        probe_app(args.home, args.out)
        return 0
    seed_home = make_seed(args.seed_dir)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="studio-scale-"))
    result: dict[str, Any] = {"machine": machine(), "sizes": {}}
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        home = make_workspace(seed_home, work / f"n{n}", n, n // 2)
        entry: dict[str, Any] = {"runs": n, "adapters": n // 2}
        entry["runs_list"] = timed_median(studio_cmd("runs", "list"), home, args.repeats)
        entry["adapters_list"] = timed_median(studio_cmd("adapters", "list"), home, args.repeats)
        if not args.no_gui:
            entry["gui"] = gui_probe(home)
        result["sizes"][str(n)] = entry
        print(json.dumps({str(n): entry}), flush=True)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    result["machine"]["load_avg_after"] = machine()["load_avg_1_5_15"]
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

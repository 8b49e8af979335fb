"""Disk full on a real filesystem: a few-MB tmpfs holding the run, then one holding the library.

Run by tests/test_disk_full.py inside `unshare --user --map-root-user --mount`, which lets an
ordinary user mount a private tmpfs that vanishes with the process; prints one JSON line of
what it saw. Usage: python disk_full_scenario.py MODEL DATA WORKDIR
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core.config import RunConfig  # noqa: E402
from studio.core.library import list_adapters  # noqa: E402
from studio.core.run_setup import create_run  # noqa: E402
from studio.core.runs import checkpoints, load_run  # noqa: E402
from studio.core.worker_process import WorkerProcess  # noqa: E402
from studio.core.workspace import Workspace  # noqa: E402

KIB = 1024


def mount(path: Path, size: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def resize(path: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def new_run(home: Path, model: str, data: str, name: str) -> Path:
    config = RunConfig(name=name)
    config.model.name_or_path = model
    config.data.path = data
    config.data.eval_split = 0
    config.data.cache_tokenized = False
    config.train.lr, config.train.batch_size, config.train.save_every, config.train.max_steps = 3e-3, 8, 5, 10
    return create_run(Workspace.open(home), config)


def train(run_dir: Path, *extra: str) -> dict:
    worker = WorkerProcess(["train", "--run-dir", str(run_dir), *extra])
    events = list(worker.events())
    code = worker.wait()
    error = next((e for e in events if e["type"] == "error"), None)
    return {"code": code, "status": events[-1].get("status") if events else None,
            "step": events[-1].get("step") if events else None,
            "error_kind": error and error.get("kind"), "error": error and error.get("message"),
            "hint": error and error.get("hint")}


def state(home: Path, run_dir: Path) -> dict:
    info = load_run(run_dir)
    adapters = list_adapters(Workspace.open(home).adapters_dir)
    return {"run_status": info.status, "checkpoints": [c.name for c in checkpoints(run_dir)],
            "adapters": [[a.name, a.broken] for a in adapters]}


def main(model: str, data: str, workdir: Path) -> None:
    result: dict = {}
    # 1. The run's checkpoints fill the disk: one checkpoint of the tiny model is about 860 KiB.
    home = workdir / "full-runs"
    mount(home, 1400 * KIB)
    run_dir = new_run(home, model, data, "runs-full")
    result["checkpoint_full"] = train(run_dir) | state(home, run_dir)
    resize(home, 8 * 1024 * KIB)
    result["checkpoint_resumed"] = train(run_dir, "--resume") | state(home, run_dir)

    # 2. The library fills while the finished adapter (about 300 KiB) is written.
    home = workdir / "full-library"
    home.mkdir(parents=True)
    mount(home / "adapters", 120 * KIB)
    run_dir = new_run(home, model, data, "library-full")
    result["adapter_full"] = train(run_dir) | state(home, run_dir)
    result["adapter_full"]["library_files"] = sorted(
        str(p.relative_to(home / "adapters")) for p in (home / "adapters").rglob("*"))
    resize(home / "adapters", 8 * 1024 * KIB)
    result["adapter_resumed"] = train(run_dir, "--resume") | state(home, run_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))

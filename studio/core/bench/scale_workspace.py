"""The workspaces `studio bench --sections scale` measures (core/bench/scale.py): N runs and N/2
adapters made from one real run, a run with a long history, datasets of many rows.

Once per workspace (kept in <home>/bench/scale-seed) a real tiny run is trained with `studio train`
(4 steps on the demo base model, two checkpoints, one adapter: about 20 s on 2 cores). A workspace
of N runs is N copies of that run folder under new ids (and N/2 of its adapter under new names);
files over 64 KB (checkpoint and adapter weights) are hard links, since nothing that lists runs
reads them, so 1,000 runs take a few MB. A long history is the seed run's events with its steps
replaced by `steps` synthetic ones (progress + metrics each, an evaluation every steps/100),
which is what `runs show` and the Runs page replay.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.worker_process import worker_env

SMALL = 64 * 1024          # files up to this size are copied, larger ones hard-linked


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise StudioError(f"the scale benchmark could not {what} (exit code {done.returncode})", kind="internal",
                          hint=(done.stderr or done.stdout)[-2000:])


def make_seed(seed_dir: Path) -> Path:
    """A workspace with one real finished run (checkpoints, adapter), trained once and kept."""
    home = seed_dir / "home"
    if (home / "adapters" / "seed" / "studio.json").is_file():
        return home
    shutil.rmtree(seed_dir, ignore_errors=True)
    seed_dir.mkdir(parents=True)
    from studio.core.demo_data import write_demo_data

    write_demo_data(seed_dir / "data")
    env = worker_env()
    _run([sys.executable, "-m", "studio.engine", "demo-model", "--out", str(seed_dir / "base-model")], env,
         "build the demo base model")
    env["STUDIO_HOME"] = str(home)
    _run([sys.executable, "-m", "studio", "train", "--model", str(seed_dir / "base-model"), "--data",
          str(seed_dir / "data" / "train.jsonl"), "--max-steps", "4", "--eval-split", "0.1", "--save-every", "2",
          "--name", "seed", "--json"], env, "train the seed run")
    return home


def base_model(seed_dir: Path) -> Path:
    return seed_dir / "base-model"


def _copy_file(src: str, dst: str) -> None:
    if os.path.getsize(src) > SMALL:
        try:
            os.link(src, dst)
            return
        except OSError:          # another file system, or links not allowed: a copy then
            pass
    shutil.copy2(src, dst)


def seed_run(seed_home: Path) -> Path:
    return next(p for p in sorted((seed_home / "runs").iterdir()) if (p / "run.yaml").is_file())


def run_id(i: int) -> str:
    return f"20260101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-scale-{i:05d}"


def make_workspace(seed_home: Path, home: Path, runs: int, adapters: int) -> Path:
    """`runs` copies of the seed run and `adapters` of its adapter, under ids and names of their own."""
    source, seed_adapter = seed_run(seed_home), seed_home / "adapters" / "seed"
    (home / "runs").mkdir(parents=True, exist_ok=True)
    (home / "adapters").mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("*.lock")
    ids = [run_id(i) for i in range(runs)]
    for rid in ids:
        shutil.copytree(source, home / "runs" / rid, copy_function=_copy_file, ignore=ignore)
    for i in range(adapters):
        name = f"scale-{i:05d}"
        folder = home / "adapters" / name
        shutil.copytree(seed_adapter, folder, copy_function=_copy_file)
        record = json.loads((folder / "studio.json").read_text(encoding="utf-8"))
        record.update(name=name, run_id=ids[i] if i < len(ids) else record.get("run_id"))
        (folder / "studio.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return home


def make_long_run(seed_home: Path, home: Path, steps: int) -> str:
    """A copy of the seed run whose events hold `steps` steps; returns its run id."""
    source = seed_run(seed_home)
    rid = "20260102-000000-scale-long"
    target = home / "runs" / rid
    shutil.copytree(source, target, copy_function=_copy_file, ignore=shutil.ignore_patterns("*.lock"))
    events = [json.loads(line) for line in (source / "events.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    first = next(i for i, e in enumerate(events) if e.get("type") == "progress")
    tail = [e for e in events[first:] if e.get("type") in ("stage", "done")]
    t0 = float(events[first].get("t") or 0.0)
    every = max(1, steps // 100)
    lines = [json.dumps(e) for e in events[:first]]
    for step in range(1, steps + 1):
        t = round(t0 + step * 0.05, 3)
        lines.append(json.dumps({"v": 1, "type": "progress", "t": t, "step": step, "max_steps": steps,
                                 "epoch": round(step / steps, 4), "eta_s": round((steps - step) * 0.05, 1)}))
        lines.append(json.dumps({"v": 1, "type": "metrics", "t": t, "step": step, "epoch": round(step / steps, 4),
                                 "loss": 2.0 + 4.0 / (1 + step / 100), "lr": 1e-4, "grad_norm": 1.0 + (step % 7) / 10,
                                 "tokens_per_s": 8000.0 + step % 100, "tokens_seen": step * 550,
                                 "mem_bytes": 520_000_000}))
        if step % every == 0:
            lines.append(json.dumps({"v": 1, "type": "eval", "t": t, "step": step,
                                     "eval_loss": 2.1 + 4.0 / (1 + step / 100), "epoch": round(step / steps, 4)}))
    for event in tail:
        event = dict(event, t=round(t0 + steps * 0.05 + 1, 3))
        if event.get("type") == "done":
            event["step"] = steps
        lines.append(json.dumps(event))
    (target / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rid


def write_rows(path: Path, rows: int) -> Path:
    """`rows` demo tickets as a chat JSONL file: a pool of distinct tickets, each row numbered so
    that no two rows are the same (drawing 100k distinct tickets from the demo's templates takes
    minutes)."""
    from studio.core.demo_data import make_examples

    pool = make_examples(min(rows, 2000), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            system, user, answer = pool[i % len(pool)]["messages"]
            row = {"messages": [system, {"role": "user", "content": f"#{i} {user['content']}"}, answer]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path

"""The training-speed section of `studio bench`: studio's trainer against baselines a user writes.

All train the same examples (one epoch over the same file, the same tokenization, the same
hyperparameters and seed, read from one run.yaml) in fresh processes, in one alternating loop
(a b c s, s c b a, a b c s, ...) so that a machine getting busier or quieter affects all alike:

    baselines   python -m studio.engine.bench_baseline --baseline NAME run.yaml result.json
                trainer (Trainer + peft), trl, trl-padding-free, trl-packing (SFTTrainer)
    studio      python -m studio.engine train --run-dir ...   (the real `studio train` worker)

Throughput is real tokens (the examples' lengths, no padding) over the span from train begin to
the end of the last optimizer step, measured the same way in all. Peak memory is CUDA max
allocated on a GPU, peak RSS of the process on the CPU. The default data is generated with
mixed lengths (core/bench/data.py) and the default model is the demo's tiny Llama, so it runs
anywhere in minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from studio.core.bench.data import write_bench_data
from studio.core.config import RunConfig
from studio.core.config_io import load_config, save_config, set_value
from studio.core.datasets import import_dataset, require_clean
from studio.core.errors import ConfigError, StudioError
from studio.core.run_setup import create_run, precheck
from studio.core.runs import RUN_CONFIG
from studio.core.workspace import Workspace
from studio.core.worker_process import WorkerProcess, worker_env

EVAL_ROWS = 64
# The scripts in studio/engine/bench_baselines (SCRIPTS there; the core does not import the engine).
BASELINES = ("trainer", "trl", "trl-padding-free", "trl-packing")
DEFAULT_BASELINES = ("trainer",)
STUDIO_ONLY_KEYS = ("train.packing", "train.group_by_length", "train.liger", "data.cache_tokenized",
                    "model.attn_implementation")
Say = Callable[[str], None]


@dataclass
class TrainingBench:
    folder: Path
    model: str = ""
    data: str = ""
    quant: str = "none"
    steps: int = 30
    repeats: int = 3
    batch_size: int = 8
    max_len: int = 1024
    lr: float = 2e-3
    threads: int = 0  # 0: the libraries' default (all cores)
    studio_set: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=lambda: list(DEFAULT_BASELINES))

    def check(self) -> "TrainingBench":
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown or not self.baselines or len(set(self.baselines)) != len(self.baselines):
            raise ConfigError(f"--baseline {','.join(self.baselines)!r}: " + (
                f"unknown baseline {', '.join(unknown)}" if unknown else "name each baseline once"),
                hint="use any of " + ", ".join(BASELINES) + ", comma-separated, or all")
        for name, value, least in (("--steps", self.steps, 1), ("--repeats", self.repeats, 1),
                                   ("--batch-size", self.batch_size, 1), ("--max-len", self.max_len, 8)):
            if value < least:
                raise ConfigError(f"{name} = {value} is too small", hint=f"use {least} or more")
        for item in self.studio_set:
            key = item.partition("=")[0].strip()
            if key not in STUDIO_ONLY_KEYS:
                raise ConfigError(f"--set {item!r}: only studio's own speed settings can differ from the "
                                  "baselines, so that all train the same way",
                                  hint="use one of: " + ", ".join(STUDIO_ONLY_KEYS))
        return self


def prepare(bench: TrainingBench, workspace: Workspace, say: Say) -> RunConfig:
    """Model, data and the shared run config, written into the bench folder."""
    bench.folder.mkdir(parents=True, exist_ok=True)
    model = bench.model or str(ensure_tiny_model(workspace.bench_dir / "tiny-model", say))
    data_dir = bench.folder / "data"
    rows = bench.steps * bench.batch_size
    if bench.data:
        train, evals = subset_of(Path(bench.data), rows, data_dir)
    else:
        train, evals = write_bench_data(data_dir, rows, EVAL_ROWS)
    config = RunConfig(name="bench")
    config.model.name_or_path = model
    config.model.quant = bench.quant
    config.data.path, config.data.eval_path = str(train), str(evals) if evals else ""
    config.data.eval_split, config.data.max_len = 0.0, bench.max_len
    config.lora.rank, config.lora.alpha, config.lora.dropout = 16, 32.0, 0.0
    t = config.train
    t.epochs, t.batch_size, t.grad_accum, t.lr, t.warmup = 1.0, bench.batch_size, 1, bench.lr, 0.1
    t.log_every, t.save_every, t.eval_every, t.seed = 1, 0, 0, 42
    precheck(config)  # a missing model or a bad file fails here, in words, not in a worker's log
    save_config(config, bench.folder / RUN_CONFIG, header="The run both trainers of `studio bench` train")
    return config


def ensure_tiny_model(folder: Path, say: Say) -> Path:
    """The demo's tiny random-init Llama, built once per workspace."""
    if not (folder / "model.safetensors").is_file():
        say(f"Building the tiny benchmark model in {folder} ...")
        worker = WorkerProcess(["demo-model", "--out", str(folder)])
        done = [e for e in worker.events() if e["type"] == "done"]
        if worker.wait() != 0 or not done or done[-1].get("status") != "completed":
            raise StudioError("could not build the tiny benchmark model", kind="internal",
                              hint="its output was:\n" + worker.stderr_tail[-2000:])
    return folder


def subset_of(path: Path, rows: int, out: Path) -> tuple[Path, Path | None]:
    """The first `rows` records of a user's file for training, the next EVAL_ROWS for evaluation."""
    report = import_dataset(path)
    require_clean(report, allow_skip=False)
    records = report.records
    if len(records) < rows:
        raise ConfigError(f"{path} has {len(records)} records, fewer than --steps x --batch-size = {rows}",
                          hint="lower --steps or --batch-size")
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, part in (("train.jsonl", records[:rows]), ("eval.jsonl", records[rows: rows + EVAL_ROWS])):
        if part:
            (out / name).write_text("".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in part),
                                    encoding="utf-8")
            files.append(out / name)
    return files[0], (files[1] if len(files) > 1 else None)


def parse_baselines(text: str) -> list[str]:
    """`--baseline trainer,trl` -> ["trainer", "trl"]; `all` is every baseline."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return list(BASELINES) if names == ["all"] else names


def run_order(baselines: list[str], repeat: int) -> list[str]:
    """Baselines then studio, reversed every other repeat: a b s, s b a, a b s, ..."""
    order = [*baselines, "studio"]
    return order if repeat % 2 == 0 else order[::-1]


def run_baseline(bench: TrainingBench, name: str, repeat: int) -> dict[str, Any]:
    folder = bench.folder / "baselines" / name / f"run-{repeat + 1}"
    folder.mkdir(parents=True, exist_ok=True)
    result_path, log_path = folder / "result.json", folder / "baseline.log"
    launched = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        code = subprocess.run([sys.executable, "-m", "studio.engine.bench_baseline", "--baseline", name,
                               str(bench.folder / RUN_CONFIG), str(result_path)],
                              stdout=log, stderr=subprocess.STDOUT, env=worker_env()).returncode
    if code != 0 or not result_path.is_file():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise StudioError(f"the {name} baseline run failed (exit code {code})", kind="internal",
                          hint=f"its log is {log_path}:\n{tail}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    return _measured(name, repeat, result["span"], result["train_tokens"], result["train_begin_t"] - launched,
                     stages=result["stages"], losses=result["losses"], eval_loss=result["eval_loss"],
                     step_seconds=result["step_seconds"], peak_mem_bytes=result["peak_mem_bytes"],
                     train_examples=result["train_examples"], train_labels=result["train_labels"],
                     train_rows=result["train_rows"], steps=result["steps"], settings=result["settings"])


def run_studio(bench: TrainingBench, workspace: Workspace, repeat: int) -> dict[str, Any]:
    run_config = load_config(bench.folder / RUN_CONFIG)
    for item in bench.studio_set:
        key, _, value = item.partition("=")
        set_value(run_config, key.strip(), value.strip(), where="--set")
    run_dir = create_run(workspace, run_config)
    launched = time.time()
    worker = WorkerProcess(["train", "--run-dir", str(run_dir)], stderr_log=run_dir / "worker.log")
    try:
        seen = collect(worker.events())
    except BaseException:  # Ctrl-C or an error here: the worker runs in its own session, stop it
        worker.kill()
        raise
    finally:
        worker.wait()
    done = seen["done"] or {}
    if done.get("status") != "completed":
        error = seen["error"] or {}
        what = "was cancelled" if done.get("status") == "cancelled" else "failed"
        raise StudioError(f"studio's training run {what}: {error.get('message', 'no result')}", kind="internal",
                          hint=f"see {run_dir / 'worker.log'}")
    metrics = done.get("metrics", {})
    data = seen.get("data", {})
    return _measured("studio", repeat, metrics["train_span"], data["tokens"]["tokens"],
                     seen["train_begin_t"] - launched, stages=seen["stages"], losses=seen["losses"],
                     step_seconds=seen["step_seconds"],
                     eval_loss=seen["eval_loss"], peak_mem_bytes=metrics.get("peak_mem_bytes"),
                     train_examples=data.get("train_examples"), train_labels=data["tokens"].get("target_tokens"),
                     train_rows=data.get("train_examples"), steps=metrics.get("steps"),
                     speedups=seen.get("speedups"), from_cache=data.get("from_cache"),
                     environment=seen.get("environment"), run_dir=str(run_dir))


def collect(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What the bench needs from a training worker's events."""
    seen: dict[str, Any] = {"stages": {}, "losses": [], "step_seconds": [], "eval_loss": None, "done": None,
                            "error": None}
    for event in events:
        kind = event["type"]
        if kind == "stage" and event.get("previous") and event.get("seconds") is not None:
            seen["stages"][event["previous"]] = event["seconds"]
        elif kind == "progress" and event.get("step") == 0 and "train_begin_t" not in seen:
            seen["train_begin_t"] = event["t"]
        elif kind == "metrics" and event.get("loss") is not None:
            seen["losses"].append([event["step"], event["loss"]])
            seen["step_seconds"].append(round(event["t"] - seen.get("train_begin_t", event["t"]), 3))
        elif kind == "eval":
            seen["eval_loss"] = event["eval_loss"]
        elif kind == "data_stats":
            seen["data"] = event
        elif kind == "log" and "speedups" in event:
            seen["speedups"] = event["speedups"]
        elif kind == "log" and "environment" in event:
            seen["environment"] = event["environment"]
        elif kind in ("done", "error"):
            seen[kind] = event
    return seen


def _measured(trainer: str, repeat: int, span: dict[str, Any], tokens: int, to_first_step: float,
              **fields: Any) -> dict[str, Any]:
    seconds, cpu = span["seconds"], span["cpu_seconds"]
    return {"trainer": trainer, "repeat": repeat, "train_tokens": tokens, "seconds": seconds, "cpu_seconds": cpu,
            "tokens_per_s": tokens / seconds if seconds else None,
            "tokens_per_cpu_s": tokens / cpu if cpu else None,
            "to_first_step_s": round(to_first_step, 3), **fields}


def run_section(bench: TrainingBench, workspace: Workspace, say: Say) -> dict[str, Any]:
    """All runs, alternating the order each repeat; returns runs, summary and the config used."""
    from studio.core.bench.summary import summarise

    bench.check()
    if bench.threads:  # both trainers' processes inherit it (worker_env copies os.environ)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(bench.threads)
    config = prepare(bench, workspace, say)
    studio_workspace = Workspace.open(bench.folder / "workspace")
    runs: list[dict[str, Any]] = []
    total = (len(bench.baselines) + 1) * bench.repeats
    for repeat in range(bench.repeats):
        for trainer in run_order(bench.baselines, repeat):
            say(f"[{len(runs) + 1}/{total}] {trainer} (repeat {repeat + 1}) ...")
            run = (run_studio(bench, studio_workspace, repeat) if trainer == "studio"
                   else run_baseline(bench, trainer, repeat))
            runs.append(run)
            say(f"      {run['tokens_per_s']:,.0f} tokens/s, {run['seconds']:.1f} s for {run['train_tokens']:,} "
                f"tokens, first step after {run['to_first_step_s']:.1f} s")
    return {"config": {"model": config.model.name_or_path, "quant": bench.quant, "data": config.data.path,
                       "eval_data": config.data.eval_path or None, "steps": bench.steps,
                       "batch_size": bench.batch_size, "max_len": bench.max_len, "lr": bench.lr,
                       "repeats": bench.repeats, "threads": bench.threads or None,
                       "studio_set": bench.studio_set, "baselines": list(bench.baselines)},
            "runs": runs, "summary": summarise(runs, bench.baselines)}

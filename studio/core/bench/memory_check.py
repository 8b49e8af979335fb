"""The memory section of `studio bench`: the Train page's estimate against measured peaks.

The Train page warns before a run that will not fit, from core.memory's estimate. Here the same
estimate is computed for a few runs that then really train (the `studio train` worker, a few
steps each) and compared with the peak the worker measured: CUDA max allocated on a GPU, peak
RSS on the CPU. Every text is 2048 tokens long (byte-level tokenizer, 2047 characters + eos) and
is cut into examples of exactly max_len tokens (every max_len used here divides 2048), so each
batch holds exactly batch x max_len tokens, the shape the estimate assumes.

The model is a random-init Llama of about 85M parameters by default (big enough that weights and
activations, not the libraries' own memory, make up the peak), built once per workspace.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from studio.core.config import RunConfig
from studio.core.errors import StudioError
from studio.core.memory import estimate, inputs_from
from studio.core.model_info import inspect_model
from studio.core.run_setup import create_run, precheck
from studio.core.workspace import Workspace
from studio.core.worker_process import WorkerProcess, run_to_done

Say = Callable[[str], None]
MODEL_SHAPE = {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12,
               "num_attention_heads": 12, "num_key_value_heads": 4}
STEPS = 3


@dataclass(frozen=True)
class Case:
    quant: str
    batch_size: int
    max_len: int
    grad_checkpointing: bool = False
    rank: int = 16

    @property
    def label(self) -> str:
        return (f"{self.quant}, batch {self.batch_size} x {self.max_len} tokens, r={self.rank}"
                + (", grad checkpointing" if self.grad_checkpointing else ""))


CASES = (Case("none", 4, 256), Case("none", 8, 512), Case("none", 8, 512, grad_checkpointing=True),
         Case("4bit", 8, 512))


def ensure_model(folder: Path, say: Say, shape: dict[str, int] = MODEL_SHAPE) -> Path:
    if not (folder / "model.safetensors").is_file():
        say(f"Building the memory benchmark's model in {folder} ...")
        run_to_done(["demo-model", "--out", str(folder), "--shape", ",".join(f"{k}={v}" for k, v in shape.items())])
    return folder


def write_long_texts(path: Path, rows: int, chars: int) -> Path:
    """Raw-text records of exactly `chars` characters (the demo tokenizer is byte-level, one
    token per character, and appends eos: chars + 1 tokens, cut into whole max_len chunks)."""
    rng = random.Random(0)
    words = ["loss", "adapter", "rank", "token", "batch", "memory", "layer", "model", "train", "step"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(rows):
            text = ""
            while len(text) < chars:
                text += rng.choice(words) + " "
            fh.write(json.dumps({"text": text[:chars]}) + "\n")
    return path


def run_case(case: Case, model: Path, data: Path, workspace: Workspace, device: str) -> dict[str, Any]:
    config = RunConfig(name="bench-memory")
    config.model.name_or_path, config.model.quant = str(model), case.quant
    config.data.path, config.data.eval_split, config.data.max_len = str(data), 0.0, case.max_len
    config.lora.rank, config.lora.alpha = case.rank, 2.0 * case.rank
    t = config.train
    t.batch_size, t.max_steps, t.save_every, t.grad_checkpointing = case.batch_size, STEPS, 0, case.grad_checkpointing
    _report, info = precheck(config)
    info = info or inspect_model(model)
    predicted = estimate(inputs_from(info, config, device))
    run_dir = create_run(workspace, config)
    worker = WorkerProcess(["train", "--run-dir", str(run_dir)], stderr_log=run_dir / "worker.log")
    done: dict[str, Any] = {}
    try:
        for event in worker.events():
            if event["type"] == "done":
                done = event
    finally:
        worker.wait()
    measured = (done.get("metrics") or {}).get("peak_mem_bytes")
    if done.get("status") != "completed" or not measured:
        raise StudioError(f"the memory benchmark's run ({case.label}) did not complete", kind="internal",
                          hint=f"see {run_dir / 'worker.log'}")
    return {"case": case.label, "quant": case.quant, "batch_size": case.batch_size, "max_len": case.max_len,
            "grad_checkpointing": case.grad_checkpointing, "rank": case.rank,
            "estimate_bytes": predicted.total, "estimate_parts": dict(predicted.parts()),
            "measured_bytes": int(measured), "error": round(predicted.total / measured - 1, 4),
            "run_dir": str(run_dir)}


def run_memory_section(folder: Path, workspace: Workspace, say: Say, device: str = "cpu") -> dict[str, Any]:
    """`workspace` keeps the model between benchmarks; the runs go to a workspace in `folder`."""
    model = ensure_model(workspace.bench_dir / "memory-model", say)
    data = write_long_texts(folder / "memory-data" / "long.jsonl", rows=64, chars=2047)
    runs_workspace = Workspace.open(folder / "workspace")
    results = []
    for case in CASES:
        say(f"Memory: {case.label} ...")
        results.append(run_case(case, model, data, runs_workspace, device))
        say(f"      estimate {results[-1]['estimate_bytes'] / 2**20:,.0f} MiB, measured "
            f"{results[-1]['measured_bytes'] / 2**20:,.0f} MiB ({results[-1]['error']:+.1%})")
    errors = [abs(r["error"]) for r in results]
    return {"model": str(model), "model_shape": MODEL_SHAPE, "steps": STEPS, "device": device, "cases": results,
            "largest_error": max(errors), "mean_error": round(sum(errors) / len(errors), 4)}

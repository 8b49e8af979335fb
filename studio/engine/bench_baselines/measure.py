"""The measurement around a baseline script, the same as studio's worker does it.

- stages: seconds from process start to the end of each stage the script marks (import,
  load_model, tokenize, setup, train, evaluate);
- the training span: a callback records train begin -> end of the last optimizer step, as
  studio's ProtocolCallback does, so evaluation and saving after it are not throughput;
- peak memory: studio.engine.callbacks.peak_memory (CUDA max allocated, else the process's VmHWM);
- what was trained: real tokens, loss tokens (labels != -100) and examples, counted on the
  dataset as the trainer holds it after its own preparation (TRL truncates, filters and packs),
  so `studio bench` can check that every trainer saw the same tokens.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from studio.core.config_io import load_config
from studio.engine.callbacks import peak_memory


class Clock:
    """Stage marks: each stage's seconds since the previous mark (the first since process start)."""

    def __init__(self, started_monotonic: float) -> None:
        self.stages: dict[str, float] = {}
        self._mark = started_monotonic

    def stage(self, name: str) -> None:
        now = time.monotonic()
        self.stages[name] = round(now - self._mark, 3)
        self._mark = now


class SpanTimer(TrainerCallback):
    """Train begin -> end of the last optimizer step, wall and CPU time, and each step's end."""

    def __init__(self) -> None:
        self.span: dict[str, float] = {}
        self.begin_t = 0.0
        self.step_seconds: list[float] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.begin_t, self._wall, self._cpu = time.time(), time.monotonic(), time.process_time()
        self._step = state.global_step

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        elapsed = time.monotonic() - self._wall
        self.step_seconds.append(round(elapsed, 3))
        self.span = {"seconds": round(elapsed, 3), "cpu_seconds": round(time.process_time() - self._cpu, 3),
                     "steps": state.global_step - self._step}


@dataclass
class Measure:
    """What a script is handed: stage marks and the callbacks to give its trainer."""
    clock: Clock
    span: SpanTimer
    variant: str

    def stage(self, name: str) -> None:
        self.clock.stage(name)

    @property
    def callbacks(self) -> list[Any]:
        return [self.span]


@dataclass
class Outcome:
    """What a script returns: its trainer after training, and the held-out loss if there was data."""
    trainer: Any
    eval_loss: float | None
    settings: dict[str, str]


def trained_counts(dataset: Any) -> dict[str, int]:
    """Real tokens, loss tokens (labels != -100, counted as studio's `target_tokens`), examples
    and rows of a dataset of input_ids + labels; a packed row holds several examples (TRL's
    `seq_lengths`)."""
    tokens = labels = examples = 0
    packed = "seq_lengths" in dataset.column_names
    for row in dataset:
        tokens += len(row["input_ids"])
        labels += sum(1 for x in row["labels"] if x != -100)
        examples += len(row["seq_lengths"]) if packed else 1
    return {"train_tokens": tokens, "train_labels": labels, "train_examples": examples, "train_rows": len(dataset)}


def run(name: str, module_name: str, run_yaml: Path, result_path: Path, started: float,
        started_monotonic: float) -> dict[str, Any]:
    """Import the script (part of the start-up cost), run it, write RESULT.json."""
    clock = Clock(started_monotonic)
    script = importlib.import_module(module_name)
    clock.stage("import")
    config = load_config(run_yaml)
    measure = Measure(clock, SpanTimer(), name)
    outcome: Outcome = script.train(config, result_path.parent / "output", measure)
    trainer = outcome.trainer
    losses = [[log["step"], log["loss"]] for log in trainer.state.log_history if "loss" in log]
    result = {
        "trainer": name, "settings": outcome.settings, "stages": clock.stages, "span": measure.span.span,
        "train_begin_t": measure.span.begin_t, "started_t": started,
        **trained_counts(trainer.train_dataset),
        "steps": trainer.state.global_step, "losses": losses, "step_seconds": measure.span.step_seconds,
        "eval_loss": outcome.eval_loss, "peak_mem_bytes": peak_memory(),
    }
    result_path.write_text(json.dumps(result) + "\n", encoding="utf-8")
    return result

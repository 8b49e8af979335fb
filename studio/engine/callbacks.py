"""The Trainer callback that turns training into protocol events and obeys cancel/save_now.

Cancel sets `should_save` and `should_training_stop` at the next step end, so the Trainer itself
writes a full resumable checkpoint (weights, optimizer, scheduler, RNG, data position) and
returns normally. After each save the checkpoint gets a `studio-complete` mark: only marked
checkpoints are offered for resume, so one cut short by a kill is never mistaken for good.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from studio.core.eta import EtaEstimator
from studio.core.runs import COMPLETE_MARK
from studio.engine import failpoints
from studio.engine.distributed import sync_flag
from studio.engine.preference_metrics import preference_metrics
from studio.engine.worker_io import Controls, Emitter


class ProtocolCallback(TrainerCallback):
    def __init__(self, emitter: Emitter, controls: Controls, output_dir: Path) -> None:
        self.emitter = emitter
        self.controls = controls
        self.output_dir = output_dir
        self.cancelled = False
        self._start = 0.0
        self._start_step = 0
        self._last_log_time = 0.0
        self._last_tokens = 0
        self._cpu_start = 0.0
        self.span: dict[str, float] = {}
        self.eta = EtaEstimator(0)
        self._pause_kinds: set[str] = set()    # what ran since the last step end: eval, save
        self._step_ended = 0.0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._start = self._last_log_time = time.monotonic()
        self._cpu_start = time.process_time()
        self._start_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen
        self.eta = eta_estimator(args, state)
        self.eta.start(state.global_step, self._start)
        self._step_ended = self._start
        self.emitter.emit("progress", step=state.global_step, max_steps=state.max_steps,
                          epoch=state.epoch or 0.0, eta_s=None)

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        """The pause since the last step (evaluation with its prediction samples, a checkpoint)
        ends here: timed apart, so the ETA counts it at its own rate, not as step time."""
        if self._pause_kinds:
            self.eta.pause(self._pause_kinds, time.monotonic() - self._step_ended)
            self._pause_kinds = set()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        done = state.global_step - self._start_step
        elapsed = time.monotonic() - self._start
        # From train begin to the end of the last optimizer step: evaluation and saving after it
        # are not training throughput (`studio bench` compares trainers on this span).
        self.span = {"seconds": round(elapsed, 3), "cpu_seconds": round(time.process_time() - self._cpu_start, 3),
                     "steps": done, "tokens": state.num_input_tokens_seen}
        self._step_ended = self._start + elapsed
        eta = self.eta.step_end(state.global_step, self._step_ended)
        self.emitter.emit("progress", step=state.global_step, max_steps=state.max_steps,
                          epoch=round(state.epoch or 0.0, 4), eta_s=round(eta, 1) if eta is not None else None)
        failpoints.hit("oom_at_step", state.global_step)
        failpoints.hit("kill_at_step", state.global_step)
        # One stat of the run's cancel-request file (`studio runs cancel` from any process), then
        # every rank stops at the same step.
        cancel = sync_flag(self.controls.poll_requests())
        if cancel and failpoints.active("hang_on_cancel"):
            failpoints.hit("hang_on_cancel")
        if cancel and not self.cancelled:
            self.cancelled = True
            control.should_save = True
            control.should_training_stop = True
            self.emitter.emit("stage", name="cancelling", message=self.controls.cancel_message(),
                              reason=self.controls.reason or None)
        elif self.controls.save_now.is_set():
            self.controls.save_now.clear()
            control.should_save = True

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kw: Any) -> None:
        logs = logs or {}
        if "loss" not in logs:
            return
        now = time.monotonic()
        tokens = state.num_input_tokens_seen
        rate = (tokens - self._last_tokens) / (now - self._last_log_time) if now > self._last_log_time else None
        self._last_log_time, self._last_tokens = now, tokens
        self.emitter.emit("metrics", step=state.global_step, epoch=round(state.epoch or 0.0, 4),
                          loss=logs.get("loss"), lr=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
                          tokens_per_s=round(rate, 1) if rate else None, tokens_seen=tokens,
                          mem_bytes=memory_in_use(), **preference_metrics(logs))

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict[str, float] | None = None, **kw: Any) -> None:
        self._pause_kinds.add("eval")
        metrics = metrics or {}
        if "eval_loss" in metrics:
            self.emitter.emit("eval", step=state.global_step, eval_loss=metrics["eval_loss"],
                              epoch=round(state.epoch or 0.0, 4), **preference_metrics(metrics, "eval_"))

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._pause_kinds.add("save")
        path = self.output_dir / f"checkpoint-{state.global_step}"
        failpoints.hit("kill_before_checkpoint_mark", state.global_step)
        if path.is_dir():
            (path / COMPLETE_MARK).write_text(f"step {state.global_step}\n", encoding="utf-8")
            self.emitter.emit("checkpoint", step=state.global_step, path=str(path))


def eta_estimator(args: TrainingArguments, state: TrainerState) -> EtaEstimator:
    """An estimator that knows when the Trainer will pause (DefaultFlowCallback's rules): every
    eval_steps/save_steps with the "steps" strategy, at each epoch's end with "epoch", and after
    the last step for both."""
    import math

    def period(strategy: Any, steps: int | None) -> int:
        name = str(getattr(strategy, "value", strategy))
        if name == "steps":
            return int(steps or 0)
        if name == "epoch" and state.num_train_epochs:
            return max(1, math.ceil(state.max_steps / state.num_train_epochs))
        return 0

    strategies = {"eval": args.eval_strategy, "save": args.save_strategy}
    every = {"eval": period(args.eval_strategy, state.eval_steps), "save": period(args.save_strategy, state.save_steps)}
    at_end = frozenset(kind for kind, strategy in strategies.items()
                       if str(getattr(strategy, "value", strategy)) in ("steps", "epoch"))
    return EtaEstimator(state.max_steps, every=every, at_end=at_end)


def peak_memory() -> int | None:
    """The process's peak: CUDA max allocated on a GPU, else its own peak resident memory."""
    import torch

    from studio.engine.memory_watch import peak_rss_bytes

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return peak_rss_bytes() or None


def memory_in_use() -> int | None:
    """Peak CUDA memory allocated on a GPU, else the process's resident memory."""
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None

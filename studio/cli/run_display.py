"""Running a training worker from the terminal: a live progress bar, Ctrl-C to cancel cleanly.

The bar shows step/total, loss, eval loss, tokens/s, the elapsed time and the worker's smoothed
ETA (core/eta.py: evaluations and saves are counted at the rate they recur, not as step time),
counted down between events; each stage prints one line with how long the previous one took.
Rich's own TimeRemainingColumn is not used: it extrapolates from how fast the bar moved, so every
evaluation made it jump. The first Ctrl-C asks the worker to save a checkpoint and stop; a
second one kills it (a checkpoint is only offered for resume once it is complete). If this
process is killed instead, the worker sees its stdin end and stops the same way, with a
checkpoint; `studio runs cancel RUN` stops it from any other terminal.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from studio.core.datasets import describe_turns
from studio.core.eta import duration_text, run_seconds, time_text
from studio.core.run_control import record_end_unless_ended
from studio.core.run_history import RunHistory
from studio.core.runs import EVENTS, RUN_CONFIG, WORKER_LOG, crash_events, record_crash, saved_as_note, worker_alive
from studio.core.worker_process import WorkerProcess

STAGE_LABELS = {
    "import": "Starting worker", "load_data": "Reading data", "load_model": "Loading model",
    "tokenize": "Tokenizing", "setup": "Setting up LoRA and the trainer", "model_ready": "Model ready",
    "train": "Training", "save": "Saving adapter", "cancelling": "Cancelling", "download": "Downloading model",
}


def run_worker(run_dir: Path, *, resume: bool = False, quiet: bool = False) -> RunHistory:
    """Start the training worker on run_dir, show its progress, return the replayed history."""
    console = Console(stderr=True, quiet=quiet)
    worker = WorkerProcess(["train", "--run-dir", str(run_dir)] + (["--resume"] if resume else []),
                           stderr_log=run_dir / WORKER_LOG)
    history = RunHistory()
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"), RunTimeColumn(history), console=console, transient=False)
    task = None
    with ctrl_c_cancels(worker, console, "Cancelling: saving a checkpoint, then stopping (Ctrl-C again to force)..."):
        with progress:
            for event in worker.events():
                history.apply(event)
                kind = event["type"]
                if kind == "stage":
                    if event.get("previous") and event.get("seconds") is not None:
                        label = STAGE_LABELS.get(event["previous"], event["previous"])
                        progress.console.print(f"  [green]done[/] {label} ({event['seconds']:.1f} s)")
                    if event.get("name") == "cancelling" and event.get("reason") == "request":
                        progress.console.print(f"  [yellow]{escape(event.get('message', 'cancelling'))}")
                    if event.get("name") == "model_ready" and event.get("message"):
                        progress.console.print(f"  {event['message']}")
                elif kind == "data_stats":
                    progress.console.print("  " + describe_data_stats(event))
                elif kind == "progress" and event.get("max_steps"):
                    if task is None:
                        task = progress.add_task("Training", total=event["max_steps"], stats="")
                    progress.update(task, completed=event["step"], total=event["max_steps"],
                                    stats=_stats_text(history))
                elif kind == "checkpoint":
                    progress.console.print(f"  saved checkpoint at step {event.get('step')}")
                elif kind == "warning" and event.get("message"):
                    progress.console.print(f"  [yellow]note[/] {escape(event['message'])}")
                elif kind == "metrics" and task is not None:
                    progress.update(task, stats=_stats_text(history))
    code = worker.wait()
    if history.done is None:  # the worker died without reporting: record that in the run
        detail = f"exit code {code}" + (f"; last output: {worker.stderr_tail.strip().splitlines()[-1]}"
                                        if worker.stderr_tail.strip() else "")
        if not history.hello and worker_alive(run_dir):
            # Ours never started: another worker holds the run. Its events are not ours to end.
            events = crash_events(run_dir, detail)
        elif history.hello:
            events = record_end_unless_ended(run_dir, detail, force_stopped=worker.cancel_requested)
            if not events:   # already recorded by whoever stopped it (`studio runs cancel --force`)
                return RunHistory.from_file(run_dir / EVENTS)
        else:
            events = record_crash(run_dir, detail, force_stopped=worker.cancel_requested)
        for event in events:
            history.apply(event)
    return history


class RunTimeColumn(ProgressColumn):
    """"elapsed 3m 12s · about 1m 40s left", drawn at each refresh from the run's history, so it
    keeps moving while the worker evaluates and sends nothing; "took 4m 05s" once it ended."""

    def __init__(self, history: RunHistory) -> None:
        super().__init__()
        self.history = history

    def render(self, task: Task) -> Text:
        return Text(time_text(self.history), style="progress.remaining")


@contextlib.contextmanager
def ctrl_c_cancels(worker: WorkerProcess, console: Console, message: str) -> Iterator[None]:
    """While following a worker: the first Ctrl-C asks it to cancel cleanly, a second kills it."""
    interrupts = 0

    def on_interrupt(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            console.print(f"[yellow]{message}")
            worker.cancel()
        else:
            console.print("[red]Stopping the worker now.")
            worker.kill()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stats_text(history: RunHistory) -> str:
    parts = []
    loss = history.final_loss
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    evals = history.series["eval_loss"]
    if evals:
        parts.append(f"eval {evals[max(evals)]:.4f}")
    rates = history.series["tokens_per_s"]
    if rates:
        parts.append(f"{rates[max(rates)]:,.0f} tok/s")
    return "  ".join(parts)


def describe_data_stats(event: dict[str, Any]) -> str:
    tokens = event.get("tokens", {})
    text = (f"data: {event.get('train_examples')} train / {event.get('eval_examples')} eval examples; "
            f"tokens per example mean {tokens.get('mean')}, p95 {tokens.get('p95')}, max {tokens.get('max')}")
    if tokens.get("truncated"):
        text += f"; {tokens['truncated']} truncated at max_len {tokens.get('max_len')}"
    if tokens.get("dropped_no_target"):
        text += f"; {tokens['dropped_no_target']} dropped (answer cut off by max_len)"
    if event.get("turns"):
        text += f"\n  turns: {describe_turns(event['turns'])}"
    if tokens.get("unrendered_turns"):
        text += (f"\n  {tokens['unrendered_turns']} turns to train are not shown by the chat template "
                 "(it drops them from the history), so they are not trained")
    return text


def print_outcome(history: RunHistory, run_dir: Path) -> None:
    """One short human summary of how the run ended."""
    out = sys.stderr
    done = history.done or {}
    if history.status == "completed":
        metrics = done.get("metrics", {})
        name = str(done.get("adapter_name") or "")
        out.write(f"Adapter saved: {saved_as_note(_configured_name(run_dir), name) or name}  ({done.get('adapter')})\n")
        loss = metrics.get("final_train_loss")
        best = metrics.get("best_eval_loss")
        out.write(f"  {metrics.get('steps')} steps, final train loss "
                  f"{loss:.4f}" if loss is not None else "  no loss logged")
        out.write(f", best eval loss {best:.4f}" if best is not None else "")
        seconds = run_seconds(history)
        out.write(f", in {duration_text(seconds)}\n" if seconds is not None else "\n")
    elif history.status == "cancelled":
        out.write(f"Run cancelled at step {done.get('step', history.step)}; checkpoint {done.get('checkpoint')}\n"
                  f"  continue with: studio train --resume {run_dir.name}\n")
    else:
        err = history.error or {}
        out.write(f"error: {err.get('message', 'the run failed')}\n")
        if err.get("hint"):
            out.write(f"  fix: {err['hint']}\n")
        out.write(f"  log: {run_dir / WORKER_LOG}\n")


def _configured_name(run_dir: Path) -> str:
    """The adapter name the run asked for (run.yaml), to say when the library had to add a suffix."""
    from studio.core.config_io import load_config
    from studio.core.errors import StudioError

    try:
        return load_config(run_dir / RUN_CONFIG).name
    except (StudioError, OSError):
        return ""

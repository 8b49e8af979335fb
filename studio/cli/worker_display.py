"""Following a short worker command (export, combine-adapters) from the terminal.

One line per finished stage with its time, a rich progress bar for the stage that reports
progress (prompts answered, bytes written), Ctrl-C to cancel (a second Ctrl-C kills the worker;
the output is written to a temporary folder, so a kill never leaves a half export in place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from studio.cli.common import human_bytes
from studio.cli.run_display import ctrl_c_cancels
from studio.core.worker_process import WorkerProcess

STAGE_LABELS = {
    "prepare": "Reading tokenizer and prompts", "as_trained": "Answering with the quantized base + adapter",
    "load_model": "Loading the base model", "load_adapter": "Attaching the adapter",
    "load_adapters": "Attaching the adapters",
    "reference": "Answering with base + adapter", "merge": "Merging", "save": "Writing safetensors",
    "verify": "Verifying the written folder", "finish": "Writing the model card",
    "combine": "Combining adapters", "check": "Checking the combination",
}


@dataclass
class WorkerOutcome:
    code: int
    done: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def status(self) -> str:
        return str(self.done.get("status") or "failed")


def follow_worker(worker_args: list[str], *, quiet: bool = False) -> WorkerOutcome:
    console = Console(stderr=True, quiet=quiet)
    worker = WorkerProcess(worker_args)
    outcome = WorkerOutcome(code=0)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[amount]}"),
                        TimeElapsedColumn(), console=console)
    tasks: dict[str, TaskID] = {}
    with ctrl_c_cancels(worker, console, "Cancelling after the current step (Ctrl-C again to stop now)..."):
        with progress:
            for event in worker.events():
                kind = event["type"]
                if kind == "stage":
                    if event.get("previous") and event.get("seconds") is not None:
                        label = STAGE_LABELS.get(event["previous"], event["previous"])
                        progress.console.print(f"  [green]done[/] {label} ({event['seconds']:.1f} s)")
                    if event.get("message"):
                        progress.console.print(f"  {event['message']} ...")
                elif kind == "progress" and event.get("max_steps"):
                    stage = str(event.get("stage", ""))
                    if stage not in tasks:
                        tasks[stage] = progress.add_task(STAGE_LABELS.get(stage, stage), total=event["max_steps"],
                                                         amount="")
                    progress.update(tasks[stage], completed=event["step"], total=event["max_steps"],
                                    amount=_amount(event))
                elif kind == "result":
                    outcome.results.append(event)
                elif kind == "error":
                    outcome.error = event
                elif kind == "done":
                    outcome.done = event
    outcome.code = worker.wait()
    outcome.stderr_tail = worker.stderr_tail
    if not outcome.done and outcome.error is None:
        last = worker.stderr_tail.strip().splitlines()[-1:] or [""]
        outcome.error = {"kind": "internal", "message": f"the worker stopped with exit code {outcome.code}"
                         + (f": {last[0]}" if last[0] else ""), "hint": "see the output above"}
    return outcome


def _amount(event: dict[str, Any]) -> str:
    if event.get("unit") == "bytes":
        return f"{human_bytes(event['step'])} / {human_bytes(event['max_steps'])}"
    return f"{event['step']}/{event['max_steps']} {event.get('unit', '')}".strip()

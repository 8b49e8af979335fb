"""A stand-in training worker that only talks: step events at a fixed rate, for `studio bench`.

The GUI's responsiveness is measured while a worker sends events faster than any real run
(a tiny model on a GPU logs a few hundred steps a second at most). This worker goes through
the same path as a real one (its own process, stdout pipe, Emitter, events.jsonl, RunHistory,
the Runs page's plots), so what is measured is the app's cost per event, not the model's.
It imports no ML library.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from studio.engine.worker_io import Controls, Emitter


def flood(emitter: Emitter, controls: Controls, rate: float, seconds: float) -> int:
    """Emit progress + metrics for one step every 1/rate seconds; returns the steps sent."""
    total = max(1, int(rate * seconds))
    emitter.emit("hello", pid=0, worker="event-flood")
    emitter.emit("stage", name="training", message=f"event flood: {rate:g} steps/s for {seconds:g} s")
    start = time.perf_counter()
    step = 0
    while step < total and not controls.cancel.is_set():
        step += 1
        loss = 2.0 * math.exp(-step / (total / 3)) + 0.05 * math.sin(step / 7)
        emitter.emit("progress", step=step, max_steps=total, epoch=step / total, eta_s=(total - step) / rate)
        emitter.emit("metrics", step=step, loss=loss, lr=2e-4 * (1 - step / total), grad_norm=1 + 0.3 * math.cos(step),
                     tokens_per_s=40_000 + 500 * math.sin(step / 50), mem_bytes=6e9 + 1e6 * (step % 100))
        lag = start + step / rate - time.perf_counter()
        if lag > 0:
            time.sleep(lag)
    status = "cancelled" if controls.cancel.is_set() else "completed"
    emitter.emit("done", status=status, steps=step, seconds=round(time.perf_counter() - start, 3))
    return step


def run_event_flood(run_dir: Path, rate: float, seconds: float) -> int:
    from studio.core.runs import EVENTS

    emitter = Emitter(events_path=run_dir / EVENTS)
    try:
        flood(emitter, Controls().start(), rate, seconds)
    finally:
        emitter.close()
    return 0

"""Gradient checkpointing when memory needs it (train.auto_grad_checkpointing).

Checkpointing costs about a third more compute, so it stays off while the run fits. Before the
model is loaded, the Train page's memory estimate (core.memory) is set against the memory free
on the device at that moment: CUDA's free memory, or the kernel's MemAvailable on a CPU-only
Linux machine. When the estimate is over 90% of it, checkpointing is turned on for this attempt
and the worker logs the figures. STUDIO_FREE_MEMORY_BYTES stands in for the free memory (to try
the decision on a machine with more memory than the target one).
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.core.config import RunConfig
from studio.core.memory import checkpointing_reason, inputs_from
from studio.core.model_info import inspect_model
from studio.engine.worker_io import Emitter

FREE_ENV = "STUDIO_FREE_MEMORY_BYTES"


def free_bytes(device: str) -> int | None:
    """Memory free for the run on `device` now; None where it cannot be known."""
    if os.environ.get(FREE_ENV):
        return int(os.environ[FREE_ENV])
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    if device == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def checkpoint_if_needed(config: RunConfig, source: str, device: str, emitter: Emitter) -> bool:
    """Turn config.train.grad_checkpointing on when the run would not fit without; True if it did."""
    train = config.train
    if train.grad_checkpointing or not train.auto_grad_checkpointing:
        return False
    free = free_bytes(device)
    if free is None or not Path(source).is_dir():
        return False
    reason = checkpointing_reason(inputs_from(inspect_model(Path(source)), config, device), free)
    if reason is None:
        return False
    train.grad_checkpointing = True
    emitter.emit("warning", kind="memory", message=reason)
    return True

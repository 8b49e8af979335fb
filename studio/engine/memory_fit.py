"""Gradient checkpointing when memory needs it (train.auto_grad_checkpointing).

Checkpointing costs about a third more compute, so it stays off while the run fits. The memory
free on the device is read before the model is loaded (CUDA's free memory, or the available RAM
on a CPU); once the data is tokenized, the Train page's memory estimate (core.memory, for the
longest example as the page uses) is set against it. When the estimate is over 90% of it,
checkpointing is turned on for this attempt (it is applied later, when LoRA is attached and the
trainer built) and the worker logs the figures. STUDIO_FREE_MEMORY_BYTES stands in for the free
memory (to try the decision on a machine with more memory than the target one). Runs under
torchrun are left as configured: each rank would see its own GPU, and sharded runs need less
than the estimate of a full copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.core.config import RunConfig
from studio.core.device import cpu_device
from studio.core.memory import checkpointing_reason, inputs_from
from studio.core.model_info import inspect_model
from studio.engine.worker_io import Emitter

FREE_ENV = "STUDIO_FREE_MEMORY_BYTES"


def free_bytes(device: str) -> int | None:
    """Memory free for the run on `device` now; None where it cannot be known."""
    override = os.environ.get(FREE_ENV, "").strip()
    if override:
        return int(override) if override.isdigit() else None
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    if device == "cpu":
        return cpu_device().free_bytes          # what the Train page's estimate is checked against
    return None


def checkpoint_if_needed(config: RunConfig, source: str, device: str, emitter: Emitter, free: int | None,
                         longest: int | None) -> bool:
    """Turn config.train.grad_checkpointing on when the run would not fit without; True if it did.
    `free`: free_bytes() before the model was loaded; `longest`: the longest tokenized example."""
    train = config.train
    if train.grad_checkpointing or not train.auto_grad_checkpointing or free is None:
        return False
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 or not Path(source).is_dir():
        return False
    try:
        inputs = inputs_from(inspect_model(Path(source)), config, device, longest or None)
        reason = checkpointing_reason(inputs, free)
    except Exception as exc:  # noqa: BLE001 - a failed estimate must not fail a run that trains without it
        emitter.emit("log", message=f"could not estimate the memory to decide on gradient checkpointing "
                                    f"({type(exc).__name__}: {exc}); it stays off")
        return False
    if reason is None:
        return False
    train.grad_checkpointing = True
    emitter.emit("warning", kind="memory", message=reason)
    return True

"""`studio train` launched by torchrun or accelerate: one process per GPU, the Trainer does DDP.

    torchrun --nproc_per_node 4 -m studio train --config run.yaml
    accelerate launch --num_processes 4 -m studio train --config run.yaml

Under a launcher (WORLD_SIZE > 1) the training runs in the launched processes themselves
instead of a child worker. Rank 0 checks the config and creates the run folder, then tells the
other ranks its path; every rank trains (transformers' Trainer wraps the model in DDP, or FSDP /
DeepSpeed when the accelerate config asks for them); only rank 0 writes events.jsonl,
checkpoints and the adapter, and prints progress. Each other rank logs to worker-rank<N>.log.
At the end the ranks exchange what each trained on, so the run records that all of them worked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError

USER_ERROR = 2


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def run(prepare: Any) -> int:
    """`prepare()` runs on rank 0 only and returns (run_dir, resume); errors reach every rank."""
    import torch
    import torch.distributed as dist
    from filelock import FileLock

    from studio.core.runs import EVENTS, LOCK, WORKER_LOG
    from studio.engine.train_session import train_run
    from studio.engine.worker_io import Controls, Emitter

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    payload: list[Any] = [None]
    if is_main_process():
        try:
            run_dir, resume = prepare()
            payload = [{"run_dir": str(run_dir), "resume": resume}]
        except StudioError as exc:
            payload = [{"error": exc}]
    dist.broadcast_object_list(payload, src=0)
    if "error" in payload[0]:
        if is_main_process():
            raise payload[0]["error"]
        return USER_ERROR
    run_dir, resume = Path(payload[0]["run_dir"]), payload[0]["resume"]
    main = is_main_process()
    lock = FileLock(str(run_dir / LOCK), timeout=0) if main else None
    if lock is not None:
        lock.acquire()
    emitter = Emitter(events_path=run_dir / EVENTS if main else None,
                      log_path=run_dir / (WORKER_LOG if main else f"worker-rank{rank()}.log"),
                      human=describe if main else None, to_stdout=main)
    try:
        return train_run(run_dir, resume, emitter, Controls().start(stdin=_NoCommands()))
    finally:
        emitter.close()
        if lock is not None:
            lock.release()
        if dist.is_initialized():
            dist.destroy_process_group()


class _NoCommands:
    """Launched ranks take no stdin commands; Ctrl-C / SIGTERM from the launcher cancel them."""

    def __iter__(self) -> Any:
        return iter(())


def describe(event: dict[str, Any]) -> str | None:
    """Rank 0's terminal output: a line for each stage, a metrics line every few steps."""
    kind = event.get("type")
    if kind == "stage" and event.get("message"):
        return f"[{event.get('name')}] {event['message']}"
    if kind == "metrics" and event.get("loss") is not None:
        rate = event.get("tokens_per_s")
        return (f"step {event.get('step')}: loss {event['loss']:.4f}"
                + (f", {rate:,.0f} tok/s" if rate else ""))
    if kind == "eval":
        return f"step {event.get('step')}: eval loss {event.get('eval_loss'):.4f}"
    if kind == "error":
        return f"error: {event.get('message')}\n  fix: {event.get('hint')}"
    if kind == "distributed":
        return f"{event.get('world_size')} processes trained: " + ", ".join(
            f"rank {r['rank']} {r['examples']} examples" for r in event.get("ranks", []))
    if kind == "done":
        where = event.get("adapter") or event.get("checkpoint") or ""
        return f"{event.get('status')}: {where}"
    return None


class CountingCollator:
    """Wraps the data collator to count what this rank trains on (examples, real tokens)."""

    def __init__(self, inner: Any, model: Any) -> None:
        self.inner = inner
        self.model = model
        self.examples = 0
        self.tokens = 0

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        if self.model.training:
            self.examples += len(features)
            self.tokens += sum(len(f["input_ids"]) for f in features)
        return batch


def rank_summaries(collator: CountingCollator, model: Any, steps: int) -> list[dict[str, Any]]:
    """Every rank's examples, tokens, steps and a checksum of its LoRA weights (equal when DDP kept
    the replicas in sync), gathered on all ranks."""
    import torch
    import torch.distributed as dist

    checksum = float(sum(p.detach().float().abs().sum().item() for p in model.parameters() if p.requires_grad))
    mine = {"rank": rank(), "examples": collator.examples, "tokens": collator.tokens, "steps": steps,
            "lora_checksum": round(checksum, 4), "device": "cuda" if torch.cuda.is_available() else "cpu"}
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    return gathered


def sync_flag(flag: bool) -> bool:
    """True on every rank if it is true on any: all ranks must stop at the same step."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


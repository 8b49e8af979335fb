"""Worker entry point: `python -m studio.engine <command> ...` (or `studio-app --worker ...` frozen).

Commands:
    train --run-dir DIR [--resume]       one training run (events also go to DIR/events.jsonl)
    demo-model --out DIR                 build the demo's tiny base model
    evaluate --model M --data F [--adapter A]   greedy answers on held-out prompts, exact match
    export --adapter A --base B --out DIR --dtype D --shard-size BYTES [--no-verify] ...
                                         merge an adapter into its base, write and verify the folder
    merge-adapters --adapter A:W ... --out DIR [--combination cat]
                                         a weighted combination of adapters, as a new adapter

Every command ends with a `done` event. User errors (StudioError) exit with 2, crashes with 1,
a cancel with 130. The run's lock is taken before torch is imported, so the parent can tell a
worker that is still starting from one that died.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.engine.stages import Stages
from studio.engine.worker_io import Controls, Emitter

EXIT_OK, EXIT_FAILED, EXIT_USER, EXIT_CANCELLED = 0, 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.engine")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("--run-dir", required=True, type=Path)
    train.add_argument("--resume", action="store_true")
    demo = sub.add_parser("demo-model")
    demo.add_argument("--out", required=True, type=Path)
    evaluate = sub.add_parser("evaluate")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True, type=Path)
    evaluate.add_argument("--adapter", action="append", default=[])
    evaluate.add_argument("--max-new-tokens", type=int, default=16)
    evaluate.add_argument("--limit", type=int, default=0)
    _add_export_commands(sub)
    args = parser.parse_args(argv)

    if args.command == "train":
        return _train(args.run_dir.resolve(), args.resume)
    emitter = Emitter()
    controls = Controls().start()
    if args.command == "demo-model":
        from studio.engine.demo_model import build_demo_model

        return _guarded(emitter, lambda: build_demo_model(args.out, emitter))
    if args.command in ("export", "merge-adapters"):
        return _guarded(emitter, lambda: _export_command(args, emitter, controls))
    from studio.engine.evaluate import evaluate_prompts

    return _guarded(emitter, lambda: evaluate_prompts(args.model, args.adapter, args.data, emitter,
                                                      controls, args.max_new_tokens, args.limit))


def _add_export_commands(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export")
    export.add_argument("--adapter", required=True, type=Path)
    export.add_argument("--base", required=True)
    export.add_argument("--revision", default="")
    export.add_argument("--out", required=True, type=Path)
    export.add_argument("--dtype", required=True, choices=("bf16", "fp16", "fp32"))
    export.add_argument("--shard-size", required=True, type=int)
    export.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    export.add_argument("--prompts", type=Path)
    export.add_argument("--no-verify", action="store_true")
    export.add_argument("--keep-failed", action="store_true")
    export.add_argument("--trust-remote-code", action="store_true")
    merge = sub.add_parser("merge-adapters")
    merge.add_argument("--adapter", action="append", required=True, metavar="PATH:WEIGHT")
    merge.add_argument("--base", required=True)
    merge.add_argument("--revision", default="")
    merge.add_argument("--out", required=True, type=Path)
    merge.add_argument("--combination", default="cat")
    merge.add_argument("--density", type=float)
    merge.add_argument("--svd-rank", type=int)
    merge.add_argument("--trust-remote-code", action="store_true")


def _export_command(args: argparse.Namespace, emitter: Emitter, controls: Controls) -> dict[str, Any]:
    emitter.emit("hello", worker=args.command, pid=os.getpid(), python=sys.version.split()[0])
    _quiet_libraries()
    emitter.emit("log", environment=environment())
    if args.command == "export":
        from studio.engine.merge_export import run_export

        return run_export(args.adapter.resolve(), args.base, args.out.resolve(), args.dtype, args.shard_size,
                          emitter, controls, revision=args.revision, verify=not args.no_verify,
                          keep_failed=args.keep_failed, device=args.device,
                          trust_remote_code=args.trust_remote_code, prompts_file=args.prompts)
    from studio.engine.adapter_combine import combine_adapters

    parents = []
    for spec in args.adapter:
        path, _, weight = spec.rpartition(":")
        parents.append((Path(path).resolve(), float(weight)))
    return combine_adapters(parents, args.base, args.out.resolve(), emitter, controls, combination=args.combination,
                            density=args.density, svd_rank=args.svd_rank, revision=args.revision,
                            trust_remote_code=args.trust_remote_code)


def _train(run_dir: Path, resume: bool) -> int:
    from filelock import FileLock, Timeout

    from studio.core.runs import EVENTS, LOCK, WORKER_LOG

    lock = FileLock(str(run_dir / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        print(f"run {run_dir.name} is already being trained by another worker", file=sys.stderr)
        return EXIT_USER
    emitter = Emitter(events_path=run_dir / EVENTS, log_path=run_dir / WORKER_LOG)
    controls = Controls().start()
    emitter.emit("hello", worker="train", pid=os.getpid(), run_id=run_dir.name, resume=resume,
                 python=sys.version.split()[0])
    stages = Stages(emitter)
    stages.enter("import", "starting the training worker")

    def body() -> dict[str, Any]:
        _quiet_libraries()
        emitter.emit("log", environment=environment())
        from studio.engine.training import run_training

        return run_training(run_dir, emitter, controls, stages, resume)

    try:
        return _guarded(emitter, body)
    finally:
        emitter.close()
        lock.release()


def _guarded(emitter: Emitter, body: Callable[[], dict[str, Any] | None]) -> int:
    """Run a command; every way out sends one `done` event with the matching exit code."""
    try:
        result = body() or {}
    except StudioError as exc:
        emitter.emit("error", **exc.to_dict())
        emitter.emit("done", status="failed")
        return EXIT_USER
    except KeyboardInterrupt:
        emitter.emit("done", status="cancelled")
        return EXIT_CANCELLED
    except BaseException as exc:  # noqa: BLE001 - the worker must always report how it ended
        traceback.print_exc()
        oom = out_of_memory_error(exc)
        if oom is not None:
            emitter.emit("error", **oom.to_dict())
        else:
            emitter.emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}",
                         hint="this is a bug in LoRA Studio or a library; the traceback is in the worker log")
        emitter.emit("done", status="failed")
        return EXIT_FAILED
    status = result.pop("status", "completed")
    emitter.emit("done", status=status, **result)
    return EXIT_CANCELLED if status == "cancelled" else EXIT_OK


def out_of_memory_error(exc: BaseException) -> StudioError | None:
    text = str(exc)
    is_oom = (type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError)
              or "out of memory" in text.lower() or "can't allocate memory" in text.lower())
    if not is_oom:
        return None
    return StudioError(
        "out of memory: " + (text.splitlines()[0][:300] if text else type(exc).__name__),
        kind="oom",
        hint="lower --batch-size (and raise --grad-accum to keep the effective batch), lower --max-len, "
             "use --quant 4bit, or turn on --grad-checkpointing; then resume the run with "
             "`studio train --resume RUN`, which continues from the last checkpoint")


def environment() -> dict[str, Any]:
    import torch
    import transformers

    import peft

    env: dict[str, Any] = {"torch": torch.__version__, "transformers": transformers.__version__,
                           "peft": peft.__version__, "cuda": torch.cuda.is_available()}
    try:
        import bitsandbytes

        env["bitsandbytes"] = bitsandbytes.__version__
    except Exception:  # bitsandbytes is optional at run time for unquantized training
        env["bitsandbytes"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["device"] = props.name
        env["device_memory"] = props.total_memory
    else:
        env["device"] = "cpu"
    return env


def _quiet_libraries() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("bitsandbytes", "transformers.modeling_utils"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())

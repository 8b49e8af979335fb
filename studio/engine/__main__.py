"""Worker entry point: `python -m studio.engine <command> ...` (or `studio-app --worker ...` frozen).

Commands:
    train --run-dir DIR [--resume] [--detached]
                                         one training run (events also go to DIR/events.jsonl);
                                         it stops with a checkpoint when its stdin ends (the
                                         parent died) unless --detached
    demo-model --out DIR                 build the demo's tiny base model
    evaluate --model M --data F [--adapter A]   greedy answers on held-out prompts, exact match
    preview-data --model M --data F [...]       token lengths and label masks for the Data page
    download --model ID [--revision R]           fetch a hub model into the Hugging Face cache
    chat [--home DIR]                    the long-lived inference worker (commands on stdin)
    convert-adapter --folder DIR         adapter_model.bin -> adapter_model.safetensors, no code run
    export --adapter A --base B --out DIR --dtype D --shard-size BYTES [--no-verify] ...
                                         merge an adapter into its base, write and verify the folder
    merge-adapters --adapter A:W ... --out DIR [--combination cat]
                                         a weighted combination of adapters, as a new adapter
    event-flood --run-dir DIR --rate R --seconds S
                                         a stand-in run that only sends step events (`studio bench`)

Every command ends with a `done` event. User errors (StudioError) exit with 2, crashes with 1,
a cancel with 130. The run's lock is taken before torch is imported, so the parent can tell a
worker that is still starting from one that died.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from studio.engine.outcome import EXIT_USER, guarded
from studio.engine.worker_io import Controls, Emitter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.engine")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("--run-dir", required=True, type=Path)
    train.add_argument("--resume", action="store_true")
    train.add_argument("--detached", action="store_true",
                       help="started by `studio train --detach`: stdin is not a parent's pipe, so its end "
                            "means nothing, and no parent reads stdout (events go to events.jsonl only)")
    demo = sub.add_parser("demo-model")
    demo.add_argument("--out", required=True, type=Path)
    demo.add_argument("--shape", default="", help="LlamaConfig sizes, key=value,... (default: the demo's)")
    demo.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    demo.add_argument("--device", default="cpu", help="where the weights are initialised (cuda is much faster "
                                                      "for billions of parameters)")
    evaluate = sub.add_parser("evaluate")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True, type=Path)
    evaluate.add_argument("--adapter", action="append", default=[])
    evaluate.add_argument("--max-new-tokens", type=int, default=16)
    evaluate.add_argument("--limit", type=int, default=0)
    preview = sub.add_parser("preview-data")
    preview.add_argument("--model", required=True)
    preview.add_argument("--data", required=True, type=Path)
    preview.add_argument("--format", default="auto")
    preview.add_argument("--columns", default="", help="field=column,...")
    preview.add_argument("--system-prompt", default="")
    preview.add_argument("--max-len", type=int, default=1024)
    preview.add_argument("--loss-on", default="assistant", choices=("assistant", "all"))
    preview.add_argument("--examples", default="0,1,2,3,4,5,6,7", help="record indices to explain")
    preview.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="any other data.* / model.* setting of the run config")
    download = sub.add_parser("download")
    download.add_argument("--model", required=True)
    download.add_argument("--revision", default="")
    download.add_argument("--allow-pickle", action="store_true")
    download.add_argument("--trust-remote-code", action="store_true")
    chat = sub.add_parser("chat")
    chat.add_argument("--home", type=Path, default=None)
    convert = sub.add_parser("convert-adapter")
    convert.add_argument("--folder", required=True, type=Path)
    flood = sub.add_parser("event-flood")
    flood.add_argument("--run-dir", required=True, type=Path)
    flood.add_argument("--rate", type=float, default=500.0)
    flood.add_argument("--seconds", type=float, default=10.0)
    _add_export_commands(sub)
    args = parser.parse_args(argv)

    if args.command == "train":
        return _train(args.run_dir.resolve(), args.resume, detached=args.detached)
    if args.command == "event-flood":
        from studio.engine.event_flood import run_event_flood

        return run_event_flood(args.run_dir.resolve(), args.rate, args.seconds)
    emitter = Emitter()
    controls = Controls().start()
    if args.command == "demo-model":
        from studio.engine.demo_model import build_demo_model

        shape = {k.strip(): _number(v) for k, _, v in (item.partition("=") for item in args.shape.split(",") if item)}
        return guarded(emitter, lambda: build_demo_model(args.out, emitter, dtype=args.dtype, device=args.device,
                                                         **shape))
    if args.command == "preview-data":
        return guarded(emitter, lambda: _preview(args, emitter))
    if args.command == "download":
        return guarded(emitter, lambda: _download(args, emitter))
    if args.command == "chat":
        from studio.engine.chat_worker import run_chat_worker
        from studio.engine.train_session import quiet_libraries

        quiet_libraries()
        try:
            return guarded(emitter, lambda: run_chat_worker(args.home, emitter, controls))
        finally:
            emitter.close()
    if args.command == "convert-adapter":
        from studio.engine.pickle_convert import convert_pickle_adapter

        return guarded(emitter, lambda: convert_pickle_adapter(args.folder, emitter))
    if args.command in ("export", "merge-adapters"):
        return guarded(emitter, lambda: _export_command(args, emitter, controls))
    from studio.engine.evaluate import evaluate_prompts

    return guarded(emitter, lambda: evaluate_prompts(args.model, args.adapter, args.data, emitter,
                                                      controls, args.max_new_tokens, args.limit))


def _number(text: str) -> int | float:
    """A --shape value: 1024 stays an int (sizes), 0.02 or 1e6 becomes a float (initializer_range, rope_theta)."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def _preview(args: argparse.Namespace, emitter: Emitter) -> dict[str, Any]:
    from studio.core.config import RunConfig
    from studio.core.config_io import apply_overrides, parse_mapping
    from studio.engine.preview import preview_data

    config = RunConfig()
    config.model.name_or_path, config.data.path = args.model, str(args.data)
    config.data.format, config.data.columns = args.format, parse_mapping("--columns", args.columns)
    config.data.system_prompt, config.data.max_len, config.data.loss_on = args.system_prompt, args.max_len, args.loss_on
    apply_overrides(config, args.set)
    examples = [int(i) for i in args.examples.split(",") if i.strip()]
    return preview_data(config, emitter, examples)


def _download(args: argparse.Namespace, emitter: Emitter) -> dict[str, Any]:
    from studio.core.config import ModelOptions
    from studio.engine.download import local_source

    options = ModelOptions(name_or_path=args.model, revision=args.revision, allow_pickle=args.allow_pickle,
                           trust_remote_code=args.trust_remote_code)
    return {"path": local_source(options, emitter)}


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
    export.add_argument("--next-free-name", action="store_true",
                        help="if --out is taken meanwhile (another export), land at the next -vN")
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
    from studio.engine.train_session import environment, quiet_libraries

    emitter.emit("hello", worker=args.command, pid=os.getpid(), python=sys.version.split()[0])
    quiet_libraries()
    emitter.emit("log", environment=environment())
    if args.command == "export":
        from studio.engine.merge_export import run_export

        return run_export(args.adapter.resolve(), args.base, args.out.resolve(), args.dtype, args.shard_size,
                          emitter, controls, revision=args.revision, verify=not args.no_verify,
                          keep_failed=args.keep_failed, device=args.device,
                          trust_remote_code=args.trust_remote_code, prompts_file=args.prompts,
                          next_free_name=args.next_free_name)
    from studio.engine.adapter_combine import combine_adapters

    parents = []
    for spec in args.adapter:
        path, _, weight = spec.rpartition(":")
        parents.append((Path(path).resolve(), float(weight)))
    return combine_adapters(parents, args.base, args.out.resolve(), emitter, controls, combination=args.combination,
                            density=args.density, svd_rank=args.svd_rank, revision=args.revision,
                            trust_remote_code=args.trust_remote_code)


def _train(run_dir: Path, resume: bool, detached: bool = False) -> int:
    """One run, holding the run's lock. A worker with a parent stops (with a checkpoint) when its
    stdin ends, i.e. when the parent died; a detached one (`studio train --detach`) trains on and
    is stopped with `studio runs cancel`. Both obey the run's cancel-request file."""
    from filelock import FileLock, Timeout

    from studio.core.run_control import CANCEL_REQUEST, worker_finished, worker_started
    from studio.core.runs import EVENTS, LOCK, WORKER_LOG
    from studio.engine.train_session import train_run

    # A second, not 0: `runs list`, the app and `runs cancel` take the lock for an instant to see
    # whether a worker holds it, and a worker starting in that instant must not give up.
    lock = FileLock(str(run_dir / LOCK), timeout=1.0)
    try:
        lock.acquire()
    except Timeout:
        print(f"run {run_dir.name} is already being trained by another worker", file=sys.stderr)
        return EXIT_USER
    worker_started(run_dir)
    emitter = Emitter(events_path=run_dir / EVENTS, log_path=run_dir / WORKER_LOG, to_stdout=not detached)

    def parent_gone() -> None:
        message = ("the process that started this run went away (stdin closed): a checkpoint is saved at the "
                   f"next step and the run stops; continue with `studio train --resume {run_dir.name}`")
        print(message, file=sys.stderr, flush=True)
        emitter.emit("log", message=message, reason="parent_gone")

    controls = Controls(eof_cancels=not detached, request_file=run_dir / CANCEL_REQUEST, on_parent_gone=parent_gone)
    try:
        return train_run(run_dir, resume, emitter, controls.start())
    finally:
        emitter.close()
        worker_finished(run_dir)
        lock.release()


if __name__ == "__main__":
    sys.exit(main())

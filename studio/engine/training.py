"""One training run, top to bottom: data, model, tokens, LoRA, Trainer, adapter.

Everything the loop itself does (optimizer, schedule, accumulation, mixed precision,
checkpoint/resume with optimizer, scheduler, RNG and data position) is transformers' Trainer;
LoRA, rsLoRA and DoRA are peft; 4/8-bit is bitsandbytes. This module only wires them together
and reports what happens as protocol events.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from studio.core.config import RunConfig
from studio.core.config_io import load_config
from studio.core.datasets import (ImportReport, Record, eval_overlap, fingerprint, import_options, require_clean,
                                  split_records)
from studio.core.errors import DataError, ModelError
from studio.core.run_history import RunHistory
from studio.core.runs import CHECKPOINTS, EVENTS, RUN_CONFIG, latest_checkpoint
from studio.core.workspace import Workspace
from studio.engine import failpoints
from studio.engine.distributed import CountingCollator, launched_by_torchrun, rank_summaries
from studio.engine.stages import Stages
from studio.engine.worker_io import Controls, Emitter


def run_training(run_dir: Path, emitter: Emitter, controls: Controls, stages: Stages, resume: bool) -> dict[str, Any]:
    """Train the run in `run_dir`; returns the fields of the final `done` event."""
    previous = RunHistory.from_file(run_dir / EVENTS) if resume else None
    config = load_config(run_dir / RUN_CONFIG).validate()
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise DataError(f"run {run_dir.name} has no complete checkpoint to resume from",
                        hint="start the run again with `studio train --config " + str(run_dir / RUN_CONFIG) + "`")

    stages.enter("load_data", f"reading {config.data.path}")
    train_records, eval_records, data_print, report = load_records(config)
    for warning in report.warnings:
        emitter.emit("warning", kind="data", message=f"{Path(report.path).name}: {warning}")
    if previous and previous.data_stats.get("fingerprint") not in (None, data_print):
        raise DataError("the training data changed since this run started, so it cannot be resumed exactly",
                        hint="restore the original file, or start a new run with this config")

    from studio.engine.memory_fit import free_bytes
    from studio.engine.model_loading import (compute_dtype, keep_4bit_layers_trainable, load_model, load_tokenizer,
                                             pick_device, resolve_source)

    source = resolve_source(config.model)
    if not Path(source).exists():  # a hub id that is not in the cache yet
        from studio.engine.download import download_model

        stages.enter("download", f"downloading {source} from the Hugging Face hub")
        download_model(config.model, emitter)
        source = resolve_source(config.model)
    # The tokenizer first: a template that cannot render the data fails before the model loads.
    tokenizer = load_tokenizer(source, config.model)
    if any(r.kind == "chat" or isinstance(r.prompt, list) for r in train_records) and not tokenizer.chat_template:
        raise ModelError(f"the tokenizer of {config.model.name_or_path} has no chat template, so chat "
                         "records cannot be formatted",
                         hint="use an instruct/chat model, or convert the data to --format completion")
    from studio.engine.tokenization import check_template

    check_template(tokenizer, train_records + eval_records, config.data.loss_on)
    stages.enter("load_model", f"loading {config.model.name_or_path} ({config.model.quant})")
    device = pick_device()
    free_before_load = free_bytes(device) if config.train.auto_grad_checkpointing else None
    if device == "cpu":  # before the first large tensor: see cpu_allocator.py
        from studio.engine.cpu_allocator import return_large_frees_to_os

        return_large_frees_to_os()
    dtype = compute_dtype(config.model.dtype, device)
    if config.model.quant != "none" and device not in ("cuda", "cpu"):
        raise ModelError(f"{config.model.quant} quantization is not supported on {device}",
                         hint="use --quant none on this machine")
    model = load_model(source, config.model, device, dtype=dtype)
    if config.model.quant == "4bit" and device == "cpu":
        keep_4bit_layers_trainable(model)

    if config.train.objective == "sft":
        trainer, callback, stats = _sft_trainer(model, tokenizer, config, train_records, eval_records, report, data_print,
                                         run_dir, emitter, controls, stages, device, dtype, source, free_before_load)
    else:
        trainer, callback, stats = _preference_trainer(model, tokenizer, config, train_records, eval_records, report,
                                                data_print, run_dir, emitter, controls, stages, device, dtype,
                                                source, free_before_load)
    model = trainer.model
    if config.train.report_to:  # studio's config and run id on the trackers' runs (engine/tracking.py)
        from studio.engine.tracking import TrackingCallback

        trainer.add_callback(TrackingCallback(config, run_dir, emitter))
    counter = None
    if launched_by_torchrun():
        counter = CountingCollator(trainer.data_collator, model)
        trainer.data_collator = counter
    from studio.engine.checkpoint_keeping import finished_checkpoint, load_adapter_weights

    finished = finished_checkpoint(checkpoint, trainer.args.load_best_model_at_end,
                                   config.train.early_stopping) if checkpoint else None
    started = time.monotonic()
    if finished is not None:  # killed after its last checkpoint: write the adapter, train nothing
        stages.enter("train", f"{checkpoint.name} already ends the run ({finished.why}): "
                              "writing its adapter without training further")
        load_adapter_weights(model, finished.weights_from)
        trainer.state = finished.state
        emitter.emit("progress", step=finished.state.global_step, max_steps=finished.state.max_steps,
                     epoch=round(finished.state.epoch or 0.0, 4), eta_s=0.0)
        train_metrics: dict[str, Any] = {}
    else:
        stages.enter("train", "resuming from " + checkpoint.name if checkpoint else "training")
        train_metrics = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None).metrics
    train_seconds = time.monotonic() - started
    if counter is not None:
        ranks = rank_summaries(counter, model, trainer.state.global_step)
        emitter.emit("distributed", world_size=len(ranks), ranks=ranks)
    if not trainer.is_world_process_zero():  # rank 0 alone writes the adapter
        return {"status": "cancelled" if callback.cancelled else "completed"}
    if callback.cancelled:
        last = latest_checkpoint(run_dir)
        return {"status": "cancelled", "checkpoint": str(last) if last else None, "step": trainer.state.global_step}

    failpoints.hit("kill_before_adapter_save")
    stages.enter("save", "saving the adapter to the library")
    from studio.core.datasets.system_prompts import trained_system_prompt
    from studio.engine.adapter_save import save_adapter

    history = RunHistory.from_file(run_dir / EVENTS)
    system_prompt = trained_system_prompt(train_records, config.data.system_prompt)
    adapter = save_adapter(model, tokenizer, config, run_dir, source, data_print, stats,
                           history, trainer.state, train_seconds, train_metrics,
                           system_prompt.to_dict() if system_prompt else None)
    if config.train.report_to:
        from studio.engine.tracking import log_adapter

        log_adapter(run_dir, adapter, emitter)
    return {"status": "completed", "adapter": str(adapter), "adapter_name": adapter.name,
            "step": trainer.state.global_step, "metrics": _final_metrics(history, trainer, callback)}



def _sft_trainer(model: Any, tokenizer: Any, config: RunConfig, train_records: list[Record],
                 eval_records: list[Record], report: ImportReport, data_print: str, run_dir: Path, emitter: Emitter,
                 controls: Controls, stages: Stages, device: str, dtype: Any, source: str,
                 free_before_load: int | None) -> tuple[Any, Any, dict[str, Any]]:
    """Our tokenization (labels from the template's assistant spans, packing) and transformers' Trainer."""
    from studio.engine.memory_fit import checkpoint_if_needed

    stages.enter("tokenize", f"tokenizing {len(train_records)} + {len(eval_records)} examples")
    cache_dir = Workspace(run_dir.parent.parent).tokenized_cache_dir if config.data.cache_tokenized else None
    def say(message: str) -> None:
        emitter.emit("log", message=message)

    train_set, stats, cached = tokenize(tokenizer, train_records, config, cache_dir, say)
    eval_set, _, _ = tokenize(tokenizer, eval_records, config, cache_dir, say) if eval_records else (None, None, None)
    emitter.emit("data_stats", fingerprint=data_print, train_rows=len(train_records), eval_rows=len(eval_records),
                 train_examples=len(train_set), eval_examples=len(eval_set) if eval_set else 0,
                 from_cache=cached, turns=report.turns, **stats)
    checkpoint_if_needed(config, source, device, emitter, free_before_load, stats["tokens"].get("max"))

    stages.enter("setup", "checking packing, attaching LoRA, building the trainer")
    packing = False
    if config.train.packing:
        from studio.engine.packing import enable_packing

        packing, note = enable_packing(model)
        emitter.emit("log", message=note)
    model = _with_adapter(model, config, run_dir, emitter)

    from studio.engine.lora import parameter_counts
    from studio.engine.trainer_setup import build_trainer

    trainer, callback = build_trainer(model, tokenizer, config, train_set, eval_set, run_dir / CHECKPOINTS,
                                      run_dir, emitter, controls, device, dtype, packing, eval_records=eval_records)
    _model_ready(emitter, parameter_counts(trainer.model), device)
    return trainer, callback, stats


def _preference_trainer(model: Any, tokenizer: Any, config: RunConfig, train_records: list[Record],
                        eval_records: list[Record], report: ImportReport, data_print: str, run_dir: Path,
                        emitter: Emitter, controls: Controls, stages: Stages, device: str, dtype: Any, source: str,
                        free_before_load: int | None) -> tuple[Any, Any, dict[str, Any]]:
    """TRL's DPO/ORPO/KTO trainer; TRL tokenizes the pairs itself (see preference_training.py)."""
    from studio.engine.lora import lora_config, parameter_counts, prepare_base
    from studio.engine.memory_fit import checkpoint_if_needed
    from studio.engine.preference_training import build_preference_trainer, token_stats

    # TRL tokenizes inside its trainer, so the memory check uses max_len as the longest sequence.
    checkpoint_if_needed(config, source, device, emitter, free_before_load, None)
    stages.enter("tokenize", f"{config.train.objective.upper()}: TRL renders and tokenizes {len(train_records)} + "
                             f"{len(eval_records)} examples with the chat template, and attaches LoRA")
    if config.train.init_adapter:
        model, peft_config = _with_adapter(model, config, run_dir, emitter), None
    else:
        model = prepare_base(model, config)
        peft_config = lora_config(model, config)
    trainer, callback = build_preference_trainer(model, tokenizer, config, train_records, eval_records,
                                                 run_dir / CHECKPOINTS, run_dir, emitter, controls, device, dtype,
                                                 peft_config)
    stats = {"tokens": token_stats(trainer.train_dataset, config.data.max_len), "rejected_by_template": 0}
    eval_examples = len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0
    emitter.emit("data_stats", fingerprint=data_print, train_rows=len(train_records), eval_rows=len(eval_records),
                 train_examples=len(trainer.train_dataset), eval_examples=eval_examples, from_cache=False,
                 turns=report.turns, objective=config.train.objective, **stats)
    _model_ready(emitter, parameter_counts(trainer.model), device)
    stages.enter("setup", "the trainer is ready")
    return trainer, callback, stats


def _with_adapter(model: Any, config: RunConfig, run_dir: Path, emitter: Emitter) -> Any:
    """A fresh LoRA, or the library adapter train.init_adapter to continue."""
    from studio.engine.lora import attach_lora, load_init_adapter

    if not config.train.init_adapter:
        return attach_lora(model, config)[0]
    folder = Workspace(run_dir.parent.parent).adapter_dir(config.train.init_adapter)
    emitter.emit("log", message=f"starting from the library adapter {config.train.init_adapter} ({folder}); "
                                "its rank, alpha and targets are kept")
    return load_init_adapter(model, config, folder)


def _model_ready(emitter: Emitter, counts: dict[str, int], device: str) -> None:
    emitter.emit("stage", name="model_ready", message=(
        f"training {counts['trainable_params']:,} of {counts['total_params']:,} parameters "
        f"({100 * counts['trainable_params'] / max(counts['total_params'], 1):.2f}%) on {device}"), **counts)

def load_records(config: RunConfig) -> tuple[list[Record], list[Record], str, ImportReport]:
    data = config.data
    report = import_options(data, objective=config.train.objective)
    require_clean(report, data.skip_bad_rows)
    if data.eval_path:
        eval_report = import_options(data, data.eval_path, objective=config.train.objective)
        require_clean(eval_report, data.skip_bad_rows)
        train, evals = report.records, eval_report.records
        overlap = eval_overlap(train, evals, data.path, data.eval_path)
        if overlap:
            report.warnings.append(overlap)
    else:
        train, evals = split_records(report.records, data.eval_split, data.seed)
    return train, evals, fingerprint(train + evals), report


def tokenize(tokenizer: Any, records: list[Record], config: RunConfig, cache_dir: Path | None,
             say: Any = None) -> tuple[Any, dict[str, Any], bool]:
    """The tokenized dataset, its statistics, and whether it came from the workspace cache."""
    from studio.engine import token_cache
    from studio.engine.token_dataset import tokenized_dataset

    key = token_cache.cache_key(records, tokenizer, config.data.max_len, config.data.loss_on)
    hit = token_cache.load(cache_dir, key) if cache_dir else None
    if hit is not None:
        dataset, meta = hit
        stats, rejected = meta["stats"], [tuple(r) for r in meta["rejected"]]
    else:
        dataset, length_stats, rejected = tokenized_dataset(
            tokenizer, records, [r.source for r in records], config.data.max_len, config.data.loss_on, say,
            fingerprint=key)
        stats = length_stats.to_dict()
        if cache_dir and dataset is not None:
            token_cache.store(cache_dir, key, dataset, {"stats": stats, "rejected": rejected,
                                                        "max_len": config.data.max_len,
                                                        "loss_on": config.data.loss_on})
    if rejected and not config.data.skip_bad_rows:
        listing = "\n".join(f"  {src}: {why}" for src, why in rejected[:10])
        raise DataError(f"{len(rejected)} examples could not be formatted\n{listing}",
                        hint="fix those rows, or pass --skip-bad-rows to train without them")
    if dataset is None or len(dataset) == 0:
        raise DataError("no example has any target tokens left after tokenization",
                        hint=f"raise --max-len (now {config.data.max_len}) so the answers fit")
    return dataset, {"tokens": stats, "rejected_by_template": len(rejected)}, hit is not None


def _final_metrics(history: RunHistory, trainer: Any, callback: Any) -> dict[str, Any]:
    from studio.engine.callbacks import peak_memory

    return {"final_train_loss": history.final_loss, "best_eval_loss": history.best_eval_loss,
            "steps": trainer.state.global_step, "epochs": round(trainer.state.epoch or 0.0, 3),
            "tokens_seen": trainer.state.num_input_tokens_seen, "train_span": callback.span,
            "peak_mem_bytes": peak_memory()}

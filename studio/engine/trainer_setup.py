"""Run config -> transformers TrainingArguments and Trainer.

The mapping is kept in one place so that `studio bench`'s baselines and studio's own trainer
differ only where we say they do: padding-free packing (DataCollatorWithFlattening + attention
kept per example, see packing.py), logits at label positions only (label_logits.py) and Liger
Kernel on CUDA (kernels.py). All keep the examples of every step and the token-averaged loss of
the plain padded run, so what is learned does not change. Length-grouped batches are opt-in (train.group_by_length): they change the batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.config import RunConfig
from studio.engine.callbacks import ProtocolCallback
from studio.engine.checkpoint_keeping import CheckpointRotation
from studio.engine.worker_io import Controls, Emitter


def training_arguments(config: RunConfig, output_dir: Path, run_dir: Path, device: str, dtype: Any,
                       has_eval: bool, *, packing: bool = False, liger: bool = False) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(**argument_values(config, output_dir, run_dir, device, dtype, has_eval,
                                               packing=packing, liger=liger))


def argument_values(config: RunConfig, output_dir: Path, run_dir: Path, device: str, dtype: Any,
                    has_eval: bool, *, packing: bool = False, liger: bool = False) -> dict[str, Any]:
    """The TrainingArguments of a run as keywords: TRL's preference configs subclass
    TrainingArguments, so SFT and DPO/ORPO/KTO runs share every setting of the loop."""
    import torch

    from studio.engine.tracking import prepare_environment

    t = config.train
    prepare_environment(config, run_dir)    # trackers' folders and runs; a missing package is a StudioError
    eval_strategy = ("steps" if t.eval_every else "epoch") if has_eval else "no"
    save_strategy, save_steps = ("steps", t.save_every) if t.save_every else ("no", 500)
    load_best = bool(t.early_stopping and has_eval)
    if load_best:  # the Trainer needs saves to line up with evaluations to keep the best one
        save_strategy, save_steps = eval_strategy, (t.eval_every or save_steps)
    mixed = device == "cuda" and config.model.quant != "8bit"
    return dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.lr,
        lr_scheduler_type=t.scheduler,
        warmup_steps=t.warmup,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else -1,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        logging_steps=t.log_every,
        eval_strategy=eval_strategy,
        eval_steps=t.eval_every or None,
        save_strategy=save_strategy,
        save_steps=save_steps,
        save_total_limit=None,  # kept by CheckpointRotation, after the completion mark
        load_best_model_at_end=load_best,
        metric_for_best_model="eval_loss" if load_best else None,
        greater_is_better=False if load_best else None,
        seed=t.seed,
        bf16=mixed and dtype == torch.bfloat16,
        fp16=mixed and dtype == torch.float16,
        use_cpu=device == "cpu",
        gradient_checkpointing=t.grad_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.grad_checkpointing else None,
        # A packed batch has no padding, so every token is real; counting them all is exact even
        # where the pad id is also the eos id (which "non_padding" would miss).
        include_num_input_tokens_seen="all" if packing else "non_padding",
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        length_column_name="length",
        use_liger_kernel=liger,
        report_to=list(t.report_to) or "none",
        run_name=run_dir.name,             # the MLflow / W&B run is named by studio's run id
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        label_names=["labels"],
        ddp_find_unused_parameters=False,
    )


def build_trainer(model: Any, tokenizer: Any, config: RunConfig, train_set: Any, eval_set: Any,
                  output_dir: Path, run_dir: Path, emitter: Emitter, controls: Controls, device: str,
                  dtype: Any, packing: bool = False, eval_records: list[Any] | None = None
                  ) -> tuple[Any, ProtocolCallback]:
    from transformers import DataCollatorForSeq2Seq, EarlyStoppingCallback, Trainer

    from studio.engine.kernels import use_liger
    from studio.engine.packing import flattening_collator

    liger, liger_note = use_liger(config.train.liger, device, getattr(model.config, "model_type", ""))
    args = training_arguments(config, output_dir, run_dir, device, dtype, eval_set is not None,
                              packing=packing, liger=liger)
    callback = ProtocolCallback(emitter, controls, output_dir)
    callbacks: list[Any] = [callback, CheckpointRotation(run_dir, config.train.keep_checkpoints)]
    if args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.train.early_stopping))
    if eval_set is not None and config.train.sample_predictions > 0:  # answers at each evaluation
        from studio.engine.prediction_samples import PredictionSamples

        callbacks.append(PredictionSamples(tokenizer, config, emitter, eval_records or []))
    # The precomputed `length` column feeds the length-grouped samplers (the Trainer groups eval
    # batches too), which read it from the dataset; the collator never sees it.
    grouped = args.train_sampling_strategy == "group_by_length"
    columns = ["input_ids", "labels"] + (["length"] if grouped else [])
    train_set = train_set.select_columns(columns)
    eval_set = eval_set.select_columns(columns) if eval_set is not None else None
    if packing:
        collator = flattening_collator()
    else:
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100,
                                          pad_to_multiple_of=8 if device == "cuda" else None)
    from studio.engine.label_logits import label_positions

    collator, label_logits, label_note = label_positions(model, _without(collator, "length") if grouped else collator,
                                                         liger, data_parallel=args.n_gpu > 1)
    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                      data_collator=collator, processing_class=tokenizer, callbacks=callbacks)
    emitter.emit("log", message="speed-ups: " + ", ".join(
        [f"packing {'on' if packing else 'off'}", f"length-grouped batches {'on' if grouped else 'off'}",
         f"Liger Kernel {'on' if liger else 'off: ' + liger_note}", f"logits at label positions only {label_note}",
         f"gradient checkpointing {'on' if config.train.grad_checkpointing else 'off'}"]),
        speedups={"packing": packing, "group_by_length": grouped, "liger": liger, "label_logits": label_logits,
                  "grad_checkpointing": config.train.grad_checkpointing,
                  "attention": getattr(model.config, "_attn_implementation", None)})
    return trainer, callback


def _without(collator: Any, column: str) -> Any:
    """The collator, given features without `column`."""
    def collate(features: list[dict[str, Any]]) -> Any:
        return collator([{k: v for k, v in f.items() if k != column} for f in features])
    return collate

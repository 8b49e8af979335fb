"""Preference objectives (DPO, ORPO, KTO): TRL's trainers on the same model, LoRA and loop settings as SFT.

The losses, their tokenization (the tokenizer's chat template over prompt + answer) and their
metrics are TRL's; this module maps the run config onto TRL's configs and hands the records over
in TRL's own dataset layout (`Record.to_dict()`).

The reference model costs no second copy of the weights:
- a fresh adapter goes in as the base + a peft config, so TRL computes the reference log-probs
  with the adapter disabled, which is the base model itself;
- an adapter that starts from a library adapter (`train.init_adapter`, e.g. the SFT adapter)
  goes in as that PeftModel, and TRL copies the adapter (megabytes, not the model) into a frozen
  "ref" adapter: the reference is then the SFT model, as the DPO paper prescribes.
ORPO needs no reference at all. Only the trained "default" adapter is written to the library.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from studio.core.config import RunConfig
from studio.core.datasets import Record
from studio.engine.callbacks import ProtocolCallback
from studio.engine.checkpoint_keeping import CheckpointRotation
from studio.engine.worker_io import Controls, Emitter

def records_dataset(records: list[Record], tokenizer: Any) -> Any:
    """The records in TRL's layout, messages as the template reads them (our private keys out)."""
    from datasets import Dataset

    from studio.engine.chat_render import prepare_messages

    rows = []
    for record in records:
        row = record.to_dict()
        template = tokenizer.get_chat_template(None, record.tools) if tokenizer.chat_template else ""
        for key in ("prompt", "chosen", "rejected", "completion"):
            if isinstance(row.get(key), list):
                row[key] = prepare_messages(row[key], template)
        if row.get("tools"):  # one JSON string: tool schemas differ from row to row, Arrow columns may not
            row["tools"] = json.dumps(row["tools"], ensure_ascii=False)
        rows.append(row)
    return Dataset.from_list(rows)


def trainer_classes(objective: str) -> tuple[Any, Any]:
    if objective == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer, DPOConfig
    if objective == "kto":
        from trl import KTOConfig, KTOTrainer

        return KTOTrainer, KTOConfig
    if objective == "orpo":
        import warnings

        with warnings.catch_warnings():  # TRL keeps ORPO in trl.experimental and says so on import
            warnings.simplefilter("ignore")
            from trl.experimental.orpo import ORPOConfig, ORPOTrainer
        return ORPOTrainer, ORPOConfig
    raise ValueError(f"not a preference objective: {objective}")


def objective_settings(config: RunConfig) -> dict[str, Any]:
    """The objective's own TRL settings (only those the objective has)."""
    pref, objective = config.pref, config.train.objective
    settings: dict[str, Any] = {"beta": pref.beta, "max_length": config.data.max_len}
    if objective == "dpo":
        settings["loss_type"] = [pref.dpo_loss]
    if objective == "kto":
        settings.update(desirable_weight=pref.desirable_weight, undesirable_weight=pref.undesirable_weight)
    return settings


def build_preference_trainer(model: Any, tokenizer: Any, config: RunConfig, train_records: list[Record],
                             eval_records: list[Record], output_dir: Path, run_dir: Path, emitter: Emitter,
                             controls: Controls, device: str, dtype: Any, peft_config: Any | None
                             ) -> tuple[Any, ProtocolCallback]:
    """TRL's trainer for train.objective; `peft_config` None means `model` already carries the adapter."""
    from transformers import EarlyStoppingCallback

    from studio.engine.trainer_setup import argument_values

    trainer_class, config_class = trainer_classes(config.train.objective)
    values = argument_values(config, output_dir, run_dir, device, dtype, bool(eval_records))
    for key in ("label_names", "length_column_name", "use_liger_kernel"):
        values.pop(key)       # SFT's collator and kernels; TRL's trainers bring their own
    if values["train_sampling_strategy"] == "group_by_length":
        values["train_sampling_strategy"] = "random"
        emitter.emit("log", message="length-grouped batches are for SFT; the preference run batches at random")
    if config.train.objective == "kto":
        # TRL's KTO pairs each completion with its batch neighbour's prompt for the KL term, so it
        # reads the data in order: the order is shuffled here instead, once, by the run's seed
        # (the same order again on resume).
        values["train_sampling_strategy"] = "sequential"
        train_records = list(train_records)
        random.Random(config.train.seed).shuffle(train_records)
    args = config_class(**values, **objective_settings(config))
    callback = ProtocolCallback(emitter, controls, output_dir)
    callbacks: list[Any] = [callback, CheckpointRotation(run_dir, config.train.keep_checkpoints)]
    if args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.train.early_stopping))
    if eval_records and config.train.sample_predictions > 0:
        from studio.engine.prediction_samples import PredictionSamples

        callbacks.append(PredictionSamples(tokenizer, config, emitter, eval_records))
    train_set = records_dataset(train_records, tokenizer)
    eval_set = records_dataset(eval_records, tokenizer) if eval_records else None
    trainer = trainer_class(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                            processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config)
    reference = ("none (ORPO needs no reference model)" if config.train.objective == "orpo" else
                 f"the init adapter {config.train.init_adapter} (a frozen copy)" if config.train.init_adapter
                 else "the base model (the adapter disabled)")
    emitter.emit("log", message=f"{config.train.objective.upper()} with TRL's {trainer_class.__name__}: "
                                f"reference: {reference}; " + ", ".join(
                                    f"{k} {v}" for k, v in objective_settings(config).items()))
    return trainer, callback


def token_stats(dataset: Any, max_len: int) -> dict[str, Any]:
    """Lengths of what TRL tokenized, in the SFT statistics' shape: one sequence per answer
    (prompt + chosen and prompt + rejected are two), targets being the answers' tokens."""
    columns = set(dataset.column_names)
    answers = [c for c in ("chosen_ids", "rejected_ids", "completion_ids") if c in columns]
    if "prompt_ids" not in columns or not answers:
        return {"examples": len(dataset), "max_len": max_len}
    prompts = [len(ids) for ids in dataset["prompt_ids"]]
    answer_lengths = [len(ids) for column in answers for ids in dataset[column]]
    lengths = sorted(min(p + a, max_len) for p, a in zip(prompts * len(answers), answer_lengths))
    pick = lambda q: lengths[min(len(lengths) - 1, int(q * len(lengths)))] if lengths else 0  # noqa: E731
    return {"examples": len(dataset), "sequences": len(lengths), "min": lengths[0] if lengths else 0,
            "mean": round(sum(lengths) / max(len(lengths), 1), 1), "p50": pick(0.5), "p95": pick(0.95),
            "max": lengths[-1] if lengths else 0, "truncated": sum(p + a > max_len for p, a in
                                                                   zip(prompts * len(answers), answer_lengths)),
            "tokens": sum(lengths), "target_tokens": sum(answer_lengths), "max_len": max_len}

"""Baselines `trl`, `trl-padding-free`, `trl-packing`: TRL's SFTTrainer as its documentation shows it.

    trainer = SFTTrainer(model=model, args=SFTConfig(...), train_dataset=dataset,
                         processing_class=tokenizer, peft_config=LoraConfig(...))

with SFTConfig(padding_free=True) or SFTConfig(packing=True) for the two variants. The dataset is
pre-tokenized (TRL accepts `input_ids` + `labels` as they are: -100 marks tokens without loss),
so TRL trains on studio's token ids and labels, and the loss is over the same tokens.

What TRL then does on its own, left as TRL does it:
- its fused LM head: per-token log-probabilities in chunks instead of the full logits, plus the
  entropy and token accuracy it logs;
- padding_free: one row per batch with position_ids restarting per example; without flash
  attention transformers builds a block-diagonal mask from them for SDPA (exact, but
  (sum of lengths)^2 attention per layer);
- packing: best-fit decreasing into rows of max_length (bfd, padding-free), so a step holds
  batch_size rows of up to max_length tokens: fewer steps over the same tokens, other batches,
  another loss curve;
- TRL seeds before attaching LoRA (set_seed(args.seed) in SFTTrainer.__init__).
TRL requires max_length=None with padding_free and no packing ("provide already truncated inputs"):
studio's tokenization already truncated to data.max_len.

On a GPU with flash-attn installed, padding-free and packing load the model with
flash_attention_2, as TRL's documentation advises; otherwise SDPA.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from trl import SFTConfig, SFTTrainer

from studio.core.config import RunConfig
from studio.engine.bench_baselines.common import load_model, lora_config, shared_arguments, tokenized
from studio.engine.bench_baselines.measure import Measure, Outcome

VARIANTS = {
    "trl": {},
    "trl-padding-free": {"padding_free": True},
    "trl-packing": {"packing": True},
}


def attention_for(variant: str) -> str:
    flat = variant != "trl"
    if flat and torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def train(config: RunConfig, output_dir: Path, measure: Measure) -> Outcome:
    variant = VARIANTS[measure.variant]
    attention = attention_for(measure.variant)
    model, tokenizer = load_model(config, attention=attention)
    measure.stage("load_model")
    train_set, eval_set = tokenized(config, tokenizer)
    measure.stage("tokenize")

    max_length = None if variant.get("padding_free") else config.data.max_len
    args = SFTConfig(**shared_arguments(config, output_dir), max_length=max_length, **variant)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
                         peft_config=lora_config(config), callbacks=measure.callbacks)
    measure.stage("setup")
    trainer.train()
    measure.stage("train")
    eval_loss = trainer.evaluate(eval_set)["eval_loss"] if eval_set is not None else None
    measure.stage("evaluate")
    return Outcome(trainer, eval_loss, settings(measure.variant, attention, max_length))


def settings(variant: str, attention: str, max_length: int | None) -> dict[str, str]:
    flags = ", ".join(f"{k}=True" for k in VARIANTS[variant]) or "defaults"
    return {
        "trainer": "trl.SFTTrainer + SFTConfig + peft_config=LoraConfig",
        "sft_config": f"{flags}, max_length={max_length}, the loop's settings from run.yaml",
        "data": "pre-tokenized input_ids + labels (studio's tokenization)",
        "collator": {"trl": "TRL's DataCollatorForLanguageModeling: pad to the longest example in each batch",
                     "trl-padding-free": "padding-free: the batch's examples in one row, position_ids per example",
                     "trl-packing": "bfd packing into max_length rows, padding-free"}[variant],
        "attention": attention,
        "loss": "TRL's fused LM head (chunked log-probs), token-averaged over the step",
        "quantization": "BitsAndBytesConfig as the trainer baseline; TRL casts the adapters to bf16",
    }

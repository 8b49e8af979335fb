"""What every baseline script shares, so that the scripts differ only in the trainer.

- the model, loaded as a user loads it (SDPA attention; bf16/fp16 on a GPU, fp32 on the CPU;
  bitsandbytes NF4 + double quant or 8-bit when run.yaml quantizes);
- the token ids and labels: studio's tokenization, on purpose, so every trainer (studio's too)
  trains on identical examples and is compared as a trainer and nothing else;
- the loop's settings: the TrainingArguments keywords that run.yaml fixes (batch size, learning
  rate and schedule, warmup, epochs, weight decay, clipping, seed, precision). TRL's SFTConfig
  subclasses TrainingArguments, so TRL gets the very same keywords, and its own defaults that
  differ from the Trainer's (gradient checkpointing on, bf16 on) are overridden by them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.config import RunConfig


def load_model(config: RunConfig, attention: str = "sdpa") -> tuple[Any, Any]:
    """(model, tokenizer) as in any from_pretrained script; the pad token falls back to eos."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    dtype = compute_dtype()
    bnb = None
    if config.model.quant == "4bit":
        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_storage=dtype)
    elif config.model.quant == "8bit":
        bnb = BitsAndBytesConfig(load_in_8bit=True)
    tokenizer = AutoTokenizer.from_pretrained(config.model.name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(config.model.name_or_path, dtype=dtype,
                                                 attn_implementation=attention, quantization_config=bnb,
                                                 device_map={"": 0} if cuda else None)
    return model, tokenizer


def compute_dtype() -> Any:
    import torch

    if not torch.cuda.is_available():
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def tokenized(config: RunConfig, tokenizer: Any) -> tuple[Any, Any]:
    """(train, eval or None) as datasets of input_ids + labels (-100 where no loss), from studio's
    tokenizer code: the same ids and labels studio's trainer gets."""
    from datasets import Dataset

    from studio.core.datasets import import_dataset
    from studio.engine.tokenization import tokenize_records

    def one(path: str) -> Any:
        records = import_dataset(path).records
        examples, _, _ = tokenize_records(tokenizer, [r.to_dict() for r in records], [r.source for r in records],
                                          config.data.max_len, config.data.loss_on)
        return Dataset.from_list(examples).select_columns(["input_ids", "labels"])

    return one(config.data.path), (one(config.data.eval_path) if config.data.eval_path else None)


def lora_config(config: RunConfig) -> Any:
    from peft import LoraConfig

    lora = config.lora
    targets = "all-linear" if lora.targets == ["all-linear"] else list(lora.targets)
    return LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      task_type="CAUSAL_LM")


def shared_arguments(config: RunConfig, output_dir: Path) -> dict[str, Any]:
    """TrainingArguments keywords from run.yaml, the same for every baseline."""
    import torch

    t, dtype = config.train, compute_dtype()
    mixed = torch.cuda.is_available() and config.model.quant != "8bit"
    return dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.lr,
        lr_scheduler_type=t.scheduler,
        warmup_steps=t.warmup,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        gradient_checkpointing=t.grad_checkpointing,
        bf16=mixed and dtype == torch.bfloat16,
        fp16=mixed and dtype == torch.float16,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=t.seed,
    )

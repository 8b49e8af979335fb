"""The baseline of `studio bench`: the same fine-tune, written the way a typical user writes it.

    python -m studio.engine.bench_baseline RUN.yaml RESULT.json

A plain transformers Trainer + peft LoRA (+ bitsandbytes 4/8-bit when quantized), SDPA
attention, dynamic padding to the longest example of each batch (DataCollatorForSeq2Seq),
random batches, hyperparameters taken from the same run.yaml studio's trainer gets. Two things
come from studio, on purpose, so the comparison is of the trainers and nothing else:
- the token ids and labels (studio's tokenization), so both train on identical examples;
- the measurement: a callback records the span from train begin to the end of the last
  optimizer step, as studio's own callback does, and the process's peak memory.
`SETTINGS` below is what the report shows as the baseline's settings.
"""

from __future__ import annotations

import time

STARTED, STARTED_MONOTONIC = time.time(), time.monotonic()

import json  # noqa: E402 - the clock starts before the imports, which are part of the start-up cost
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training  # noqa: E402
from transformers import (AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig,  # noqa: E402
                          DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments, set_seed)

from studio.core.config_io import load_config  # noqa: E402
from studio.core.datasets import import_dataset  # noqa: E402
from studio.engine.callbacks import peak_memory  # noqa: E402
from studio.engine.tokenization import tokenize_records  # noqa: E402

SETTINGS = {
    "trainer": "transformers.Trainer + peft.get_peft_model(LoraConfig)",
    "collator": "DataCollatorForSeq2Seq(padding=True): pad to the longest example in each batch",
    "sampler": "random (Trainer default)",
    "attention": "sdpa",
    "quantization": "BitsAndBytesConfig (nf4 + double quant for 4bit) + prepare_model_for_kbit_training",
    "gradient_checkpointing": "as in run.yaml, also for quantized runs (peft's own default would turn it on "
                              "there, which makes the baseline slower and smaller)",
    "loss": "token-averaged over the step (Trainer default for causal LMs)",
}


def main(run_yaml: Path, result_path: Path) -> dict[str, Any]:
    stages: dict[str, float] = {}
    mark = STARTED_MONOTONIC

    def stage(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        stages[name] = round(now - mark, 3)
        mark = now

    stage("import")

    config = load_config(run_yaml)
    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    quant = config.model.quant
    bnb = None
    if quant == "4bit":
        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_storage=dtype)
    elif quant == "8bit":
        bnb = BitsAndBytesConfig(load_in_8bit=True)
    tokenizer = AutoTokenizer.from_pretrained(config.model.name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(config.model.name_or_path, dtype=dtype, attn_implementation="sdpa",
                                                 quantization_config=bnb, device_map={"": 0} if cuda else None)
    stage("load_model")

    def tokenized(path: str) -> Any:
        records = import_dataset(path).records
        examples, _, _ = tokenize_records(tokenizer, [r.to_dict() for r in records], [r.source for r in records],
                                          config.data.max_len, config.data.loss_on)
        return Dataset.from_list(examples)

    train_set = tokenized(config.data.path)
    eval_set = tokenized(config.data.eval_path) if config.data.eval_path else None
    train_tokens = sum(train_set["length"])
    stage("tokenize")

    if quant != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.train.grad_checkpointing)
    lora = config.lora
    set_seed(config.train.seed)
    model = get_peft_model(model, LoraConfig(
        r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules="all-linear"
        if lora.targets == ["all-linear"] else list(lora.targets), task_type="CAUSAL_LM"))
    t = config.train
    args = TrainingArguments(
        output_dir=str(result_path.parent / "baseline-output"),
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
        bf16=cuda and dtype == torch.bfloat16 and quant != "8bit",
        fp16=cuda and dtype == torch.float16 and quant != "8bit",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=t.seed,
    )
    span = SpanTimer()
    trainer = Trainer(model=model, args=args, train_dataset=train_set.select_columns(["input_ids", "labels"]),
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
                      callbacks=[span])
    stage("setup")
    trainer.train()
    stage("train")
    eval_loss = None
    if eval_set is not None:
        eval_loss = trainer.evaluate(eval_set.select_columns(["input_ids", "labels"]))["eval_loss"]
    stage("evaluate")
    losses = [[log["step"], log["loss"]] for log in trainer.state.log_history if "loss" in log]
    result = {
        "trainer": "baseline", "settings": SETTINGS, "stages": stages, "span": span.span,
        "train_begin_t": span.begin_t, "started_t": STARTED, "train_tokens": int(train_tokens),
        "train_examples": len(train_set), "steps": trainer.state.global_step, "losses": losses,
        "step_seconds": span.step_seconds,
        "eval_loss": eval_loss, "peak_mem_bytes": peak_memory(),
    }
    result_path.write_text(json.dumps(result) + "\n", encoding="utf-8")
    return result


class SpanTimer(TrainerCallback):
    """Measurement only: train begin -> end of the last optimizer step, as studio's callback."""

    def __init__(self) -> None:
        self.span: dict[str, float] = {}
        self.begin_t = 0.0
        self.step_seconds: list[float] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.begin_t, self._wall, self._cpu = time.time(), time.monotonic(), time.process_time()
        self._step = state.global_step

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.step_seconds.append(round(time.monotonic() - self._wall, 3))
        self.span = {"seconds": round(time.monotonic() - self._wall, 3),
                     "cpu_seconds": round(time.process_time() - self._cpu, 3),
                     "steps": state.global_step - self._step}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m studio.engine.bench_baseline RUN.yaml RESULT.json")
    main(Path(sys.argv[1]), Path(sys.argv[2]))

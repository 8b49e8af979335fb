"""Baseline `trainer`: a plain transformers Trainer + peft LoRA script, as a typical user writes it.

SDPA attention, dynamic padding to the longest example of each batch (DataCollatorForSeq2Seq),
random batches, bitsandbytes + prepare_model_for_kbit_training when quantized, set_seed before
attaching LoRA (peft draws the A matrices at once). The model, data and arguments come from
common.py so that only the trainer differs from studio's run.
"""

from __future__ import annotations

from pathlib import Path

from peft import get_peft_model, prepare_model_for_kbit_training
from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

from studio.core.config import RunConfig
from studio.engine.bench_baselines.common import load_model, lora_config, shared_arguments, tokenized
from studio.engine.bench_baselines.measure import Measure, Outcome

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


def train(config: RunConfig, output_dir: Path, measure: Measure) -> Outcome:
    model, tokenizer = load_model(config)
    measure.stage("load_model")
    train_set, eval_set = tokenized(config, tokenizer)
    measure.stage("tokenize")

    if config.model.quant != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.train.grad_checkpointing)
    set_seed(config.train.seed)
    model = get_peft_model(model, lora_config(config))
    trainer = Trainer(model=model, args=TrainingArguments(**shared_arguments(config, output_dir)),
                      train_dataset=train_set, data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
                      callbacks=measure.callbacks)
    measure.stage("setup")
    trainer.train()
    measure.stage("train")
    eval_loss = trainer.evaluate(eval_set)["eval_loss"] if eval_set is not None else None
    measure.stage("evaluate")
    return Outcome(trainer, eval_loss, SETTINGS)

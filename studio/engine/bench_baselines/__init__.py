"""The baselines of `studio bench`: the same fine-tune, written the way a user writes it.

Each script trains what studio's trainer trains (the same model, token ids, labels and
hyperparameters from one run.yaml) with a library alone, as its documentation shows it:

    trainer            transformers Trainer + peft get_peft_model(LoraConfig), padded batches (trainer.py)
    trl                trl.SFTTrainer + SFTConfig + peft_config=LoraConfig, padded batches (trl_sft.py)
    trl-padding-free   the same with SFTConfig(padding_free=True)
    trl-packing        the same with SFTConfig(packing=True): best-fit packing into max_length rows

They share only what makes the comparison fair (common.py: model loading, studio's tokenization,
the TrainingArguments every trainer gets) and the measurement (measure.py), which is not part of
what a user writes. Run one with

    python -m studio.engine.bench_baseline [--baseline NAME] RUN.yaml RESULT.json

Nothing here imports torch at package import: the core reads SCRIPTS to check names.
"""

from __future__ import annotations

SCRIPTS = {
    "trainer": "studio.engine.bench_baselines.trainer",
    "trl": "studio.engine.bench_baselines.trl_sft",
    "trl-padding-free": "studio.engine.bench_baselines.trl_sft",
    "trl-packing": "studio.engine.bench_baselines.trl_sft",
}

"""Wrapping the base model with peft's LoRA (rsLoRA, DoRA), after checking the target names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.config import RunConfig
from studio.core.errors import ModelError


def linear_module_names(model: Any) -> list[str]:
    """Leaf names of the linear layers peft can target (bitsandbytes layers subclass nn.Linear)."""
    import torch

    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names: dict[str, None] = {}
    for full_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not output:
            names[full_name.rsplit(".", 1)[-1]] = None
    return list(names)


def attach_lora(model: Any, config: RunConfig) -> tuple[Any, dict[str, int]]:
    from peft import get_peft_model

    model = prepare_base(model, config)
    model = get_peft_model(model, lora_config(model, config))
    return model, parameter_counts(model)


def prepare_base(model: Any, config: RunConfig) -> Any:
    """The base made ready for a k-bit LoRA (peft's prepare_model_for_kbit_training), and the seed
    set: LoRA's A matrices are random, so the same seed gives the same start."""
    from peft import prepare_model_for_kbit_training
    from transformers import set_seed

    if config.model.quant != "none":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.train.grad_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
    set_seed(config.train.seed)
    return model


def lora_config(model: Any, config: RunConfig) -> Any:
    """peft's LoraConfig for the run, after checking that every target names a linear layer."""
    from peft import LoraConfig

    lora = config.lora
    available = linear_module_names(model)
    targets: Any = "all-linear" if lora.targets == ["all-linear"] else list(lora.targets)
    if targets != "all-linear":
        unknown = [t for t in targets if t not in available]
        if unknown:
            raise ModelError(f"the model has no module named {', '.join(repr(u) for u in unknown)}",
                             hint=f"its linear layers are: {', '.join(available)} (or use all-linear)")
    return LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      use_rslora=lora.rslora, use_dora=lora.dora, bias="none", task_type="CAUSAL_LM")


def load_init_adapter(model: Any, config: RunConfig, adapter_dir: Path) -> Any:
    """The library adapter `train.init_adapter` on the base, trainable: the run continues it
    (its rank, alpha and targets are kept; the lora section's are not used)."""
    from peft import PeftModel

    model = prepare_base(model, config)
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)


def parameter_counts(model: Any) -> dict[str, int]:
    trainable, total = model.get_nb_trainable_parameters()
    return {"trainable_params": int(trainable), "total_params": int(total)}

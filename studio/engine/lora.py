"""Wrapping the base model with peft's LoRA (rsLoRA, DoRA), after checking the target names."""

from __future__ import annotations

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
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    lora = config.lora
    available = linear_module_names(model)
    targets: Any = "all-linear" if lora.targets == ["all-linear"] else list(lora.targets)
    if targets != "all-linear":
        unknown = [t for t in targets if t not in available]
        if unknown:
            raise ModelError(f"the model has no module named {', '.join(repr(u) for u in unknown)}",
                             hint=f"its linear layers are: {', '.join(available)} (or use all-linear)")
    if config.model.quant != "none":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.train.grad_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
    from transformers import set_seed

    set_seed(config.train.seed)  # LoRA's A matrices are random: the same seed gives the same start
    peft_config = LoraConfig(
        r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
        use_rslora=lora.rslora, use_dora=lora.dora, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, peft_config)
    trainable, total = model.get_nb_trainable_parameters()
    return model, {"trainable_params": int(trainable), "total_params": int(total)}

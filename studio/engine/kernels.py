"""Optional fused kernels: Liger Kernel on CUDA, used through transformers' own integration.

`TrainingArguments(use_liger_kernel=True)` makes the Trainer patch the model with Liger's
Triton kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy that never materialises the
logits). They need a CUDA GPU, the `liger-kernel` package (`pip install 'lora-studio[cuda]'`) and
a model type Liger knows; `auto` uses them exactly when all three hold. Not measured on the
development machines (no GPU): see docs/benchmarks.md.
"""

from __future__ import annotations

import importlib.util

from studio.core.errors import ConfigError


def liger_supported(model_type: str) -> bool:
    from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN

    return model_type in MODEL_TYPE_TO_APPLY_LIGER_FN


def use_liger(choice: str, device: str, model_type: str) -> tuple[bool, str]:
    """(use it, why not): `choice` is the train.liger setting (auto, on, off)."""
    if choice == "off":
        return False, "turned off (train.liger = off)"
    if device != "cuda":
        reason = f"Liger Kernel needs a CUDA GPU (this run is on {device})"
    elif importlib.util.find_spec("liger_kernel") is None:
        reason = "liger-kernel is not installed (pip install 'lora-studio[cuda]')"
    elif not liger_supported(model_type):
        reason = f"Liger Kernel has no kernels for {model_type} models"
    else:
        return True, "on"
    if choice == "on":
        raise ConfigError(f"train.liger = on, but {reason}", hint="set --liger auto (use it when possible) or off")
    return False, reason
